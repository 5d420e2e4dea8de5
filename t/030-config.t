# Configuration errors: every directive rejects bad values when the config
# is loaded (the same parser `nginx -t` runs), with an [emerg] message that
# names the directive -- and, where there is one, the offending value.
#
# Blocks starting with "valid:" are controls: the same configs without the
# mistake load and serve.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Conf;
use Time::HiRes ();

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t030: command_timeout=1s;
_EOC_

# A complete, valid bridge server; blocks append their mistake to it.
our $Base = base_server();

no_shuffle();

conf_blocks(http_config => $HttpConfig, config => $Base);

run_tests();

__DATA__

=== TEST 1: valid: the base config loads and serves health
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- response_body_like: ^\{"ok":true,
--- no_error_log
[error]
[warn]



=== TEST 2: valid: every directive with a good value
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=0 prefix=t030: connect_timeout=500ms command_timeout=2s;
    sandbox_reaper_interval 1h;
--- config eval
$::Base . <<'_EOC_';
    sandbox_network none;
    sandbox_memory 512m;
    sandbox_cpus 0.5;
    sandbox_pids_limit 100;
    sandbox_label team=paperclip;
    sandbox_label empty=;
    sandbox_exec_timeout_max 10m;
    sandbox_output_limit 1m;
    sandbox_heartbeat_interval 5s;
    location /custom { sandbox_bridge /custom/v1; }
_EOC_
--- request
GET /custom/v1/health
--- more_headers
Authorization: Bearer secret-token
--- response_body_like: ^\{"ok":true,
--- no_error_log
[error]
[warn]



=== TEST 3: sandbox_auth with a bad value
--- config eval: $::Base . "sandbox_auth maybe;"
--- must_die
--- error_log eval: ::names('sandbox_auth', 'maybe')



=== TEST 4: sandbox_auth bearer without sandbox_auth_token_file
--- config
    sandbox_auth bearer;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- must_die
--- error_log eval: ::names('sandbox_auth', 'sandbox_auth_token_file')



=== TEST 5: sandbox_auth bearer in a location, no token file anywhere
--- config
    location /api/paperclip-sandbox/v1 {
        sandbox_auth bearer;
        sandbox_docker_location /_docker;
        sandbox_image img;
        sandbox_bridge;
    }
--- must_die
--- error_log eval: ::names('sandbox_auth', 'sandbox_auth_token_file')



=== TEST 6: sandbox_auth_token_file that does not exist
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/no-such-tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- must_die
--- error_log eval: ::names('sandbox_auth_token_file', 'no-such-tokens')



=== TEST 7: sandbox_auth_token_file larger than the 1m limit
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/huge-tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- user_files eval
[ [ 'huge-tokens', CORE::join '', ("x" x 1023 . "\n") x 1100 ] ]
--- must_die
--- error_log eval: ::names('sandbox_auth_token_file', 'huge-tokens')



=== TEST 8: sandbox_auth_token_file pointing at a directory
--- config
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokdir;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- user_files
>>> tokdir/placeholder
x
--- must_die
--- error_log eval: ::names('sandbox_auth_token_file', 'tokdir')



=== TEST 9: duplicate sandbox_auth_token_file
--- config eval: $::Base . "sandbox_auth_token_file $ENV{TEST_NGINX_HTML_DIR}/tokens;"
--- must_die
--- error_log eval: ::names('sandbox_auth_token_file', 'duplicate')



=== TEST 10: duplicate sandbox_auth
--- config eval: $::Base . "sandbox_auth off;"
--- must_die
--- error_log eval: ::names('sandbox_auth', 'duplicate')



=== TEST 11: sandbox_redis with a bad address (port out of range)
--- http_config
    sandbox_redis 127.0.0.1:99999;
--- must_die
--- error_log eval: ::names('sandbox_redis', '127.0.0.1:99999')



=== TEST 12: sandbox_redis with a bad address (garbage)
--- http_config
    sandbox_redis 127.0.0.1:port;
--- must_die
--- error_log eval: ::names('sandbox_redis', '127.0.0.1:port')



=== TEST 13: sandbox_redis with an empty unix socket path
--- http_config
    sandbox_redis unix:;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'unix')



=== TEST 14: sandbox_redis with a bad db (not a number)
--- http_config
    sandbox_redis 127.0.0.1:6379 db=abc;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'db=abc')



