# Issue "Exec", item 4: under `nginx -s reload`, in-flight streams finish
# on the old workers. A streaming exec that straddles a reload must deliver
# all of its output and exactly one complete event, from the old worker,
# and the old worker must leave only after that.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(docker_ids);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't087', prefix => 't087:',
    http_extra => 'sandbox_reaper_interval 10m;');
$ng->start;

my $r = $ng->api(POST => '/leases/acquire',
                 { environmentId => 't087', runId => 'r', reuseLease => \1,
                   keepAlive => \1 });
is($r->{status}, 200, 'acquire') or diag explain $r;

my @old = $ng->worker_pids;

my $h = $ng->api_send(POST => '/exec',
                      { providerLeaseId => 'pc-env-t087', command => 'sh',
                        args => ['-c', 'echo before; sleep 3; echo after'],
                        streamOutput => \1 });
sleep 0.5;

my $t0 = time;
$ng->reload;                        # returns once the old workers are gone
my $reload_took = time - $t0;

my $s = $ng->finish($h);
is($s->{status}, 200, 'the stream answered 200');

my $body = $s->{body} // '';
like($body, qr/event: stdout\ndata: \{"data":"before\\n"\}\n\n/,
     'output from before the reload');
like($body, qr/event: stdout\ndata: \{"data":"after\\n"\}\n\n/,
     'output from after the reload');
my @complete = $body =~ /^event: complete$/mg;
is(scalar @complete, 1, 'exactly one complete event');
like($body, qr/event: complete\ndata: \{"exitCode":0,"signal":null,"timedOut":false,"stdout":"before\\nafter\\n","stderr":""\}\n\n\z/,
     'the complete event ends the stream, exit 0 with all the output');
unlike($body, qr/event: error/, 'no error event');

cmp_ok($reload_took, '>=', 1.5,
       sprintf('the old worker stayed until the stream ended (%.1f s)',
               $reload_took));

my %now = map { $_ => 1 } $ng->worker_pids;
ok(!grep({ $now{$_} } @old), "old workers (@old) are gone");

$r = $ng->api(DELETE => '/leases/pc-env-t087');
is($r->{status}, 200, 'delete the lease');
is(scalar docker_ids('paperclip.bridge.prefix=t087:'), 0, 'no container left');

$ng->stop;
$ng->cleanup if Test::More->builder->is_passing;

done_testing();
