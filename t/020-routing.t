# Routing (README "Protocol" with D14 and D5; upstream "404 envelope
# text for unknown routes; trailing-slash tolerance").
#
# No block here creates a lease: every request is either unmatched, refused
# before any work (bad JSON), a no-op (release without an id), or a DELETE
# of an id that never existed.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Conf ();
use SandboxBridge::Blocks qw(cleanup_prefix);
use Time::HiRes ();

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t020: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $Config = SandboxBridge::Conf::base_server() . <<'_EOC_';
    # test-only: inspect Docker directly
    location /_inspect/ { proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/; }
_EOC_

our $P = '/api/paperclip-sandbox/v1';

sub nf { my ($m, $p) = @_; qq{{"error":"not_found","message":"No bridge route matched $m $p."}} }

# 400 invalid_request with some short, single-line message (D14)
our $Invalid = '^\{"error":"invalid_request","message":"[^"\n]{3,200}"\}$';

# Nothing in this file may create a sandbox.  Should the module do so anyway
# (a bug the last block reports), remove what it left: containers labelled
# with our prefix and our Redis keys.
cleanup_prefix('t020');


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', 'main::wait_redis_ready()') unless defined $block->{init};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    if (!defined $block->{config}) {
        $block->set_value('config', $Config);
    }
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->{user_files};
    # (a single more_headers string applies to every request of a block)
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->{more_headers};
    $block->set_value('no_error_log', "[error]\n")
        unless defined $block->{no_error_log} || defined $block->{error_log};
});

run_tests();

__DATA__

=== TEST 1: unknown route -> 404 exact envelope, application/json
--- request
GET /api/paperclip-sandbox/v1/nope
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body eval: ::nf('GET', "$::P/nope")



=== TEST 2: known path, wrong method: POST /health -> 404
--- request
POST /api/paperclip-sandbox/v1/health
{}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body eval: ::nf('POST', "$::P/health")



=== TEST 3: known path, wrong method: GET /leases/acquire -> 404
--- request
GET /api/paperclip-sandbox/v1/leases/acquire
--- error_code: 404
--- response_body eval: ::nf('GET', "$::P/leases/acquire")



=== TEST 4: known path, wrong method: PUT /exec -> 404
--- request
PUT /api/paperclip-sandbox/v1/exec
{"providerLeaseId":"pc-env-t020","command":"true"}
--- error_code: 404
--- response_body eval: ::nf('PUT', "$::P/exec")



=== TEST 5: more wrong methods: GET /exec, GET /probe, GET/PATCH /leases/release, POST /leases/x, DELETE /health, OPTIONS
--- request eval
[ "GET $::P/exec", "GET $::P/probe", "GET $::P/leases/release",
  "PATCH $::P/leases/release\n{}", "POST $::P/leases/x\n{}", "DELETE $::P/health",
  "OPTIONS $::P/health", "GET $::P/leases/resume", "PUT $::P/leases/x\n{}" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 9 ]
--- error_code eval
[ (404) x 9 ]
--- response_body eval
[ ::nf('GET', "$::P/exec"), ::nf('GET', "$::P/probe"), ::nf('GET', "$::P/leases/release"),
  ::nf('PATCH', "$::P/leases/release"), ::nf('POST', "$::P/leases/x"), ::nf('DELETE', "$::P/health"),
  ::nf('OPTIONS', "$::P/health"), ::nf('GET', "$::P/leases/resume"), ::nf('PUT', "$::P/leases/x") ]



=== TEST 6: the bare prefix and the prefix with a slash are unmatched -> 404
--- request eval
[ "GET $::P", "GET $::P/", "GET $::P///" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 3 ]
--- error_code eval
[ (404) x 3 ]
--- response_body eval
[ (::nf('GET', $::P)) x 3 ]



=== TEST 7: trailing slashes are tolerated: /health/ and /health/// -> 200
--- request eval
[ "GET $::P/health/", "GET $::P/health///" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 2 ]
--- error_code eval
[ 200, 200 ]
--- response_body_like eval
[ ('^\{"ok":true,"provider":"docker",') x 2 ]



=== TEST 8: the 404 message uses the path after slash-stripping
--- request eval
[ "GET $::P/nope/", "GET $::P/nope///", "POST $::P/health/\n{}", "GET $::P/leases/acquire//" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 4 ]
--- error_code eval
[ (404) x 4 ]
--- response_body eval
[ ::nf('GET', "$::P/nope"), ::nf('GET', "$::P/nope"), ::nf('POST', "$::P/health"),
  ::nf('GET', "$::P/leases/acquire") ]



