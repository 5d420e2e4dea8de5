# Podman (README "Podman"): the bridge against podman's Docker-compatible
# API.  The suite really talks to podman here, a reusable lease is acquired
# twice (podman's 500 for a container name in use becomes Docker's 409, so
# the second acquire reuses the container instead of failing), exec with
# stdin and exit codes work, and DELETE leaves nothing behind.
#
# Runs only when the Docker socket is podman's (make test-podman); skipped
# otherwise.
use FindBin ();
use lib "$FindBin::Bin/helpers";

# decided before Test::Nginx::Socket plans anything
BEGIN {
    require IO::Socket::UNIX;
    my $s = IO::Socket::UNIX->new(Peer => $ENV{TEST_NGINX_DOCKER_SOCKET} // '');
    my $v = '';
    if ($s) {
        print $s "GET /v1.41/version HTTP/1.0\r\nHost: docker\r\n\r\n";
        local $/;
        $v = <$s> // '';
    }
    if ($v !~ /"Name":"Podman Engine"/) {
        require Test::More;
        Test::More::plan(skip_all => 'the Docker socket is not podman\'s (make test-podman)');
    }
}

use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';
our $ACQUIRE = "POST $API/leases/acquire\n"
    . '{"environmentId":"t270-p","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}';

sub ex {
    return "POST $API/exec\n"
         . json_encode({ providerLeaseId => 'pc-env-t270-p', %{ $_[0] } });
}

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

our $LIST = "GET /_inspect/containers/json?all=1&filters="
          . uri_escape('{"label":["paperclip.bridge.prefix=t270:"]}');

cleanup_prefix('t270');

bridge_blocks(prefix => 't270', timeout => 20, no_error_log => "[error]\n");

run_tests();

__DATA__

=== TEST 1: the Docker location is podman's
--- request
GET /_inspect/version
--- response_body_like: "Name":"Podman Engine"



=== TEST 2: acquire a reusable lease: one running container with the bridge's labels
--- request eval
[ $::ACQUIRE, $::LIST ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t270-p","metadata":\{"provider":"docker",.*"resumedLease":false\}\}\z/,
  qr/\A\[\{"Id":"[0-9a-f]{64}","Names":\["\/t270-pc-env-t270-p"\](?:(?!"Id":").)*"Labels":\{(?=[^}]*"paperclip.bridge.lease":"pc-env-t270-p")(?:(?!"Id":").)*"State":"running"(?:(?!"Id":").)*\]\s*\z/s ]



=== TEST 3: acquire it again: the name in use (podman: 500) is reused, still one container
--- request eval
[ $::ACQUIRE, $::LIST ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t270-p","metadata":\{"provider":"docker",.*"resumedLease":false\}\}\z/,
  qr/\A\[\{"Id":"[0-9a-f]{64}","Names":\["\/t270-pc-env-t270-p"\](?:(?!"Id":").)*\]\s*\z/s ]



=== TEST 4: exec: stdin staged by the archive upload, stdout, stderr and the exit code
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'cat; echo err >&2; exit 3'], stdin => "from stdin\n" }),
  ::ex({ command => 'sh', args => ['-c', 'cat /workspace/paperclip/.paperclip-lease.json | grep -c providerLeaseId'] }) ]
--- response_body eval
[ '{"exitCode":3,"signal":null,"timedOut":false,"stdout":"from stdin\n","stderr":"err\n"}',
  '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"1\n","stderr":""}' ]



=== TEST 5: DELETE removes the container
--- request eval
[ "DELETE $::API/leases/pc-env-t270-p", $::LIST ]
--- response_body_like eval
[ qr/\A\{"ok":true\}\z/, qr/\A\[\]\s*\z/ ]