=== TEST 15: sandbox_redis with a bad db (negative)
--- http_config
    sandbox_redis 127.0.0.1:6379 db=-1;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'db=-1')



=== TEST 16: sandbox_redis with a bad db (too large)
--- http_config
    sandbox_redis 127.0.0.1:6379 db=99999;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'db=99999')



=== TEST 17: sandbox_redis with an unknown parameter
--- http_config
    sandbox_redis 127.0.0.1:6379 flavour=mint;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'flavour=mint')



=== TEST 18: sandbox_redis with a bare unknown word
--- http_config
    sandbox_redis 127.0.0.1:6379 tls;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'tls')



=== TEST 19: sandbox_redis with an empty prefix
--- http_config
    sandbox_redis 127.0.0.1:6379 prefix=;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'prefix=')



=== TEST 20: sandbox_redis with braces in the prefix (would break the {id} hash tag)
--- http_config
    sandbox_redis 127.0.0.1:6379 "prefix=a{b}";
--- must_die
--- error_log eval: ::names('sandbox_redis', 'prefix=a{b}')



=== TEST 21: sandbox_redis with a bad connect_timeout
--- http_config
    sandbox_redis 127.0.0.1:6379 connect_timeout=soon;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'connect_timeout=soon')



=== TEST 22: sandbox_redis with a zero command_timeout
--- http_config
    sandbox_redis 127.0.0.1:6379 command_timeout=0;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'command_timeout=0')



=== TEST 23: sandbox_redis with a missing password_file
--- http_config
    sandbox_redis 127.0.0.1:6379 password_file=/nonexistent/t030-redis-pass;
--- must_die
--- error_log eval: ::names('sandbox_redis', 't030-redis-pass')



=== TEST 24: duplicate sandbox_redis
--- http_config
    sandbox_redis 127.0.0.1:6379;
    sandbox_redis 127.0.0.1:6380;
--- must_die
--- error_log eval: ::names('sandbox_redis', 'duplicate')



=== TEST 25: sandbox_redis outside the http block
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config eval: $::Base . "sandbox_redis 127.0.0.1:6379;"
--- must_die
--- error_log eval: ::names('sandbox_redis', 'not allowed here')



=== TEST 26: sandbox_bridge without sandbox_redis
--- http_config
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'sandbox_redis')



=== TEST 27: sandbox_bridge without sandbox_docker_location
--- config
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'sandbox_docker_location')



=== TEST 28: sandbox_bridge without sandbox_image
--- config
    sandbox_docker_location /_docker;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'sandbox_image')



=== TEST 29: sandbox_bridge in "location = /x" without an explicit prefix
--- config eval: $::Base . "location = /x { sandbox_bridge; }"
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'prefix')



=== TEST 30: sandbox_bridge in a regex location without an explicit prefix
--- config eval: $::Base . 'location ~ ^/re/ { sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'prefix')



=== TEST 31: sandbox_bridge in "location /" without a prefix (would serve the API at /)
--- config eval: $::Base . 'location / { sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', '/')



=== TEST 32: sandbox_bridge with a prefix that does not start with "/"
--- config eval: $::Base . 'location /y { sandbox_bridge api/v1; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'api/v1')



=== TEST 33: sandbox_bridge with the prefix "/"
--- config eval: $::Base . 'location /y { sandbox_bridge /; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', '"/"')



=== TEST 34: duplicate sandbox_bridge in one location
--- config eval: $::Base . 'location /y { sandbox_bridge; sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'duplicate')



=== TEST 35: sandbox_bridge at server level
--- config eval: $::Base . 'sandbox_bridge /z;'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'not allowed here')



=== TEST 36: sandbox_docker_location without a leading "/"
--- config eval: $::Base . 'location /y { sandbox_docker_location _docker; sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', '_docker')



=== TEST 37: sandbox_docker_location "/" alone
--- config eval: $::Base . 'location /y { sandbox_docker_location /; sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', '"/"')



=== TEST 38: duplicate sandbox_docker_location (the same host twice)
--- config eval: $::Base . 'sandbox_docker_location /_docker/;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'duplicate')



=== TEST 39: duplicate sandbox_image
--- config eval: $::Base . 'sandbox_image other:tag;'
--- must_die
--- error_log eval: ::names('sandbox_image', 'duplicate')



