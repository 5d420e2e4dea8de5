# Regression test (issue 8, review finding 6): a timeout kill that fails
# is tried again, so the command's timeout holds (README "Exec").
#
# The command is `sleep 60` with timeoutMs 1500. While the timeout fires the
# lease's container is paused (Docker refuses an exec in a paused
# container, so the first kill fails); it is unpaused 3.5 s later. Before
# the fix the command then ran its 60 s; now the kill is repeated after
# 5 s and the answer, timedOut, comes within about 7 s (the block allows
# 25 s). Redis prefix t164:; the lease is deleted by the last block.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);
use POSIX ();

no_shuffle();

our $API       = '/api/paperclip-sandbox/v1';
our $LEASE     = 'pc-env-t164-kill';
our $CONTAINER = 't164-' . $LEASE;    # prefix t164:, its ':' as '-'

sub ex { my ($body) = @_; "POST $API/exec\n" . json_encode({ providerLeaseId => $LEASE, %$body }) }

# block time: pause the lease's container at +1.2 s, unpause at +4.7 s
sub pause_later {
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    return 1 if $pid;
    my $sock = $ENV{TEST_NGINX_DOCKER_SOCKET};
    select(undef, undef, undef, 1.2);
    system('curl', '-s', '-o', '/dev/null', '--unix-socket', $sock, '-X', 'POST',
           "http://localhost/v1.41/containers/$CONTAINER/pause");
    select(undef, undef, undef, 3.5);
    system('curl', '-s', '-o', '/dev/null', '--unix-socket', $sock, '-X', 'POST',
           "http://localhost/v1.41/containers/$CONTAINER/unpause");
    POSIX::_exit(0);
}

bridge_blocks(prefix => 't164', timeout => 25, no_error_log => "[alert]\n");

run_tests();

__DATA__

=== TEST 1: acquire the lease
--- request eval
"POST $::API/leases/acquire\n"
. '{"environmentId":"t164-kill","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'
--- error_code: 200
--- response_body_like: \A\{"providerLeaseId":"pc-env-t164-kill",



=== TEST 2: the first kill fails (container paused); the repeated one ends the command: timedOut well before 60 s
--- init
main::wait_store_ready();
main::pause_later();
--- request eval
::ex({ command => 'sleep', args => ['60'], timeoutMs => 1500 })
--- error_code: 200
--- response_body eval
'{"exitCode":null,"signal":null,"timedOut":true,"stdout":"","stderr":"Command timeout after 1500ms\\n"}'
--- error_log
timed out after 1500 ms, again



=== TEST 3: the lease still works; delete it
--- request eval
[ ::ex({ command => 'echo', args => ['alive'] }), "DELETE $::API/leases/$::LEASE" ]
--- error_code eval
[200, 200]
--- response_body eval
[ '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"alive\n","stderr":""}', '{"ok":true}' ]
