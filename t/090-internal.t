# The Docker Engine API location is internal: clients cannot reach it, only
# the bridge's own subrequests do -- and those carry none of the client's
# headers (no bearer token reaches Docker).
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Conf ();
use SandboxBridge::Blocks qw(cleanup_prefix);
use Time::HiRes ();

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t090: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $Config = SandboxBridge::Conf::base_server() . <<'_EOC_';
    # test-only: inspect Docker directly
    location /_inspect/ { sandbox_auth off; proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/; }
_EOC_

our $Health = '^\{"ok":true,"provider":"docker",.*"driver":\{"name":"docker","reachable":true\}\}$';

# No block may leave a container behind.  Should the module create one
# anyway (the last block reports it), remove containers labelled with our
# prefix and our Redis keys.
cleanup_prefix('t090');


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', 'main::wait_redis_ready()') unless defined $block->{init};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    $block->set_value('config', $Config) unless defined $block->{config};
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->{user_files};
});

run_tests();

__DATA__

=== TEST 1: the API works through the internal Docker location (health 200)
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- response_body_like eval: $::Health
--- no_error_log
[error]



=== TEST 2: external GET to the Docker location, with the bridge token -> 404, no Docker data
--- request eval
[ "GET /_docker/_ping", "GET /_docker/containers/json", "GET /_docker/containers/json?all=1",
  "GET /_docker/version", "GET /_docker/", "POST /_docker/containers/create\n{\"Image\":\"x\"}",
  "DELETE /_docker/containers/x?force=1" ]
--- more_headers
Authorization: Bearer secret-token
--- error_code eval
[ (404) x 7 ]
--- response_body_unlike eval
[ ('^OK$|"Id"|ApiVersion|^\[') x 7 ]



=== TEST 3: external GET to the Docker location without a token -> refused (404 from "internal", or 401), never Docker data
--- request eval
[ "GET /_docker/_ping", "GET /_docker/containers/json" ]
--- error_code_like eval
[ ('^40[14]$') x 2 ]
--- response_body_unlike eval
[ ('^OK$|"Id"|^\[') x 2 ]



=== TEST 4: path tricks that normalize to the Docker location are refused too
--- request eval
[ "GET //_docker/_ping", "GET /_docker/./_ping", "GET /x/../_docker/_ping",
  "GET /_docker%2F_ping", "GET /%5Fdocker/_ping",
  "GET /api/paperclip-sandbox/v1/../../../_docker/_ping" ]
--- more_headers
Authorization: Bearer secret-token
--- error_code eval
[ (404) x 6 ]
--- response_body_unlike eval
[ ('^OK$') x 6 ]



=== TEST 5: absolute-form request target to the Docker location -> 404
--- raw_request eval
"GET http://localhost/_docker/_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer secret-token\r\n\r\n"
--- error_code: 404
--- response_body_unlike: ^OK$



=== TEST 6: a lease id cannot smuggle a Docker API path (D6: decoded id is validated) -> 400, nothing proxied
--- request eval
[ "DELETE /api/paperclip-sandbox/v1/leases/x%2F..%2F..%2Fcontainers%2Fjson",
  "DELETE /api/paperclip-sandbox/v1/leases/_ping%3Fx%3D1",
  "DELETE /api/paperclip-sandbox/v1/leases/%2E%2E" ]
--- more_headers
Authorization: Bearer secret-token
--- error_code eval
[ (400) x 3 ]
--- response_body_like eval
[ ('^\{"error":"invalid_request","message":"(?:[^"\\\\]|\\\\.)+"\}$') x 3 ]
--- no_error_log
[error]



=== TEST 7: an invalid lease id (normalizeId:false) in acquire cannot reach Docker -> 400, and nothing is created
--- request eval
[ "POST /api/paperclip-sandbox/v1/leases/acquire\n"
    . '{"environmentId":"../../containers/x","runId":"r","reuseLease":true,"normalizeId":false}',
  "POST /api/paperclip-sandbox/v1/leases/acquire\n"
    . '{"environmentId":"Bad Id!","runId":"r","reuseLease":true,"normalizeId":false}' ]
--- more_headers
Authorization: Bearer secret-token
--- error_code eval
[ 400, 400 ]
--- response_body_like eval
[ ('^\{"error":"invalid_request","message":"(?:[^"\\\\]|\\\\.)+"\}$') x 2 ]
--- wait: 1
--- no_error_log
[error]



=== TEST 8: nothing above created a container (none carries our prefix label)
--- request
GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dt090%3A%22%5D%7D
--- response_body
[]



=== TEST 9: the bridge's Docker subrequests carry none of the client's headers (no token, cookie or custom header reaches Docker)
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t090: command_timeout=1s;
    sandbox_reaper_interval 30s;
    log_format t090leak 'SEEN uri=$uri auth=[$http_authorization] cookie=[$http_cookie] xp=[$http_x_paperclip_run_id]';
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_spy/;
    }
    # stands in for Docker: logs what it receives, answers the ping
    location /_spy/ {
        sandbox_auth off;
        access_log $TEST_NGINX_SERVROOT/logs/access.log t090leak;
        return 200 "OK";
    }
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
Cookie: session=cookie-secret
X-Paperclip-Run-Id: run-secret
--- response_body_like eval: $::Health
--- access_log
SEEN uri=/_spy/_ping auth=[-] cookie=[-] xp=[-]
--- no_access_log
secret-token
cookie-secret
run-secret
