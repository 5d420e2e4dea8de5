# Regression test (issue 14, item 1): with the Docker location exactly as
# README "Installing" writes it (no client_max_body_size there, so nginx's
# default 1m applies; the test harness sets 30M on its server, which the
# Docker location here sets back to the default), an exec
# whose stdin is as large as sandbox_max_stdin_size allows works and the
# command receives every byte:
#
#   * the default limit (96m): a stdin of 1048576 bytes (wc -c);
#   * sandbox_max_stdin_size 8m with sandbox_max_body_size 16m: an 8 MiB
#     stdin, whose SHA-256 inside the sandbox equals the one computed here.
#
# Redis prefix t165:; the lease is deleted by the last block.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_keys wait_until);
use Digest::SHA qw(sha256_hex);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t165-stdin';

sub ex {
    my ($body, %o) = @_;
    return "POST " . ($o{base} // '') . "$API/exec\n" . json_encode({ providerLeaseId => $LEASE, %$body });
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

sub res {
    my ($out) = @_;
    return '{"exitCode":0,"signal":null,"timedOut":false,"stdout":'
         . JSON::PP->new->allow_nonref->encode($out) . ',"stderr":""}';
}

# 8 MiB of printable ASCII that is not one repeated byte (so a lost or
# reordered piece changes the digest)
our $BIG = do {
    my $line = join('', map { chr(33 + ($_ * 7) % 94) } 0 .. 4095);
    my $s = '';
    for my $i (0 .. 2047) { $s .= substr($line, $i % 4096) . substr($line, 0, $i % 4096) }
    die "8 MiB stdin has " . length($s) . " bytes" unless length $s == 8 * 1024 * 1024;
    $s;
};
our $BIG_SHA = sha256_hex($BIG);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t165: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

    # the Docker location is README's, word for word (socket path aside),
    # under nginx's default client_max_body_size
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 {
        sandbox_bridge;
    }
    location /big/api/paperclip-sandbox/v1 {
        sandbox_max_stdin_size 8m;
        sandbox_max_body_size 16m;
        sandbox_bridge;
    }
    location /_docker/ {
        internal;
        client_max_body_size 1m;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_http_version 1.0;
        proxy_buffering off;
        proxy_read_timeout 1d;
    }
    location /_inspect/ {
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC_

    $block->set_value('user_files', ">>> tokens\nsecret-token\n") unless defined $block->user_files;
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->more_headers;
    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('timeout', '60') unless defined $block->timeout;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: acquire the lease
--- request eval
"POST $::API/leases/acquire\n"
  . '{"environmentId":"t165-stdin","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'
--- error_code: 200
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t165-stdin",/



=== TEST 2: default sandbox_max_stdin_size (96m): a stdin of 1048576 bytes arrives whole
--- request eval
::ex({ command => 'wc', args => ['-c'], stdin => 'z' x 1048576 })
--- error_code: 200
--- response_body_like eval
qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":" *1048576\\n","stderr":""\}\z/



=== TEST 3: sandbox_max_stdin_size 8m, sandbox_max_body_size 16m: an 8 MiB stdin arrives whole (SHA-256)
--- request eval
::ex({ command => 'sh', args => ['-c', 'sha256sum | cut -d" " -f1'], stdin => $::BIG }, base => '/big')
--- error_code: 200
--- response_body eval
::res("$::BIG_SHA\n")



=== TEST 4: delete the lease; nothing of this file is left
--- request eval
[ "DELETE $::API/leases/$::LEASE",
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dt165%3A%22%5D%7D" ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ ::exact('{"ok":true}'), qr/\A\[\]\s*\z/ ]



=== TEST 5: no t165: lease record is left
--- init
main::wait_store_ready();
my @k;
main::wait_until(sub { @k = main::redis_keys($ENV{TEST_NGINX_REDIS_PORT}, 't165:lease:*'); !@k }, 3, 0.1);
Test::More::is("@k", '', 'no t165:lease:* record is left');
--- request
GET /_docker/_ping
--- error_code: 404
