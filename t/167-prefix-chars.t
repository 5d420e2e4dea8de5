# Issue 14 item 5: a key prefix with URL-special and glob characters
# (here "t167+x*") neither makes the reaper forget live leases (its Docker
# label filter is percent-encoded whole: "+" stays "+") nor lets its SCAN
# reach keys of another prefix ("*" is escaped in the MATCH pattern).
# The reaper runs every second; the checks come after several passes.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_cli);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t167-prefix';

# a record of another deployment ("t167+xY") that an unescaped MATCH
# "t167+x*lease:{*}" would find: ready, placed on our Docker location,
# long before any listing
our $OTHER = 't167+xYlease:{pc-env-t167-other}';

sub ex { "POST $API/exec\n" . json_encode({ providerLeaseId => $LEASE, %{ $_[0] } }) }

sub plant_other {
    main::redis_cli($ENV{TEST_NGINX_REDIS_PORT}, 'HSET', $OTHER, 'state', 'ready',
                    'ready_at', '1', 'docker', '/_docker', 'container', 'nope');
    return 1;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t167+x* command_timeout=1s;
    sandbox_reaper_interval 1s;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
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

=== TEST 1: acquire a lease under the prefix "t167+x*"
--- init
main::wait_store_ready();
main::plant_other();
--- request eval
"POST $::API/leases/acquire\n"
. '{"environmentId":"t167-prefix","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'
--- error_code: 200
--- response_body_like: \A\{"providerLeaseId":"pc-env-t167-prefix",



=== TEST 2: after several reaper passes the lease still works, and the other prefix's record is untouched
--- init
main::wait_store_ready();
sleep 5;
Test::More::is(main::redis_cli($ENV{TEST_NGINX_REDIS_PORT}, 'EXISTS', $::OTHER), '(integer) 1',
               "the other prefix's record is still there");
Test::More::is(main::redis_cli($ENV{TEST_NGINX_REDIS_PORT}, 'EXISTS', 't167+x*lease:{pc-env-t167-prefix}'),
               '(integer) 1', 'the lease record is still there');
main::redis_cli($ENV{TEST_NGINX_REDIS_PORT}, 'DEL', $::OTHER);
--- request eval
::ex({ command => 'echo', args => ['alive'] })
--- error_code: 200
--- response_body eval
'{"exitCode":0,"signal":null,"timedOut":false,"stdout":"alive\n","stderr":""}'



=== TEST 3: delete the lease
--- request eval
"DELETE $::API/leases/$::LEASE"
--- error_code: 200
--- response_body: {"ok":true}