=== TEST 9: the query string is ignored for matching and left out of the 404 message
--- request eval
[ "GET $::P/health?x=1", "GET $::P/health/?x=1&y=%2F", "GET $::P/nope?x=1", "GET $::P/nope/?a=/b/" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 4 ]
--- error_code eval
[ 200, 200, 404, 404 ]
--- response_body_like eval
[ '^\{"ok":true,', '^\{"ok":true,', "^\Q" . ::nf('GET', "$::P/nope") . "\E\$",
  "^\Q" . ::nf('GET', "$::P/nope") . "\E\$" ]



=== TEST 10: matching is exact and case-sensitive (no prefix-boundary, case or encoding tricks)
--- request eval
[ "GET $::P/HEALTH", "GET $::P/Health", "GET ${main::P}health", "GET $::P/healthz",
  "GET $::P/health/x", "GET $::P/%68ealth" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 6 ]
--- error_code eval
[ (404) x 6 ]
--- response_body eval
[ ::nf('GET', "$::P/HEALTH"), ::nf('GET', "$::P/Health"), ::nf('GET', "${main::P}health"),
  ::nf('GET', "$::P/healthz"), ::nf('GET', "$::P/health/x"), ::nf('GET', "$::P/%68ealth") ]



=== TEST 11: D5: DELETE with a deeper path -> 404 not_found (nothing destroyed)
--- request eval
[ "DELETE $::P/leases/a/b", "DELETE $::P/leases/a/b/", "DELETE $::P/leases/x/y/z" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 3 ]
--- error_code eval
[ (404) x 3 ]
--- response_body eval
[ ::nf('DELETE', "$::P/leases/a/b"), ::nf('DELETE', "$::P/leases/a/b"),
  ::nf('DELETE', "$::P/leases/x/y/z") ]



=== TEST 12: README "Protocol": DELETE .../leases/ (slashes stripped -> .../leases) and .../leases -> 404
--- request eval
[ "DELETE $::P/leases/", "DELETE $::P/leases//", "DELETE $::P/leases" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 3 ]
--- error_code eval
[ (404) x 3 ]
--- response_body eval
[ (::nf('DELETE', "$::P/leases")) x 3 ]



=== TEST 13: DELETE of a never-existing id, with a trailing slash and an unparsable body: 200 {"ok":true} (body ignored, README "Protocol")
--- request eval
[ "DELETE $::P/leases/t020-never-existed/\n{", "DELETE $::P/leases/t020-never-existed" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 2 ]
--- error_code eval
[ 200, 200 ]
--- response_body eval
[ '{"ok":true}', '{"ok":true}' ]



=== TEST 14: D14: invalid JSON bodies on every POST route -> 400 invalid_request
--- request eval
[ map { my $r = $_; map { "POST $::P$r\n$_" } '{', '{"a":', '{} x', 'nope' }
      qw(/probe /leases/acquire /leases/resume /leases/release /exec) ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 20 ]
--- error_code eval
[ (400) x 20 ]
--- response_headers eval
[ ("Content-Type: application/json") x 20 ]
--- response_body_like eval
[ ($::Invalid) x 20 ]



=== TEST 15: D14: JSON that is not an object (null, [], "str", 42, true) -> 400 invalid_request
--- request eval
[ map { my $r = $_; map { "POST $::P$r\n$_" } 'null', '[]', '"str"', '42', 'true' }
      qw(/probe /leases/acquire /leases/resume /leases/release /exec) ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 25 ]
--- error_code eval
[ (400) x 25 ]
--- response_body_like eval
[ ($::Invalid) x 25 ]



=== TEST 16: D14: empty body with Content-Length: 0 -> 400 invalid_request
--- request eval
[ map { "POST $::P$_" } qw(/probe /leases/acquire /leases/resume /leases/release /exec) ]
--- more_headers
Authorization: Bearer secret-token
Content-Length: 0
--- error_code eval
[ (400) x 5 ]
--- response_body_like eval
[ ($::Invalid) x 5 ]



=== TEST 17: D14: whitespace-only body -> 400 invalid_request
--- raw_request eval
"POST $::P/leases/acquire HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer secret-token\r\nContent-Length: 4\r\n\r\n \t\r\n"
--- error_code: 400
--- response_body_like eval: $::Invalid



