# GET /health (README "Protocol" with D13): exact body, and 503 when the lease
# store (Redis) or the driver (Docker) cannot be reached.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use Time::HiRes ();
use IO::Socket::INET;

# A port that accepts TCP connections (kernel backlog) but never answers:
# a hung Redis.
our $Blackhole = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Proto => 'tcp')
    or die "blackhole: $!";
$ENV{TEST_NGINX_BLACKHOLE_PORT} = $Blackhole->sockport;

our $Health = '{"ok":true,"provider":"docker","bridgeVersion":"0.1.0",'
    . '"capabilities":{"reuseLease":true,"namedSessions":true,"previewUrls":false},'
    . '"store":{"backend":"redis","reachable":true},'
    . '"driver":{"name":"docker","reachable":true}}';

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t040: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $Config = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
_EOC_

sub config_with_socket {
    my $sock = shift;
    (my $c = $::Config) =~ s/DOCKER_SOCKET/$sock/;
    return $c;
}


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    # (blocks with their own sandbox_redis point it at a dead Redis)
    $block->set_value('init', 'main::wait_redis_ready()')
        unless defined $block->{init} || defined $block->{http_config};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    $block->set_value('config', config_with_socket('$TEST_NGINX_DOCKER_SOCKET'))
        unless defined $block->{config};
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->{user_files};
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->{more_headers};
});

run_tests();

__DATA__

=== TEST 1: health -> 200 with the exact compact body and key order (D13)
--- request
GET /api/paperclip-sandbox/v1/health
--- response_headers
Content-Type: application/json
--- response_body eval: $::Health
--- no_error_log
[error]
[warn]



=== TEST 2: health is stable across repeated calls (same body every time)
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 5 ]
--- error_code eval
[ (200) x 5 ]
--- response_body eval
[ ($::Health) x 5 ]
--- no_error_log
[error]



=== TEST 3: HEAD /health -> 404 (method must match); POST /health -> 404
--- request eval
[ "HEAD /api/paperclip-sandbox/v1/health", "POST /api/paperclip-sandbox/v1/health\n{}" ]
--- error_code eval
[ 404, 404 ]
--- response_headers eval
[ "Content-Type: application/json", "Content-Type: application/json" ]
--- response_body eval
[ '', '{"error":"not_found","message":"No bridge route matched POST /api/paperclip-sandbox/v1/health."}' ]
--- no_error_log
[error]



=== TEST 4: Redis unreachable (closed port) -> 503 store_unavailable, quickly
--- http_config
    sandbox_redis 127.0.0.1:1 prefix=t040: connect_timeout=1s command_timeout=1s;
--- request eval
[ "GET /api/paperclip-sandbox/v1/health", "GET /api/paperclip-sandbox/v1/health" ]
--- timeout: 0.9
--- error_code eval
[ 503, 503 ]
--- response_headers eval
[ "Content-Type: application/json", "Content-Type: application/json" ]
--- response_body_like eval
[ ('^\{"error":"store_unavailable","message":"[^"]*Redis[^"]*"\}$') x 2 ]



=== TEST 5: Redis that accepts but never answers -> 503 store_unavailable, no hang
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT prefix=t040: connect_timeout=500ms command_timeout=500ms;
--- request eval
[ "GET /api/paperclip-sandbox/v1/health", "GET /api/paperclip-sandbox/v1/health" ]
--- timeout: 1.5
--- error_code eval
[ 503, 503 ]
--- response_body_like eval
[ ('^\{"error":"store_unavailable","message":"[^"]*"\}$') x 2 ]



=== TEST 6: Docker unreachable (socket does not exist) -> 503 driver_unavailable with a clear message
--- config eval: ::config_with_socket('$TEST_NGINX_SERVROOT/no-such-docker.sock')
--- request
GET /api/paperclip-sandbox/v1/health
--- timeout: 2
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"driver_unavailable","message":"[^"]*Docker[^"]*"\}$
--- error_log
[crit]
connect() to unix:
no-such-docker.sock



=== TEST 7: Docker answering an error status to /_ping -> 503 driver_unavailable naming the status
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_fake_docker/;
    }
    location /_fake_docker/ {
        sandbox_auth off;
        default_type application/json;
        return 500 '{"message":"daemon is sick"}';
    }
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 503
--- response_body_like: ^\{"error":"driver_unavailable","message":"[^"]*500[^"]*"\}$



=== TEST 8: with both healthy again the body is back to the exact 200 (state does not stick)
--- request
GET /api/paperclip-sandbox/v1/health
--- response_body eval: $::Health
--- no_error_log
[error]
