# Regression tests (issue 8, review findings 1, 5 and 8): exact error
# bodies, the one sessionId limit, and an operator's client_max_body_size.
#
#   1a. reuseLease:true on a lease whose container name is taken by a
#       container this bridge did not create -> 500 with the whole message
#       (a hand-counted length used to cut it to "...created by this br").
#   1b. an acquire whose final commit to Redis fails -> 503 with the exact
#       store_unavailable message (it used to end in \u0000); the failed
#       acquire leaves no container and no lease record.  Deterministic
#       through a Redis 7 ACL: the commit script calls EXISTS, the begin
#       script does not, so a Redis whose default user may not run EXISTS
#       (nor HEXISTS) lets the acquire get as far as the commit and fails
#       exactly there.  That Redis is a private redis-server started by
#       this file (sandbox_redis only authenticates the default user, so
#       the shared test redis is never touched); it is stopped at the end.
#   5.  sessionId longer than 256 bytes -> 400 with an exact message on
#       /probe, /leases/acquire, /leases/resume and /exec (lease routes used
#       to take any length, exec silently replaced it); exactly 256 bytes is
#       accepted and reaches the command as PSB_SESSION.
#   8.  client_max_body_size set by the operator in a bridge location is
#       respected (it used to be overwritten by sandbox_max_body_size);
#       without it, sandbox_max_body_size still gives 413 payload_too_large.
#
# Redis prefixes t160: (shared test redis) and t160acl: (private redis).
# Every container and key made here is removed again; the last block
# checks.  The blocks run in order.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_cli redis_keys docker_cmd wait_until);
use JSON::PP ();

no_shuffle();

our $API    = '/api/paperclip-sandbox/v1';
our $Shared = $ENV{TEST_NGINX_REDIS_PORT};

our $FOREIGN_BODY = '{"error":"internal_error","message":"A container with this lease\'s name exists but was not created by this bridge."}';
our $STORE_BODY   = '{"error":"store_unavailable","message":"The bridge\'s lease store (Redis) is unavailable."}';
our $SESSION_BODY = '{"error":"invalid_request","message":"sessionId is longer than 256 bytes."}';
our $STATE_LOST   = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $TOO_LARGE    = qr/\A\{"error":"payload_too_large","message":"(?:[^"\\]|\\.)+"\}\z/;
our $NONE         = qr/\A\[\]\s*\z/;

# the container name the bridge gives lease pc-env-t160-foreign (prefix
# "t160:" -> "t160-")
our $FOREIGN_NAME = 't160-pc-env-t160-foreign';

# sessionIds: exactly 256 bytes, 257 bytes, 129 two-byte characters (258 bytes)
our $S256 = substr('s160-' . ('0123456789abcdef' x 16), 0, 256);
our $S257 = $S256 . 'x';
our $S258U = "\x{e9}" x 129;

# ------------------------------------------------------------ private redis
# A redis-server whose default user may not run EXISTS/HEXISTS (finding 1b).
# Started when the file loads (before any block), stopped at the end.
our $AclRedis = SandboxBridge::Scenario::Redis->new;
{
    my ($rc, $out) = redis_cli($AclRedis->port, 'ACL', 'SETUSER', 'default',
                               'on', 'nopass', '~*', '&*', '+@all', '-exists', '-hexists');
    die "ACL SETUSER on the private redis failed: $out\n" if $rc || $out !~ /OK/;
}
$ENV{TEST_NGINX_T160_ACL_REDIS_PORT} = $AclRedis->port;

END {
    $AclRedis->destroy if $AclRedis;
}

my $J = JSON::PP->new->allow_nonref;
sub js { $J->encode($_[0]) }
sub x  { my $s = shift; qr/\A\Q$s\E\z/ }

