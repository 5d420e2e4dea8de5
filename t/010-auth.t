# Bearer authentication (README "sandbox_auth", upstream auth.test.ts; upstream "401 for a
# missing, wrong, non-Bearer or blank-configured token on every path").
#
# Every rejection is 401 with the exact envelope and Content-Type
# application/json; authentication runs before routing (README "Protocol"), so unknown
# paths, wrong methods and OPTIONS are 401 too, never 404.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use Time::HiRes ();

our $Unauth = '{"error":"unauthorized","message":"Missing or invalid bridge bearer token."}';

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

# The bridge server; TOKENS is replaced by the token file of the block.
our $Config = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/TOKENS;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
_EOC_

sub config_for { my $f = shift; (my $c = $::Config) =~ s/TOKENS/$f/; $c }


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', 'main::wait_redis_ready()') unless defined $block->{init};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    if (!defined $block->{config}) {
        $block->set_value('config', config_for('tokens'));
        $block->set_value('user_files', ">>> tokens\nsecret-token\n")
            unless defined $block->{user_files};
    }
    # a rejection is logged at info level, never as an error
    $block->set_value('no_error_log', "[error]\n")
        unless defined $block->{no_error_log} || defined $block->{error_log};
});

run_tests();

__DATA__

=== TEST 1: health with the correct token -> 200 JSON
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"ok":true,"provider":"docker",.*\}$



=== TEST 2: missing Authorization header -> 401 exact envelope, application/json
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body eval: $::Unauth



=== TEST 3: wrong token (auth.test.ts "rejects mismatched tokens") -> 401
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer wrong-token
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body eval: $::Unauth



=== TEST 4: non-Bearer schemes (Basic, Token, Digest, bare token) -> 401
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 5 ]
--- more_headers eval
[ "Authorization: Basic c2VjcmV0LXRva2Vu",
  "Authorization: Basic secret-token",
  "Authorization: Token secret-token",
  "Authorization: Digest secret-token",
  "Authorization: secret-token" ]
--- error_code eval
[ (401) x 5 ]
--- response_body eval
[ ($::Unauth) x 5 ]



=== TEST 5: "Bearer" without a token, empty header -> 401
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 3 ]
--- more_headers eval
[ "Authorization: Bearer",
  "Authorization: ",
  "Authorization: Bearer:secret-token" ]
--- error_code eval
[ (401) x 3 ]
--- response_body eval
[ ($::Unauth) x 3 ]



=== TEST 6: "Bearer" followed only by spaces or tabs -> 401 (trimmed capture is empty)
--- raw_request eval
"GET /api/paperclip-sandbox/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer    \t  \r\n\r\n"
--- error_code: 401
--- response_body eval: $::Unauth



=== TEST 7: the scheme word is case-insensitive (bearer, BEARER, BeArEr pass)
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 3 ]
--- more_headers eval
[ "Authorization: bearer secret-token",
  "Authorization: BEARER secret-token",
  "Authorization: BeArEr secret-token" ]
--- error_code eval
[ (200) x 3 ]
--- response_body_like eval
[ ('^\{"ok":true,') x 3 ]



=== TEST 8: extra whitespace around the token is trimmed (spaces, tabs) -> 200
--- raw_request eval
"GET /api/paperclip-sandbox/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer   secret-token   \r\n\r\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,



=== TEST 9: tab as the separator after the scheme -> 200 (\s+)
--- raw_request eval
"GET /api/paperclip-sandbox/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer\t\tsecret-token\t\r\n\r\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,



=== TEST 10: header name is case-insensitive -> 200
--- raw_request eval
"GET /api/paperclip-sandbox/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nauthorization: Bearer secret-token\r\n\r\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,



=== TEST 11: no whitespace after the scheme ("Bearersecret-token") -> 401
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearersecret-token
--- error_code: 401
--- response_body eval: $::Unauth



=== TEST 12: prefix/suffix/substring/case variants of the real token -> 401
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 7 ]
--- more_headers eval
[ "Authorization: Bearer secret-tokenX",
  "Authorization: Bearer Xsecret-token",
  "Authorization: Bearer secret-toke",
  "Authorization: Bearer ecret-token",
  "Authorization: Bearer secret-token extra",
  "Authorization: Bearer Secret-Token",
  "Authorization: Bearer secret-token," ]
--- error_code eval
[ (401) x 7 ]
--- response_body eval
[ ($::Unauth) x 7 ]



=== TEST 13: a very long token is refused cleanly (no crash, 401)
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers eval
"Authorization: Bearer " . ("secret-token" x 500)
--- error_code: 401
--- response_body eval: $::Unauth



=== TEST 14: auth runs before routing: unknown path without token -> 401, not 404
--- request
GET /api/paperclip-sandbox/v1/nope
--- error_code: 401
--- response_body eval: $::Unauth



