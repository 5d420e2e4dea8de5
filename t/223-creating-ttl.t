# Issue 14 item 6: the record of an acquire in progress ("creating")
# lives about as long as the acquire may (3 x timeoutMs + 10 s), not half
# an hour. An acquire cut short (its worker killed while dockerd hangs)
# leaves its record only that long; then the reaper (interval 1 s)
# removes the container it left, and the reusable id can be acquired
# again.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(docker_cmd docker_ids redis_cli wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $port  = $ENV{TEST_NGINX_REDIS_PORT};
my $lease = 'pc-env-t223';
my $key   = "t223:lease:{$lease}";

# the private dockerd of util/services.sh
chomp(my $env = `$FindBin::Bin/../util/services.sh env`);
(my $rt = $env) =~ s{/[^/]+$}{};
open my $fh, '<', "$rt/docker.pid" or plan skip_all => "no $rt/docker.pid";
chomp(my $dockerd = <$fh> // '');
close $fh;
plan skip_all => 'the private dockerd is not running'
    unless $dockerd =~ /^\d+$/ && kill 0, $dockerd;

my $stopped = 0;
END { kill 'CONT', $dockerd if $stopped }

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't223', prefix => 't223:',
    http_extra => 'sandbox_reaper_interval 1s;');
$ng->start;

my $acquire = { environmentId => 't223', runId => 'r', reuseLease => \1,
                keepAlive => \1, timeoutMs => 1000 };

# dockerd hangs: the acquire stays in "creating"
kill 'STOP', $dockerd;
$stopped = 1;
my $h = $ng->api_send(POST => '/leases/acquire', $acquire, timeout => 5);

ok(wait_until(sub { redis_cli($port, 'HGET', $key, 'state') eq '"creating"' },
              10, 0.05), 'the acquire wrote a "creating" record');
my ($ttl) = redis_cli($port, 'PTTL', $key) =~ /(-?\d+)/;
ok($ttl > 0 && $ttl <= 3 * 1000 + 10000,
   "its TTL is the acquire's deadline (3 x timeoutMs + 10 s), not 30 min")
    or diag("PTTL $ttl");

# the acquire is cut short: its worker dies
kill 'KILL', $ng->worker_pids;
kill 'CONT', $dockerd;
$stopped = 0;
$ng->finish($h);

my $t0 = time;
my $left = wait_until(sub { scalar docker_ids("paperclip.bridge.lease=$lease") },
                      5, 0.1);
diag($left ? 'dockerd created the container of the cut acquire'
           : 'dockerd did not create the container of the cut acquire');
ok(wait_until(sub { redis_cli($port, 'EXISTS', $key) =~ /0/ }, 30, 0.2),
   'the record of the cut acquire expires');
ok(wait_until(sub { !docker_ids("paperclip.bridge.lease=$lease") }, 30, 0.2),
   'the reaper removes the container it left');
diag(sprintf('record and container gone %.1f s after the acquire died',
             time - $t0));

my $r = $ng->api(POST => '/leases/acquire', { %$acquire, timeoutMs => 20000 });
is($r->{status}, 200, 'the reusable id is acquired again') or diag explain $r;
$r = $ng->api(DELETE => "/leases/$lease");
is($r->{status}, 200, 'release');

$ng->cleanup;
docker_cmd('rm', '-f', $_) for docker_ids('paperclip.bridge.prefix=t223:');
redis_cli($port, 'DEL', $_) for grep { length }
    split /\n/, `redis-cli -p $port --scan --pattern 't223:*'`;

done_testing();