sub post { my ($route, $body, %o) = @_; "POST " . ($o{base} // '') . "$API$route\n"
           . (ref $body ? json_encode($body) : $body) }

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# GET the containers labelled with a prefix (and a lease id if given)
sub containers {
    my ($prefix, $lease) = @_;
    my @l = ("paperclip.bridge.prefix=$prefix");
    push @l, "paperclip.bridge.lease=$lease" if defined $lease;
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":[' . join(',', map { js($_) } @l) . ']}');
}

# an acquire body of exactly $size bytes (an ignored "pad" field fills it)
sub sized {
    my ($size, $obj) = @_;
    my $n = $size - length json_encode({ %$obj, pad => '' });
    die "sized(): $size bytes is too small" if $n < 0;
    my $json = json_encode({ %$obj, pad => 'p' x $n });
    die "sized(): got " . length($json) . " bytes, not $size" if length $json != $size;
    return $json;
}

sub exec_result {
    my ($out) = @_;
    return '{"exitCode":0,"signal":null,"timedOut":false,"stdout":' . js($out) . ',"stderr":""}';
}

# block-time helpers (called from --- init)
sub remove_foreign_container {
    docker_cmd('rm', '-f', $FOREIGN_NAME);
    return 1;
}

# a container with the lease's name but without the bridge's labels
sub make_foreign_container {
    remove_foreign_container();
    my ($rc, $out) = docker_cmd('create', '--name', $FOREIGN_NAME, '--label', 't160.test=foreign',
                                '--network', 'none', $ENV{TEST_NGINX_SANDBOX_IMAGE});
    Test::More::is($rc, 0, "made the foreign container $FOREIGN_NAME straight on Docker")
        or Test::More::diag($out);
    return 1;
}

sub lease_keys {
    my ($port, $pattern) = @_;
    my @k;
    wait_until(sub { @k = redis_keys($port, $pattern); !@k }, 3, 0.1);
    return sort @k;
}

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t160: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $AclHttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_T160_ACL_REDIS_PORT prefix=t160acl: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $Config = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /cmbs/api/paperclip-sandbox/v1 {
        client_max_body_size 1k;
        sandbox_bridge;
    }
    location /smbs/api/paperclip-sandbox/v1 {
        sandbox_max_body_size 1k;
        sandbox_bridge;
    }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
    # test only: straight to Docker
    location /_inspect/ {
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig) unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;
    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->user_files;
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->more_headers;
    $block->set_value('timeout', '30') unless defined $block->timeout;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: (1a) reuseLease on a name held by a foreign container -> 500 with the whole message
A container named like the lease's container, without the bridge's
paperclip.bridge.prefix label, is made straight on Docker first (docker
create, at block time).
--- init
main::make_foreign_container();
main::wait_store_ready();
--- request eval
[ ::post('/leases/acquire', { environmentId => 't160-foreign', runId => 'r', reuseLease => JSON::PP::true }),
  "GET /_inspect/containers/$::FOREIGN_NAME/json" ]
--- error_code eval
[500, 200]
--- response_headers eval
[ "Content-Type: application/json", "" ]
--- response_body_like eval
[ ::x($::FOREIGN_BODY), qr/"t160\.test":"foreign"/ ]



=== TEST 2: (1a) clean-up: the lease record goes, the foreign container is removed
--- init
main::wait_store_ready();
--- request eval
[ "DELETE $::API/leases/pc-env-t160-foreign",
  "DELETE /_inspect/containers/$::FOREIGN_NAME?force=true",
  "GET /_inspect/containers/$::FOREIGN_NAME/json" ]
--- error_code_like eval
[ qr/\A200\z/, qr/\A(?:204|404)\z/, qr/\A404\z/ ]



=== TEST 3: (1b) the commit to Redis fails -> 503 with the exact store_unavailable body; no container is left
The private redis refuses EXISTS, which only the commit script uses.
--- http_config eval
$::AclHttpConfig
--- request eval
[ ::post('/leases/acquire', { environmentId => 't160-acl', runId => 't160-acl' }),
  ::containers('t160acl:') ]
--- error_code eval
[503, 200]
--- response_headers eval
[ "Content-Type: application/json", "" ]
--- response_body_like eval
[ ::x($::STORE_BODY), $::NONE ]



=== TEST 4: (1b) ... and no lease record is left in that redis
--- http_config eval
$::AclHttpConfig
--- init
main::wait_store_ready();
my @k = main::lease_keys($::AclRedis->port, 't160acl:lease:*');
Test::More::is("@k", '', 'the failed acquire left no t160acl:lease:* record');
--- request eval
::containers('t160acl:')
--- response_body_like eval
$::NONE



=== TEST 5: (5) sessionId over 256 bytes -> 400 with the exact message on acquire and probe; nothing is created
--- request eval
[ ::post('/leases/acquire', { environmentId => 't160-sess-refused', runId => 'r', reuseLease => JSON::PP::true,
                              sessionId => $::S257 }),
  ::post('/leases/acquire', { environmentId => 't160-sess-refused', runId => 'r', reuseLease => JSON::PP::true,
                              sessionId => $::S258U }),
  ::post('/probe', { sessionId => $::S257 }),
  ::containers('t160:', 'pc-env-t160-sess-refused'),
  ::containers('t160:') ]
--- error_code eval
[400, 400, 400, 200, 200]
--- response_body_like eval
[ (::x($::SESSION_BODY)) x 3, $::NONE, qr/\A\[(?!.*"pc-probe-)/s ]



=== TEST 6: (5) exactly 256 bytes is accepted by acquire; over 256 -> 400 on resume and exec; 256 reaches the command as PSB_SESSION
--- request eval
[ ::post('/leases/acquire', { environmentId => 't160-sess', runId => 'r', reuseLease => JSON::PP::true,
                              keepAlive => JSON::PP::true, sessionId => $::S256 }),
  ::post('/leases/resume', { providerLeaseId => 'pc-env-t160-sess', keepAlive => JSON::PP::true,
                             sessionId => $::S257 }),
  ::post('/exec', { providerLeaseId => 'pc-env-t160-sess', command => 'sh',
                    args => ['-c', 'echo "$PSB_SESSION"'], sessionId => $::S257 }),
  ::post('/exec', { providerLeaseId => 'pc-env-t160-sess', command => 'sh',
                    args => ['-c', 'echo "$PSB_SESSION"'], sessionId => $::S258U }),
  ::post('/exec', { providerLeaseId => 'pc-env-t160-sess', command => 'sh',
                    args => ['-c', 'echo "$PSB_SESSION"'], sessionId => $::S256 }),
  ::post('/leases/resume', { providerLeaseId => 'pc-env-t160-sess', keepAlive => JSON::PP::true,
                             sessionId => $::S256 }) ]
--- error_code eval
[200, 400, 400, 400, 200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t160-sess","metadata":\{.*"sessionId":"\Q$::S256\E",.*\}\}\z/,
  (::x($::SESSION_BODY)) x 3,
  ::x(::exec_result("$::S256\n")),
  qr/\A\{"providerLeaseId":"pc-env-t160-sess","metadata":\{.*"sessionId":"\Q$::S256\E",.*"resumedLease":true\}\}\z/ ]



=== TEST 7: (5) clean-up of the session lease (and of the refused one, which the code before the fix made)
--- request eval
[ "DELETE $::API/leases/pc-env-t160-sess", "DELETE $::API/leases/pc-env-t160-sess-refused",
  ::containers('t160:', 'pc-env-t160-sess'), ::containers('t160:', 'pc-env-t160-sess-refused') ]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[ ::x('{"ok":true}'), ::x('{"ok":true}'), $::NONE, $::NONE ]



=== TEST 8: (8) client_max_body_size 1k in the bridge location: a 2000-byte acquire -> 413 payload_too_large
(Before the fix the module replaced it with sandbox_max_body_size (4m) and
the acquire ran; the DELETE removes what it would have made.)
--- request eval
[ ::post('/leases/acquire', ::sized(2000, { environmentId => 't160-cmbs', runId => 'r', reuseLease => JSON::PP::true }),
         base => '/cmbs'),
  "DELETE $::API/leases/pc-env-t160-cmbs",
  ::containers('t160:', 'pc-env-t160-cmbs') ]
--- error_code eval
[413, 200, 200]
--- response_headers eval
[ "Content-Type: application/json", "", "" ]
--- response_body_like eval
[ $::TOO_LARGE, ::x('{"ok":true}'), $::NONE ]



=== TEST 9: (8) without client_max_body_size, sandbox_max_body_size 1k still gives 413 payload_too_large (1024 bytes pass)
--- request eval
[ ::post('/leases/acquire', ::sized(2000, { environmentId => 't160-smbs', runId => 'r', reuseLease => JSON::PP::true }),
         base => '/smbs'),
  ::post('/leases/resume', ::sized(1024, { providerLeaseId => 'pc-env-t160-smbs' }), base => '/smbs'),
  "DELETE $::API/leases/pc-env-t160-smbs",
  ::containers('t160:', 'pc-env-t160-smbs') ]
--- error_code eval
[413, 409, 200, 200]
--- response_headers eval
[ "Content-Type: application/json", "Content-Type: application/json", "", "" ]
--- response_body_like eval
[ $::TOO_LARGE, ::x($::STATE_LOST), ::x('{"ok":true}'), $::NONE ]



=== TEST 10: nothing of this file is left: no container, no lease record (shared and private redis)
--- init
main::wait_store_ready();
main::remove_foreign_container();
my @k = main::lease_keys($::Shared, 't160:lease:*');
Test::More::is("@k", '', 'no t160:lease:* record is left in the shared redis');
main::redis_cli($::Shared, 'DEL', 't160:reaper:lock');
@k = main::lease_keys($::AclRedis->port, 't160acl:lease:*');
Test::More::is("@k", '', 'no t160acl:lease:* record is left in the private redis');
--- request eval
[ ::containers('t160:'), ::containers('t160acl:'), "GET /_inspect/containers/$::FOREIGN_NAME/json" ]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
[ $::NONE, $::NONE, qr/No such container/ ]
