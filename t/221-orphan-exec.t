# Issue 14 item 3: commands orphaned by a worker crash are killed. Each
# running exec is recorded in Redis (marker, owning node and worker pid,
# deadline); after a SIGKILL of the worker that runs several streaming
# `sleep 120`, the master's new worker serves at once, and the reaper
# (interval 1 s) kills the orphaned commands and drops their records.
# A command whose worker is alive is left alone.
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
my $lease = 'pc-env-t221';
my $name  = "t221-$lease";
my $execs = "t221:exec:{$name}";

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't221', prefix => 't221:',
    http_extra => 'sandbox_reaper_interval 1s;');
$ng->start;

my $r = $ng->api(POST => '/leases/acquire',
                 { environmentId => 't221', runId => 'r', reuseLease => \1,
                   keepAlive => \1 });
is($r->{status}, 200, 'acquire') or diag explain $r;

# the sleeps running in the lease's container
sub sleeps {
    my $out = docker_cmd('exec', $name, 'ps', '-o', 'args');
    return scalar grep { /^sleep 12[01]$/ } split /\n/, $out;
}

sub records { (redis_cli($port, 'HLEN', $execs) =~ /(\d+)/)[0] // 0 }

my @h = map {
    $ng->api_send(POST => '/exec',
                  { providerLeaseId => $lease, command => 'sh',
                    args => ['-c', 'echo started; sleep 120'],
                    streamOutput => \1, timeoutMs => 300000 }, timeout => 5)
} 1 .. 4;

ok(wait_until(sub { sleeps() == 4 && records() == 4 }, 20, 0.2),
   'four commands run, each with an exec record')
    or diag('sleeps ' . sleeps() . ', records ' . records());

my $rec = redis_cli($port, 'HVALS', $execs);
my @w = $ng->worker_pids;
like($rec, qr/ \Q$w[0]\E \d{13}"/, 'a record names the worker pid and a deadline')
    or diag($rec);

kill 'KILL', @w;
my $t0 = time;

ok(wait_until(sub {
    my @n = $ng->worker_pids;
    @n && !grep { my $p = $_; grep { $_ == $p } @w } @n
}, 10, 0.05), 'the master started a new worker');

$r = $ng->api(GET => '/health');
is($r->{status}, 200, 'the new worker serves at once');
diag(sprintf('first answer %.2f s after the SIGKILL', time - $t0));

ok(wait_until(sub { sleeps() == 0 }, 30, 0.1),
   'the orphaned commands are killed');
my $dead = time - $t0;
diag(sprintf('orphaned commands dead %.2f s after the SIGKILL '
             . '(reaper interval 1 s)', $dead));
ok(wait_until(sub { records() == 0 }, 10, 0.1), 'their records are gone');

# a command of the live worker, over several passes: left alone
$r = $ng->api(POST => '/exec', { providerLeaseId => $lease, command => 'sh',
                                 args => ['-c', 'sleep 3; echo survived'],
                                 timeoutMs => 300000 }, timeout => 30);
is($r->{status}, 200, 'a command of the live worker runs to its end');
like($r->{body}, qr/"stdout":"survived\\n"/, 'and is not killed by the reaper');
$ng->finish($_) for @h;

$r = $ng->api(DELETE => "/leases/$lease");
is($r->{status}, 200, 'release');

unlike($ng->error_log, qr/\[alert\](?!.*exited on signal 9)/,
       'no [alert] but the SIGKILL in the error log');
like($ng->error_log, qr/killing a command in "\Q$name\E": its worker is gone/,
     'the reaper says what it killed');

$ng->cleanup;
docker_cmd('rm', '-f', $_) for docker_ids('paperclip.bridge.prefix=t221:');
redis_cli($port, 'DEL', $_) for grep { length }
    split /\n/, `redis-cli -p $port --scan --pattern 't221:*'`;

done_testing();