=== TEST 15: auth before routing: known paths with the wrong method, OPTIONS, DELETE, bare prefix -> 401
--- request eval
[ "POST /api/paperclip-sandbox/v1/health\n{}",
  "GET /api/paperclip-sandbox/v1/leases/acquire",
  "PUT /api/paperclip-sandbox/v1/exec\n{}",
  "OPTIONS /api/paperclip-sandbox/v1/health",
  "OPTIONS /api/paperclip-sandbox/v1/leases/acquire",
  "DELETE /api/paperclip-sandbox/v1/leases/pc-env-x",
  "DELETE /api/paperclip-sandbox/v1/leases/a/b",
  "GET /api/paperclip-sandbox/v1",
  "GET /api/paperclip-sandbox/v1/health/" ]
--- error_code eval
[ (401) x 9 ]
--- response_body eval
[ ($::Unauth) x 9 ]



=== TEST 16: unknown path and wrong method with a WRONG token -> 401, not 404
--- request eval
[ "GET /api/paperclip-sandbox/v1/nope",
  "POST /api/paperclip-sandbox/v1/health\n{}",
  "OPTIONS /api/paperclip-sandbox/v1/health" ]
--- more_headers eval
[ ("Authorization: Bearer wrong-token") x 3 ]
--- error_code eval
[ (401) x 3 ]
--- response_body eval
[ ($::Unauth) x 3 ]



=== TEST 17: POST routes with a JSON body but no token -> 401, nothing runs
--- request eval
[ "POST /api/paperclip-sandbox/v1/leases/acquire\n" . '{"environmentId":"t010-noauth","runId":"r1","reuseLease":true}',
  "POST /api/paperclip-sandbox/v1/exec\n" . '{"providerLeaseId":"pc-env-t010-noauth","command":"true"}',
  "POST /api/paperclip-sandbox/v1/probe\n{}",
  "POST /api/paperclip-sandbox/v1/leases/release\n{}",
  "POST /api/paperclip-sandbox/v1/leases/resume\n" . '{"providerLeaseId":"pc-env-t010-noauth"}' ]
--- error_code eval
[ (401) x 5 ]
--- response_body eval
[ ($::Unauth) x 5 ]



=== TEST 18: with the token the same bad routes are 404 (proves 401 above came from auth)
--- request eval
[ "GET /api/paperclip-sandbox/v1/nope",
  "POST /api/paperclip-sandbox/v1/health\n{}",
  "OPTIONS /api/paperclip-sandbox/v1/health" ]
--- more_headers eval
[ ("Authorization: Bearer secret-token") x 3 ]
--- error_code eval
[ (404) x 3 ]
--- response_body eval
[ '{"error":"not_found","message":"No bridge route matched GET /api/paperclip-sandbox/v1/nope."}',
  '{"error":"not_found","message":"No bridge route matched POST /api/paperclip-sandbox/v1/health."}',
  '{"error":"not_found","message":"No bridge route matched OPTIONS /api/paperclip-sandbox/v1/health."}' ]



=== TEST 19: rotation: both tokens of the file work; comment and blank lines are not tokens
--- config eval: ::config_for('tokens-rot')
--- user_files eval
">>> tokens-rot\n# bridge tokens, one per line\n#old-token\n\nsecret-token\n   \n\t\nrotated-token\n"
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 8 ]
--- more_headers eval
[ "Authorization: Bearer secret-token",
  "Authorization: Bearer rotated-token",
  "Authorization: Bearer #old-token",
  "Authorization: Bearer old-token",
  "Authorization: Bearer # bridge tokens, one per line",
  "Authorization: Bearer #",
  "Authorization: Bearer bridge",
  "Authorization: Bearer rotated-tokensecret-token" ]
--- error_code eval
[ 200, 200, (401) x 6 ]
--- response_body_like eval
[ '^\{"ok":true,', '^\{"ok":true,', ("^\Q$::Unauth\E\$") x 6 ]



=== TEST 20: token file with CRLF line endings: the CR is not part of the token
--- config eval: ::config_for('tokens-crlf')
--- user_files eval
">>> tokens-crlf\r\ncrlf-one\r\ncrlf-two\r\n"
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 3 ]
--- more_headers eval
[ "Authorization: Bearer crlf-one",
  "Authorization: Bearer crlf-two",
  "Authorization: Bearer secret-token" ]
--- error_code eval
[ 200, 200, 401 ]



=== TEST 21: a token with an inner space is one token ("two words") -> 200; either word alone -> 401
--- config eval: ::config_for('tokens-space')
--- user_files
>>> tokens-space
two words
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 3 ]
--- more_headers eval
[ "Authorization: Bearer two words",
  "Authorization: Bearer two",
  "Authorization: Bearer words" ]
