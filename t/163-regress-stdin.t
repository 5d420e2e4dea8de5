# Regression test (issue 8, review finding 6): a client that sends an exec
# with a large stdin (900 KB under sandbox_max_stdin_size 2m) and closes the
# connection right after sending, before the answer, must not leave the
# staged stdin file (/tmp/.paperclip-bridge-stdin-*) in the lease's
# container.
#
# The dropped requests are sent at block time from --- init (a raw socket:
# send the whole request, wait 0-500 ms, close), ten of them with different
# delays, streaming and not, to hit the window while the stdin upload is in
# flight.  Then an exec on the lease polls /tmp for up to 5 s.  The Docker
# location has client_max_body_size 0 so the upload is not refused there.
# Redis prefix t163:; the lease is deleted by the last block.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_keys wait_until);
use IO::Socket::INET ();
use Time::HiRes ();

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t163-stdin';

sub ex { my ($body) = @_; "POST $API/exec\n" . json_encode({ providerLeaseId => $LEASE, %$body }) }

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

sub res {
    my ($out) = @_;
    return '{"exitCode":0,"signal":null,"timedOut":false,"stdout":'
         . JSON::PP->new->allow_nonref->encode($out) . ',"stderr":""}';
}

# prints "clean" as soon as no staged stdin file is in /tmp (polls up to
# 5 s), else the listing of /tmp
our $STDIN_GONE = { command => 'sh', args => ['-c',
    'i=0; while [ $i -lt 50 ]; do ls -a /tmp | grep -q "^\.paperclip-bridge-stdin-" '
    . '|| { echo clean; exit 0; }; i=$((i+1)); sleep 0.1; done; ls -a /tmp'] };

# Block time: send an exec with a 900 KB stdin, wait $delay seconds, close
# the connection without reading the answer.
sub send_and_drop {
    my ($delay, $stream) = @_;
    my $body = json_encode({ providerLeaseId => $LEASE, command => 'sh',
                             args => ['-c', $stream ? 'wc -c; sleep 2' : 'wc -c'],
                             stdin => 'y' x (900 * 1024),
                             ($stream ? (streamOutput => JSON::PP::true) : ()) });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                                  Proto => 'tcp', Timeout => 5)
        or die "connect to nginx: $!\n";
    my $req = "POST $API/exec HTTP/1.1\r\nHost: localhost\r\n"
            . "Authorization: Bearer secret-token\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        die "write to nginx: $!\n" unless defined $n;
        $off += $n;
    }
    Time::HiRes::sleep($delay) if $delay;
    close $s;
    return 1;
}

sub drop_many {
    my @plan = ([0, 0], [0, 1], [0, 0], [0.005, 0], [0.02, 1], [0.05, 0], [0.1, 1],
                [0.2, 0], [0.3, 1], [0.5, 0]);
    send_and_drop(@$_) for @plan;
    Test::More::pass(scalar(@plan) . ' execs with a 900 KB stdin sent and dropped before their answer');
    return 1;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t163: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    sandbox_max_stdin_size 2m;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        client_max_body_size 0;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
    location /_inspect/ {
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC_

    $block->set_value('user_files', ">>> tokens\nsecret-token\n") unless defined $block->user_files;
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->more_headers;
    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('timeout', '30') unless defined $block->timeout;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: acquire the lease; a 900 KB stdin arrives whole (control: the upload path works)
--- request eval
[ "POST $::API/leases/acquire\n"
  . '{"environmentId":"t163-stdin","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}',
  ::ex({ command => 'wc', args => ['-c'], stdin => 'y' x (900 * 1024) }),
  ::ex($::STDIN_GONE) ]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t163-stdin",/, qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":" *921600\\n","stderr":""\}\z/,
  ::exact(::res("clean\n")) ]



=== TEST 2: ten clients drop their 900 KB-stdin exec right after sending; no staged stdin file remains (polled 5 s)
--- init
main::wait_store_ready();
main::drop_many();
--- request eval
::ex($::STDIN_GONE)
--- error_code: 200
--- response_body_like eval
::exact(::res("clean\n"))



=== TEST 3: the lease still works; delete it; no lease record is left
--- request eval
[ ::ex({ command => 'echo', args => ['alive'] }),
  "DELETE $::API/leases/$::LEASE",
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dt163%3A%22%5D%7D" ]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[ ::exact(::res("alive\n")), ::exact('{"ok":true}'), qr/\A\[\]\s*\z/ ]



=== TEST 4: no t163: lease record is left
--- init
main::wait_store_ready();
my @k;
main::wait_until(sub { @k = main::redis_keys($ENV{TEST_NGINX_REDIS_PORT}, 't163:lease:*'); !@k }, 3, 0.1);
Test::More::is("@k", '', 'no t163:lease:* record is left');
--- request
GET /_docker/_ping
--- error_code: 404
