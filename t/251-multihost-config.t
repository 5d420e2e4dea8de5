# sandbox_docker_location with several hosts (README "Docker hosts"):
# mistakes fail when the configuration loads, with an [emerg] line naming
# the directive; a valid multi-host bridge serves /health with its hosts
# listed, and a location without the directive inherits every host.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Conf;

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t251: command_timeout=1s;
    sandbox_reaper_interval 1h;
_EOC_

# a server with two hosts (both the private dockerd); blocks add a line
our $Base = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    sandbox_docker_location /_d1 name=one weight=3 max_leases=10;
    sandbox_docker_location /_d2/;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_d1/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
    location /_d2/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC_

no_shuffle();

conf_blocks(http_config => $HttpConfig, config => $Base, more_headers => "Authorization: Bearer secret-token\n");

run_tests();

__DATA__

=== TEST 1: valid: two hosts; health lists both by name (the uri without name=)
--- request
GET /api/paperclip-sandbox/v1/health
--- response_body_like: ,"driver":\{"name":"docker","reachable":true\},"hosts":\[\{"name":"one","reachable":true,"leases":0\},\{"name":"/_d2","reachable":true,"leases":0\}\]\}$
--- no_error_log
[error]
[warn]



=== TEST 2: valid: a location without the directive inherits every host
--- config eval: $::Base =~ s{location /api/paperclip-sandbox/v1 \{ sandbox_bridge; \}}{location /x/api/paperclip-sandbox/v1 { sandbox_bridge; }}r
--- request
GET /x/api/paperclip-sandbox/v1/health
--- response_body_like: "hosts":\[\{"name":"one",.*\{"name":"/_d2",
--- no_error_log
[error]



=== TEST 3: a duplicate host name
--- config eval: $::Base . 'sandbox_docker_location /_d3 name=one;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'duplicate host name "one"')



=== TEST 4: a second location with the uri of an unnamed one
--- config eval: $::Base . 'sandbox_docker_location /_d2;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'duplicate host name "/_d2"')



=== TEST 5: weight 0
--- config eval: $::Base . 'sandbox_docker_location /_d3 weight=0;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'weight=0')



=== TEST 6: weight not a number
--- config eval: $::Base . 'sandbox_docker_location /_d3 weight=heavy;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'weight=heavy')



=== TEST 7: weight too large
--- config eval: $::Base . 'sandbox_docker_location /_d3 weight=1001;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'weight=1001')



=== TEST 8: max_leases 0
--- config eval: $::Base . 'sandbox_docker_location /_d3 max_leases=0;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'max_leases=0')



=== TEST 9: an empty name
--- config eval: $::Base . 'sandbox_docker_location /_d3 name=;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'name=')



=== TEST 10: a name with a blank
--- config eval: $::Base . q{sandbox_docker_location /_d3 "name=a b";}
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'name=a b')



=== TEST 11: an unknown parameter
--- config eval: $::Base . 'sandbox_docker_location /_d3 zone=x;'
--- must_die
--- error_log eval: ::names('sandbox_docker_location', 'zone=x')