=== TEST 40: sandbox_cpus garbage
--- config eval: $::Base . 'sandbox_cpus lots;'
--- must_die
--- error_log eval: ::names('sandbox_cpus', 'lots')



=== TEST 41: sandbox_cpus negative
--- config eval: $::Base . 'sandbox_cpus -2;'
--- must_die
--- error_log eval: ::names('sandbox_cpus', '-2')



=== TEST 42: sandbox_cpus absurdly large
--- config eval: $::Base . 'sandbox_cpus 5000;'
--- must_die
--- error_log eval: ::names('sandbox_cpus', '5000')



=== TEST 43: duplicate sandbox_cpus
--- config eval: $::Base . 'sandbox_cpus 1; sandbox_cpus 2;'
--- must_die
--- error_log eval: ::names('sandbox_cpus', 'duplicate')



=== TEST 44: sandbox_pids_limit out of range (too large)
--- config eval: $::Base . 'sandbox_pids_limit 5000000;'
--- must_die
--- error_log eval: ::names('sandbox_pids_limit', '5000000')



=== TEST 45: sandbox_pids_limit negative
--- config eval: $::Base . 'sandbox_pids_limit -5;'
--- must_die
--- error_log eval: ::names('sandbox_pids_limit')



=== TEST 46: sandbox_pids_limit garbage
--- config eval: $::Base . 'sandbox_pids_limit many;'
--- must_die
--- error_log eval: ::names('sandbox_pids_limit')



=== TEST 47: duplicate sandbox_pids_limit
--- config eval: $::Base . 'sandbox_pids_limit 10; sandbox_pids_limit 20;'
--- must_die
--- error_log eval: ::names('sandbox_pids_limit', 'duplicate')



=== TEST 48: sandbox_label without "="
--- config eval: $::Base . 'sandbox_label team;'
--- must_die
--- error_log eval: ::names('sandbox_label', 'team')



=== TEST 49: sandbox_label with an empty key
--- config eval: $::Base . 'sandbox_label =paperclip;'
--- must_die
--- error_log eval: ::names('sandbox_label', '=paperclip')



=== TEST 50: sandbox_network with bad characters
--- config eval: $::Base . 'sandbox_network "my net;rm";'
--- must_die
--- error_log eval: ::names('sandbox_network', 'my net;rm')



=== TEST 51: sandbox_network with a slash
--- config eval: $::Base . 'sandbox_network net/work;'
--- must_die
--- error_log eval: ::names('sandbox_network', 'net/work')



=== TEST 52: sandbox_network empty
--- config eval: $::Base . 'sandbox_network "";'
--- must_die
--- error_log eval: ::names('sandbox_network')



=== TEST 53: duplicate sandbox_network
--- config eval: $::Base . 'sandbox_network none; sandbox_network bridge;'
--- must_die
--- error_log eval: ::names('sandbox_network', 'duplicate')



=== TEST 54: sandbox_memory garbage
--- config eval: $::Base . 'sandbox_memory lots;'
--- must_die
--- error_log eval: ::names('sandbox_memory')



=== TEST 55: duplicate sandbox_memory
--- config eval: $::Base . 'sandbox_memory 1g; sandbox_memory 2g;'
--- must_die
--- error_log eval: ::names('sandbox_memory', 'duplicate')



=== TEST 56: sandbox_reaper_interval garbage
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t030:;
    sandbox_reaper_interval soon;
--- must_die
--- error_log eval: ::names('sandbox_reaper_interval')



=== TEST 57: sandbox_reaper_interval inside a server block
--- config eval: $::Base . 'sandbox_reaper_interval 10s;'
--- must_die
--- error_log eval: ::names('sandbox_reaper_interval', 'not allowed here')



=== TEST 58: duplicate sandbox_reaper_interval
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t030:;
    sandbox_reaper_interval 10s;
    sandbox_reaper_interval 20s;
--- must_die
--- error_log eval: ::names('sandbox_reaper_interval', 'duplicate')



=== TEST 59: sandbox_reaper_interval 0 (would re-arm the reaper timer at once: a busy loop)
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t030:;
    sandbox_reaper_interval 0;
--- must_die
--- error_log eval: ::names('sandbox_reaper_interval')



=== TEST 60: sandbox_exec_timeout_max garbage
--- config eval: $::Base . 'sandbox_exec_timeout_max forever;'
--- must_die
--- error_log eval: ::names('sandbox_exec_timeout_max')



