# Issue 14 item 2: while Docker is unreachable an exec answers 503
# driver_unavailable, before any stream starts (an SSE client gets the
# HTTP status, not a 200 and an error event). Bridge /a reaches the real
# Docker; bridge /b shares its Redis prefix but its Docker location is a
# socket that does not exist. Redis prefix t166-.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t166-down';
our $DOWN  = '{"error":"driver_unavailable","message":"create exec failed: Docker API unreachable (nginx 502)"}';

sub ex {
    my ($base, $body) = @_;
    return "POST $base$API/exec\n" . json_encode({ providerLeaseId => $LEASE, %$body });
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t166- command_timeout=1s;
    sandbox_reaper_interval 1h;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /a/api/paperclip-sandbox/v1 {
        sandbox_docker_location /_docker;
        sandbox_bridge;
    }
    location /b/api/paperclip-sandbox/v1 {
        sandbox_docker_location /_gone;
        sandbox_bridge;
    }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
    location /_gone/ {
        internal;
        proxy_pass http://unix:/nonexistent/t166/docker.sock:/v1.41/;
    }
_EOC_

    $block->set_value('user_files', ">>> tokens\nsecret-token\n") unless defined $block->user_files;
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->more_headers;
    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: acquire the lease through the bridge that reaches Docker
--- request eval
"POST /a$::API/leases/acquire\n"
. '{"environmentId":"t166-down","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'
--- error_code: 200
--- response_body_like: \A\{"providerLeaseId":"pc-env-t166-down",



=== TEST 2: Docker unreachable: a JSON exec and a streaming exec both answer 503 driver_unavailable as JSON
--- request eval
[ ::ex('/b', { command => 'echo', args => ['hi'] }),
  ::ex('/b', { command => 'echo', args => ['hi'], streamOutput => JSON::PP::true }) ]
--- error_code eval
[503, 503]
--- response_headers eval
[ "Content-Type: application/json", "Content-Type: application/json" ]
--- response_body eval
[ $::DOWN, $::DOWN ]
--- error_log eval
qr{\[crit\] .*connect\(\) to unix:/nonexistent/t166/docker\.sock failed}



=== TEST 3: the lease itself is untouched: exec through /a works; delete it
--- request eval
[ ::ex('/a', { command => 'echo', args => ['alive'] }), "DELETE /a$::API/leases/$::LEASE" ]
--- error_code eval
[200, 200]
--- response_body eval
[ '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"alive\n","stderr":""}', '{"ok":true}' ]
