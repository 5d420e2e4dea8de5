# Issue 14 (fail-open defaults): a Docker location that is not
# "internal" lets any client drive the Docker API. nginx starts, and
# logs a [warn] naming the bridge's sandbox_docker_location and the
# location that serves it; an internal one gets no such warning.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;

our $Bridge = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
_EOC_

our $Proxy = '        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', 'main::wait_redis_ready()') unless defined $block->{init};
    $block->set_value('http_config', <<'_EOC_') unless defined $block->{http_config};
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t222: command_timeout=1s;
_EOC_
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->{user_files};
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->{more_headers};
});

run_tests();

__DATA__

=== TEST 1: a Docker location without "internal": it serves, with a [warn] naming both
--- config eval
$::Bridge . "    location /_docker/ {\n$::Proxy\n    }\n"
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- error_log eval
qr/\[warn\] .*"sandbox_docker_location \/_docker" is served by location "\/_docker\/", which is not "internal"/



=== TEST 2: the longest matching location counts: an outer internal one does not hide it
--- config eval
$::Bridge . "    location /_ { internal; return 404; }\n    location /_docker {\n        proxy_pass http://unix:\$TEST_NGINX_DOCKER_SOCKET:/v1.41;\n    }\n"
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- error_log eval
qr/\[warn\] .*"sandbox_docker_location \/_docker" is served by location "\/_docker", which is not "internal"/



=== TEST 3: valid: an internal Docker location gets no warning
--- config eval
$::Bridge . "    location /_ { return 404; }\n    location /_docker/ {\n        internal;\n$::Proxy\n    }\n"
--- request
GET /api/paperclip-sandbox/v1/health
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- no_error_log
which is not "internal"
[emerg]