--- error_code eval
[ 200, 401, 401 ]



=== TEST 22: README "sandbox_auth" (configured token hashed untrimmed): a line "tok-trailing  " can never match; other lines still work
--- config eval: ::config_for('tokens-trail')
--- user_files eval
">>> tokens-trail\ntok-trailing  \nsecret-token\n"
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 3 ]
--- more_headers eval
[ "Authorization: Bearer tok-trailing",
  "Authorization: Bearer tok-trailing  ",
  "Authorization: Bearer secret-token" ]
--- error_code eval
[ 401, 401, 200 ]



=== TEST 23: token file with only blank/whitespace lines: fail closed and a startup warning ...
(The warning is logged at start-up; only the first request's error log
check sees it, so this block sends one request.)
--- config eval: ::config_for('tokens-blank')
--- user_files eval
">>> tokens-blank\n\n   \n\t\n\n"
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- error_code: 401
--- response_body eval: $::Unauth
--- error_log eval
qr/\[warn\].*tokens-blank.*holds no token/



=== TEST 23b: ... every request 401
--- config eval: ::config_for('tokens-blank')
--- user_files eval
">>> tokens-blank\n\n   \n\t\n\n"
--- request eval
[ map { "GET /api/paperclip-sandbox/v1/health" } 1 .. 4 ]
--- more_headers eval
[ "Authorization: Bearer ",
  "Authorization: Bearer x",
  "Authorization: Bearer \t",
  "" ]
--- error_code eval
[ (401) x 4 ]
--- response_body eval
[ ($::Unauth) x 4 ]



=== TEST 24: token file with only comments: fail closed and a startup warning ...
--- config eval: ::config_for('tokens-comments')
--- user_files
>>> tokens-comments
# no token yet
#secret-token
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer #secret-token
--- error_code: 401
--- response_body eval: $::Unauth
--- error_log eval
qr/\[warn\].*tokens-comments.*holds no token/



=== TEST 24b: ... also for unknown paths
--- config eval: ::config_for('tokens-comments')
--- user_files
>>> tokens-comments
# no token yet
#secret-token
--- request eval
[ "GET /api/paperclip-sandbox/v1/health",
  "GET /api/paperclip-sandbox/v1/nope" ]
--- more_headers eval
[ "Authorization: Bearer secret-token",
  "Authorization: Bearer secret-token" ]
--- error_code eval
[ (401) x 2 ]
--- response_body eval
[ ($::Unauth) x 2 ]



=== TEST 25: empty token file: fail closed
--- config eval: ::config_for('tokens-empty')
--- user_files eval
">>> tokens-empty\n"
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- error_code: 401
--- response_body eval: $::Unauth
--- error_log eval
qr/\[warn\].*tokens-empty.*holds no token/



=== TEST 26: "sandbox_auth off" in a location skips auth there; the other bridge location still requires it
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /open/paperclip-sandbox/v1 { sandbox_auth off; sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- user_files
>>> tokens
secret-token
--- request eval
[ "GET /open/paperclip-sandbox/v1/health",
  "GET /open/paperclip-sandbox/v1/nope",
  "GET /api/paperclip-sandbox/v1/health" ]
--- error_code eval
[ 200, 404, 401 ]
--- response_body_like eval
[ '^\{"ok":true,',
  '^\{"error":"not_found","message":"No bridge route matched GET /open/paperclip-sandbox/v1/nope\."\}$',
  "^\Q$::Unauth\E\$" ]



=== TEST 27: "sandbox_auth bearer" only in one location (server level off)
--- config
    sandbox_auth off;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_auth bearer; sandbox_bridge; }
    location /open/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- user_files
>>> tokens
secret-token
--- request eval
[ "GET /api/paperclip-sandbox/v1/health",
  "GET /api/paperclip-sandbox/v1/health",
  "GET /open/paperclip-sandbox/v1/health" ]
--- more_headers eval
[ "", "Authorization: Bearer secret-token", "" ]
--- error_code eval
[ 401, 200, 200 ]



=== TEST 28: a location-level token file overrides the server's (no merge of the two lists)
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /other/paperclip-sandbox/v1 {
        sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens-other;
        sandbox_bridge;
    }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- user_files
>>> tokens
secret-token
>>> tokens-other
other-token
--- request eval
[ "GET /api/paperclip-sandbox/v1/health",
  "GET /api/paperclip-sandbox/v1/health",
  "GET /other/paperclip-sandbox/v1/health",
  "GET /other/paperclip-sandbox/v1/health" ]
--- more_headers eval
[ "Authorization: Bearer secret-token", "Authorization: Bearer other-token",
  "Authorization: Bearer other-token", "Authorization: Bearer secret-token" ]
--- error_code eval
[ 200, 401, 200, 401 ]