=== TEST 18: D14: POST without any body (no Content-Length) -> 400 invalid_request
--- request eval
[ map { "POST $::P$_" } qw(/probe /leases/acquire /leases/resume /leases/release /exec) ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 5 ]
--- error_code eval
[ (400) x 5 ]
--- response_body_like eval
[ ($::Invalid) x 5 ]



=== TEST 19: D14: bad JSON to /probe is answered and the request ends there (no probe runs behind the 400)
--- request
POST /api/paperclip-sandbox/v1/probe
{"requestedCwd":
--- timeout: 1
--- error_code: 400
--- response_body_like eval: $::Invalid



=== TEST 20: D14: bad JSON to /probe, client gone right after the 400: no sandbox may be left behind (checked by the next block)
--- request
POST /api/paperclip-sandbox/v1/probe
null
--- timeout: 0.05
--- abort
--- error_code: 400
--- response_body_like eval: $::Invalid
--- wait: 2



=== TEST 21: nothing so far created a sandbox (no container carries our prefix label)
--- wait: 0.5
--- request
GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dt020%3A%22%5D%7D
--- response_body
[]



=== TEST 22: README "Protocol": the body is JSON whatever its Content-Type (release without id is a no-op 200)
--- request eval
[ "POST $::P/leases/release\n{}", "POST $::P/leases/release\n{}", "POST $::P/leases/release\n{}" ]
--- more_headers eval
[ "Authorization: Bearer secret-token\nContent-Type: text/plain",
  "Authorization: Bearer secret-token\nContent-Type: application/x-www-form-urlencoded",
  "Authorization: Bearer secret-token" ]
--- error_code eval
[ 200, 200, 200 ]
--- response_body eval
[ ('{"ok":true}') x 3 ]



=== TEST 23: a large JSON body (buffered to a temp file) is still parsed
--- config
    client_body_buffer_size 1k;
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- request eval
[ "POST $::P/leases/release\n" . '{"pad":"' . ('x' x 100000) . '","reuseLease":true}',
  "POST $::P/leases/release\n" . '{"pad":"' . ('x' x 100000) . '"' ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 2 ]
--- error_code eval
[ 200, 400 ]
--- response_body_like eval
[ '^\{"ok":true\}$', $::Invalid ]
--- no_error_log
[error]



=== TEST 24: the API under a custom prefix in a differently named location
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /custom/ { sandbox_bridge /custom/prefix; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- request eval
[ "GET /custom/prefix/health", "GET /custom/prefix/health/", "GET /custom/prefix/nope",
  "GET /custom/health", "GET /custom/prefixhealth", "POST /custom/prefix/leases/release\n{}" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 6 ]
--- error_code eval
[ 200, 200, 404, 404, 404, 200 ]
--- response_body_like eval
[ '^\{"ok":true,"provider":"docker",', '^\{"ok":true,',
  "^\Q" . ::nf('GET', "/custom/prefix/nope") . "\E\$",
  "^\Q" . ::nf('GET', "/custom/health") . "\E\$",
  "^\Q" . ::nf('GET', "/custom/prefixhealth") . "\E\$",
  '^\{"ok":true\}$' ]



=== TEST 25: explicit prefix in an exact-match and in a regex location; a location with a trailing slash
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location = /exact/health { sandbox_bridge /exact; }
    location ~ ^/re/v[0-9]+/ { sandbox_bridge /re/v1; }
    location /slash/v1/ { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- request eval
[ "GET /exact/health", "GET /re/v1/health", "GET /re/v2/health", "GET /slash/v1/health",
  "GET /slash/v1/nope/" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 5 ]
--- error_code eval
[ 200, 200, 404, 200, 404 ]
--- response_body_like eval
[ '^\{"ok":true,', '^\{"ok":true,', "^\Q" . ::nf('GET', "/re/v2/health") . "\E\$",
  '^\{"ok":true,', "^\Q" . ::nf('GET', "/slash/v1/nope") . "\E\$" ]



=== TEST 26: a long unknown path: the 404 message still quotes the whole path
--- request eval
"GET $::P/" . ('a' x 1500)
--- error_code: 404
--- response_body eval: ::nf('GET', "$::P/" . ('a' x 1500))



=== TEST 27: raw non-UTF-8 bytes in an unknown path: still a valid JSON 404 envelope
--- raw_request eval
"GET $::P/caf\xe9\xff HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer secret-token\r\n\r\n"
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"not_found","message":"[^"]*"\}$



=== TEST 28: nothing above created a sandbox (no container carries our prefix label)
--- wait: 0.5
--- request
GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dt020%3A%22%5D%7D
--- response_body
[]
