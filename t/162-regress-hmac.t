# Regression test (issue 8, review finding 3): the Redis key of a signed
# request's nonce must hold the whole nonce.  With the longest key id (64
# characters), the longest nonce (128) and a long Redis prefix (64, the
# longest sandbox_redis accepts today), "<prefix>nonce:{<keyId>}:<nonce>"
# is 265 bytes; it used to be cut silently to the 256 bytes of a buffer, so
# two different nonces that share their first 119 characters collided and the second request was
# refused as "Request nonce was already used.".
#
# The requests are signed here in Perl, as README "Signed requests"
# describes (util/psb-sign makes its own 32-character nonces).  Each run
# uses fresh random nonces; the last block removes every key of the prefix.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Scenario qw(redis_cli redis_keys);
use Digest::SHA qw(sha256_hex hmac_sha256_hex);

no_shuffle();

our $API    = '/api/paperclip-sandbox/v1';
our $Shared = $ENV{TEST_NGINX_REDIS_PORT};

# 64-character prefix, 64-character key id, 128-character nonces
our $Prefix = 't162' . ('p' x 59) . ':';
our $KeyId  = 'k162.' . ('K' x 58) . '-';
our $Secret = 't162-secret-0123456789abcdef';
die "prefix is not 64 characters" unless length $Prefix == 64;
die "key id is not 64 characters" unless length $KeyId == 64;

my @alphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '_', '-');
our $Common = join '', map { $alphabet[int rand @alphabet] } 1 .. 127;
our @Nonce  = map { "$Common$_" } qw(a b c);

our $Replayed = '{"error":"unauthorized","message":"Request nonce was already used."}';
our $Ok       = '{"ok":true}';

sub x { my $s = shift; qr/\A\Q$s\E\z/ }

# Authorization header of a signed request (README "Signed requests")
sub sign {
    my ($method, $path, $body, $nonce) = @_;
    my $ts = time;
    my $canonical = join "\n", 'PSB-HMAC-SHA256', $method, $path, '', 'localhost', $ts,
                    $nonce, sha256_hex($body);
    my $sig = hmac_sha256_hex($canonical, $Secret);
    return "PSB-HMAC-SHA256 keyId=$KeyId, ts=$ts, nonce=$nonce, sig=$sig";
}

# headers for a signed POST /leases/release {} with the given nonce
sub release_headers {
    my ($nonce) = @_;
    return "Host: localhost\nAuthorization: " . sign('POST', "$API/leases/release", '{}', $nonce) . "\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<"_EOC_") unless defined $block->http_config;
    sandbox_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT prefix=$Prefix command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    sandbox_auth hmac;
    sandbox_auth_hmac_key_file $TEST_NGINX_HTML_DIR/keys;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
_EOC_

    $block->set_value('user_files', ">>> keys\n$KeyId $Secret\n") unless defined $block->user_files;
    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: a signed request with a 64-character key id and a 128-character nonce passes
--- more_headers eval
::release_headers($::Nonce[0])
--- request eval
"POST $::API/leases/release\n{}"
--- error_code: 200
--- response_body_like eval
::x($::Ok)



=== TEST 2: another nonce that differs only in its last character passes too
--- more_headers eval
::release_headers($::Nonce[1])
--- request eval
"POST $::API/leases/release\n{}"
--- error_code: 200
--- response_body_like eval
::x($::Ok)



=== TEST 3: ... and a third one
--- more_headers eval
::release_headers($::Nonce[2])
--- request eval
"POST $::API/leases/release\n{}"
--- error_code: 200
--- response_body_like eval
::x($::Ok)



=== TEST 4: (control) replaying the first nonce is refused
--- more_headers eval
::release_headers($::Nonce[0])
--- request eval
"POST $::API/leases/release\n{}"
--- error_code: 401
--- response_body_like eval
::x($::Replayed)



=== TEST 5: clean-up: every key of the prefix is removed
--- init
main::wait_store_ready();
my @k = main::redis_keys($::Shared, "$::Prefix*");
main::redis_cli($::Shared, 'DEL', @k) if @k;
@k = main::redis_keys($::Shared, "$::Prefix*");
Test::More::is("@k", '', "no key of the $::Prefix prefix is left");
--- more_headers
Host: localhost
--- request
GET /_docker/_ping
--- error_code: 404
