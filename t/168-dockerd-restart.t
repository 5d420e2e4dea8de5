# Issue 14 item 7: the private dockerd runs with --live-restore, so a
# dockerd restart does not stop the lease containers. While dockerd is
# down an exec answers 503 driver_unavailable; once it is back the same
# lease runs commands again without a resume (README "Failure behaviour").
# The restart is util/services.sh restart-dockerd, kept down for 4 s.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);
use POSIX ();
use Time::HiRes ();

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t168-restart';
our $DOWN  = '{"error":"driver_unavailable","message":"create exec failed: Docker API unreachable (nginx 502)"}';
our $SERVICES = "$FindBin::Bin/../util/services.sh";

sub ex { "POST $API/exec\n" . json_encode({ providerLeaseId => $LEASE, %{ $_[0] } }) }

# block time: restart the private dockerd in the background, down for 4 s;
# returns once it is stopped
sub restart_dockerd {
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        $ENV{PSB_DOCKER_DOWN} = 4;
        exec($SERVICES, 'restart-dockerd', '-q') or POSIX::_exit(127);
    }
    my $sock = $ENV{TEST_NGINX_DOCKER_SOCKET};
    for (1 .. 100) {
        last if system('curl', '-sf', '-o', '/dev/null', '--max-time', '1',
                       '--unix-socket', $sock, 'http://localhost/_ping') != 0;
        Time::HiRes::sleep(0.1);
    }
    return 1;
}

sub wait_dockerd {
    my $sock = $ENV{TEST_NGINX_DOCKER_SOCKET};
    for (1 .. 300) {
        return 1 if system('curl', '-sf', '-o', '/dev/null', '--max-time', '1',
                           '--unix-socket', $sock, 'http://localhost/_ping') == 0;
        Time::HiRes::sleep(0.1);
    }
    die "the private dockerd did not come back within 30 s\n";
}

bridge_blocks(prefix => 't168', timeout => 20, no_error_log => "[alert]\n");

run_tests();

__DATA__

=== TEST 1: acquire the lease; a command runs
--- request eval
[ "POST $::API/leases/acquire\n"
  . '{"environmentId":"t168-restart","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}',
  ::ex({ command => 'sh', args => ['-c', 'echo before > /tmp/t168; cat /tmp/t168'] }) ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t168-restart",/,
  qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"before\\n","stderr":""\}\z/ ]



=== TEST 2: dockerd is down: the exec answers 503 driver_unavailable
--- init
main::wait_store_ready();
main::restart_dockerd();
--- request eval
::ex({ command => 'echo', args => ['during'] })
--- error_code: 503
--- response_body eval
$::DOWN
--- error_log eval
qr/\[crit\] .*connect\(\) to unix:.*docker\.sock failed/



=== TEST 3: dockerd is back: the same lease runs commands without a resume, its files kept; delete it
--- init
main::wait_store_ready();
main::wait_dockerd();
--- request eval
[ ::ex({ command => 'cat', args => ['/tmp/t168'] }), "DELETE $::API/leases/$::LEASE" ]
--- error_code eval
[200, 200]
--- response_body eval
[ '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"before\n","stderr":""}', '{"ok":true}' ]