=== TEST 61: sandbox_exec_timeout_max 0 for a bridge
--- config eval: $::Base . 'sandbox_exec_timeout_max 0;'
--- must_die
--- error_log eval: ::names('sandbox_exec_timeout_max')



=== TEST 62: sandbox_output_limit garbage
--- config eval: $::Base . 'sandbox_output_limit big;'
--- must_die
--- error_log eval: ::names('sandbox_output_limit')



=== TEST 63: sandbox_heartbeat_interval garbage
--- config eval: $::Base . 'sandbox_heartbeat_interval often;'
--- must_die
--- error_log eval: ::names('sandbox_heartbeat_interval')



=== TEST 64: sandbox_heartbeat_interval 0 (would re-arm the heartbeat timer at once: a busy loop)
--- config eval: $::Base . 'sandbox_heartbeat_interval 0;'
--- must_die
--- error_log eval: ::names('sandbox_heartbeat_interval')



=== TEST 65: duplicate sandbox_heartbeat_interval
--- config eval: $::Base . 'sandbox_heartbeat_interval 5s; sandbox_heartbeat_interval 6s;'
--- must_die
--- error_log eval: ::names('sandbox_heartbeat_interval', 'duplicate')



=== TEST 66: duplicate sandbox_exec_timeout_max
--- config eval: $::Base . 'sandbox_exec_timeout_max 1m; sandbox_exec_timeout_max 2m;'
--- must_die
--- error_log eval: ::names('sandbox_exec_timeout_max', 'duplicate')



=== TEST 67: duplicate sandbox_output_limit
--- config eval: $::Base . 'sandbox_output_limit 1m; sandbox_output_limit 2m;'
--- must_die
--- error_log eval: ::names('sandbox_output_limit', 'duplicate')



=== TEST 68: sandbox_bridge with too many arguments
--- config eval: $::Base . 'location /y { sandbox_bridge /y /z; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'number of arguments')



=== TEST 69: an HMAC key line whose third field is not exactly "admin" (a comment that mentions admin must not make an admin key)
--- config
    sandbox_auth hmac;
    sandbox_auth_hmac_key_file $TEST_NGINX_HTML_DIR/keys;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- user_files
>>> keys
k1 0123456789abcdef0123 # not admin
--- must_die
--- error_log eval: ::names('sandbox_auth_hmac_key_file', 'k1')



=== TEST 70: an HMAC key marked admin loads
--- config
    sandbox_auth hmac;
    sandbox_auth_hmac_key_file $TEST_NGINX_HTML_DIR/keys;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- user_files
>>> keys
k1 0123456789abcdef0123   admin
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 401
--- response_body chomp
{"error":"unauthorized","message":"This location requires signed requests."}



=== TEST 71: a bridge location whose sandbox_auth was never set fails to load, naming sandbox_auth
--- config
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'needs "sandbox_auth"', 'sandbox_auth off;')



=== TEST 72: valid: "sandbox_auth off" written out runs open, with a [warn] naming it
--- config
    sandbox_auth off;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- error_log eval
qr/\[warn\] .*"sandbox_bridge" serves without authentication \("sandbox_auth off"\)/



=== TEST 73: sandbox_runtime with bad characters
--- config eval: $::Base . 'sandbox_runtime "runsc --debug";'
--- must_die
--- error_log eval: ::names('sandbox_runtime', 'runsc --debug')



=== TEST 74: sandbox_runtime with a slash
--- config eval: $::Base . 'sandbox_runtime /usr/bin/runsc;'
--- must_die
--- error_log eval: ::names('sandbox_runtime', '/usr/bin/runsc')



=== TEST 75: sandbox_runtime empty
--- config eval: $::Base . 'sandbox_runtime "";'
--- must_die
--- error_log eval: ::names('sandbox_runtime', 'takes a runtime name')



=== TEST 76: duplicate sandbox_runtime
--- config eval: $::Base . 'sandbox_runtime runc; sandbox_runtime runsc;'
--- must_die
--- error_log eval: ::names('sandbox_runtime', 'duplicate')



=== TEST 77: valid: a well-formed sandbox_runtime loads and serves health
--- config eval: $::Base . 'sandbox_runtime io.containerd.runc.v2;'
--- request
GET /api/paperclip-sandbox/v1/health
--- more_headers
Authorization: Bearer secret-token
--- error_code: 200
--- response_body_like: ^\{"ok":true,
