# Issue 11 "Operators", item 1: configuration mistakes of the metrics
# directives fail when the config is loaded (the parser `nginx -t` runs)
# with an [emerg] line that names the directive (README "Metrics").
# Blocks starting with "valid:" are controls.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Conf;

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 1m;
_EOC_

our $Base = base_server();

no_shuffle();

conf_blocks(http_config => $HttpConfig);

run_tests();

__DATA__

=== TEST 1: valid: a metrics location beside the bridge, no token needed
--- config eval
$::Base . 'location = /metrics { sandbox_metrics; allow 127.0.0.1; deny all; }'
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like: ^# HELP sandbox_bridge_requests_total 
--- no_error_log
[error]
[warn]



=== TEST 2: valid: refresh=; a location that denies all gets 403
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 1m refresh=2s;
--- config eval
$::Base . 'location = /metrics { sandbox_metrics; deny all; }'
--- request
GET /metrics
--- error_code: 403
--- error_log
access forbidden by rule
--- no_error_log
[emerg]



=== TEST 3: sandbox_metrics without sandbox_metrics_zone
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
--- config eval
$::Base . 'location = /metrics { sandbox_metrics; }'
--- must_die
--- error_log eval: ::names('sandbox_metrics', 'sandbox_metrics_zone')



=== TEST 4: sandbox_metrics_zone with a bad size
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 lots;
--- config eval: $::Base
--- must_die
--- error_log eval: ::names('sandbox_metrics_zone', 'lots')



=== TEST 5: sandbox_metrics_zone too small
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 8k;
--- config eval: $::Base
--- must_die
--- error_log eval: ::names('sandbox_metrics_zone', 'too small')



=== TEST 6: sandbox_metrics_zone with a bad refresh
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 1m refresh=100ms;
--- config eval: $::Base
--- must_die
--- error_log eval: ::names('sandbox_metrics_zone', 'refresh=100ms')



=== TEST 7: sandbox_metrics_zone twice
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t201: command_timeout=1s;
    sandbox_metrics_zone t201 1m;
    sandbox_metrics_zone t201b 1m;
--- config eval: $::Base
--- must_die
--- error_log eval: ::names('sandbox_metrics_zone', 'duplicate')



=== TEST 8: sandbox_metrics in a bridge location
--- config eval
$::Base . 'location /b { sandbox_bridge; sandbox_metrics; }'
--- must_die
--- error_log eval: ::names('sandbox_metrics', 'sandbox_bridge')



=== TEST 9: sandbox_bridge after sandbox_metrics in one location
--- config eval
$::Base . 'location /b { sandbox_metrics; sandbox_bridge; }'
--- must_die
--- error_log eval: ::names('sandbox_bridge', 'sandbox_metrics')



=== TEST 10: sandbox_metrics with sandbox_auth in its location
--- config eval
$::Base . 'location = /metrics { sandbox_auth bearer; sandbox_metrics; }'
--- must_die
--- error_log eval: ::names('sandbox_metrics', 'sandbox_auth')



=== TEST 11: sandbox_metrics with an argument
--- config eval
$::Base . 'location = /metrics { sandbox_metrics on; }'
--- must_die
--- error_log eval: ::names('sandbox_metrics', 'invalid number of arguments')
