# Background requests (the kill after a timeout or a dropped client, stdin
# clean-up, the reaper) have no client socket. A slow one must not trip the
# server's send_timeout on that missing socket: with send_timeout 100ms and a
# kill that walks a few hundred processes for longer than that, the worker
# used to call a NULL event handler and die.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready ();

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';


add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_');
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t086: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

    $block->set_value('config', <<'_EOC_');
    send_timeout 100ms;
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    sandbox_pids_limit 2048;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
_EOC_

    $block->set_value('user_files', ">>> tokens\nsecret-token\n");
    $block->set_value('more_headers',
                      "Authorization: Bearer secret-token\n");
    $block->set_value('init', 'SandboxBridge::Ready::wait_store_ready();');
});

run_tests();

__DATA__

=== TEST 1: a lease crowded with 300 idle processes
--- request eval
[ "POST $::API/leases/acquire\n"
  . '{"environmentId":"t086-bg","runId":"r","reuseLease":true,"keepAlive":true}',
  "POST $::API/exec\n"
  . '{"providerLeaseId":"pc-env-t086-bg","command":"sh","args":["-c",'
  . '"i=0; while [ $i -lt 300 ]; do sleep 1000 >/dev/null 2>&1 & '
  . 'i=$((i+1)); done; echo started"]}' ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/"providerLeaseId":"pc-env-t086-bg"/, qr/"stdout":"started\\n"/ ]
--- timeout: 30



=== TEST 2: a timed-out command's kill runs in the background for seconds; well past send_timeout the worker still serves, and never crashed
One block, so that one nginx sees both (the harness may restart nginx
between blocks); --- wait pauses 4 s after each request.
--- request eval
[ "POST $::API/exec\n"
  . '{"providerLeaseId":"pc-env-t086-bg","command":"sleep","args":["60"],"timeoutMs":300}',
  "POST $::API/exec\n"
  . q{{"providerLeaseId":"pc-env-t086-bg","command":"sh","args":["-c","ps -o args | grep -c '^sleep 60$' || true"]}} ]
--- wait: 4
--- error_code eval
[200, 200]
--- response_body_like eval
[ '"timedOut":true', '"stdout":"0\\\\n"' ]
--- no_error_log
exited on signal
[alert]
--- timeout: 30



=== TEST 3: delete the lease
--- request
DELETE /api/paperclip-sandbox/v1/leases/pc-env-t086-bg
--- error_code: 200
--- response_body chomp
{"ok":true}
--- timeout: 30
