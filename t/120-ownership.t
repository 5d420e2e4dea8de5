# Lease ownership (README "Lease ownership", sandbox_auth_admin_token_file,
# the `admin` flag of sandbox_auth_hmac_key_file; README "Differences" D1): a lease
# belongs to the credential that acquired it -- a bearer token, or an HMAC
# key for a signed acquire.  Every other credential gets
#   404 {"error":"not_found","message":"No lease <id> for this credential."}
# from resume, release, DELETE and exec (JSON and streaming), and 409
# lease_conflict from an acquire of the reusable id; each attempt leaves the
# lease intact for its owner (container running, marker file still there,
# the owner can still resume and exec).  Admin credentials -- a token of
# sandbox_auth_admin_token_file and an HMAC key marked admin -- act on every
# lease without taking it over.  A lease acquired with an HMAC key cannot be
# touched with the same person's bearer token, and vice versa.
#
# Credentials (sandbox_auth any): bearer tokens alice, bob; admin token
# admin; HMAC keys ka, kb and kadm (admin).  Signatures come from the
# shipped signer (util/psb-sign via SandboxBridge::Sign).
#
# Leases (Redis prefix t120:, blocks run in order):
#   pc-env-t120-a      reusable, acquired by the bearer token alice
#   pc-env-t120-h      reusable, acquired with the HMAC key ka
#   pc-t120-run-<hex>  not reusable, acquired by the bearer token bob
# All of them are destroyed by the end; the last block checks that nothing
# is left and removes this file's nonces.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks ();
use SandboxBridge::Ready;
use Digest::SHA qw(sha256 sha256_hex);
use JSON::PP ();
use SandboxBridge::Sign ();
use SandboxBridge::Scenario qw(redis_cli redis_keys docker_cmd);

our $P = '/api/paperclip-sandbox/v1';

our %Tok = (alice => 't120-alice-token', bob => 't120-bob-token', admin => 't120-admin-token');
our $Keys = <<'_K_';
# signing keys of t/120-ownership.t
ka   t120-secret-alice-0123456789
kb   t120-secret-bob-abcdefghijkl
kadm t120-secret-admin-mnopqrstuv admin
_K_
our $Sign = SandboxBridge::Sign->new(keys => $Keys);

our $A = 'pc-env-t120-a';
our $H = 'pc-env-t120-h';
our $R;   # the non-reusable lease of bob, found in TEST 6

our $Ok       = '{"ok":true}';
our $Lost     = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $Conflict = '^\{"error":"lease_conflict","message":"(?:[^"\\\\]|\\\\.)+"\}\z';
our $None     = '^\[\]\s*\z';

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t120: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

our $Config = <<'_EOC_';
    sandbox_auth any;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_auth_admin_token_file $TEST_NGINX_HTML_DIR/admin-tokens;
    sandbox_auth_hmac_key_file $TEST_NGINX_HTML_DIR/keys;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
    # test only: straight to Docker, to count containers
    location /_inspect/ {
        sandbox_auth off;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC_

my $J = JSON::PP->new->allow_nonref->canonical;
sub js { $J->encode($_[0]) }
sub jb { $_[0] ? 'true' : 'false' }
sub x  { '^' . quotemeta($_[0]) . '\z' }

# ------------------------------------------------------------ requests
# Each builder pushes the request's headers onto @H; the block's
# `--- more_headers eval` hands them over with hdrs().

our @H;

sub req_text {
    my ($method, $uri, $body) = @_;
    return "$method $uri" . (defined $body && length $body ? "\n$body" : '');
}

sub A {
    my ($auth, $method, $uri, $body) = @_;
    push @H, "Host: localhost\n" . (defined $auth ? "Authorization: $auth\n" : '');
    return req_text($method, $uri, $body);
}

sub hdrs { my @h = @H; @H = (); \@h }

# a request of credential $who: a bearer token (alice, bob, admin) or a
# request signed with an HMAC key (ka, kb, kadm) by util/psb-sign
sub C {
    my ($who, $method, $route, $body) = @_;
    $body = js($body) if ref $body;
    my $uri = "$P$route";
    return A("Bearer $Tok{$who}", $method, $uri, $body) if exists $Tok{$who};
    return A($Sign->sign($who, $method, "http://localhost$uri", $body // ''),
             $method, $uri, $body);
}

sub acquire { my ($who, $env, %o) = @_;
              C($who, POST => '/leases/acquire', { environmentId => $env, runId => 'r',
                reuseLease => JSON::PP::true, keepAlive => JSON::PP::true, %o }) }
sub resume  { C($_[0], POST => '/leases/resume', { providerLeaseId => $_[1], keepAlive => JSON::PP::true }) }
sub release { C($_[0], POST => '/leases/release', { providerLeaseId => $_[1], reuseLease => JSON::PP::false }) }
sub del     { C($_[0], DELETE => "/leases/$_[1]") }
sub exe     { my ($who, $id, @cmd) = @_;
              C($who, POST => '/exec', { providerLeaseId => $id, command => shift @cmd,
                args => [@cmd], timeoutMs => 20000 }) }
sub stream  { my ($who, $id, @cmd) = @_;
              C($who, POST => '/exec', { providerLeaseId => $id, command => shift @cmd,
                args => [@cmd], timeoutMs => 20000, streamOutput => JSON::PP::true }) }

# every way another credential could touch the lease (6 requests; 5 for a
# non-reusable lease, which has no environment to acquire again)
sub foreign {
    my ($who, $id, $env) = @_;
    return (resume($who, $id), release($who, $id), del($who, $id),
            exe($who, $id, 'sh', '-c', 'echo intruder > /workspace/paperclip/marker'),
            stream($who, $id, 'cat', '/workspace/paperclip/marker'),
            defined $env ? acquire($who, $env, keepAlive => JSON::PP::false) : ());
}
sub foreign_codes  { ((404) x 5, $_[0] ? 409 : ()) }
sub foreign_bodies { my ($id, $env) = @_; ((not_owned($id)) x 5, $env ? $Conflict : ()) }

sub not_owned { x('{"error":"not_found","message":"No lease ' . $_[0] . ' for this credential."}') }

# the lease is as its owner left it: one running container, the owner
# resumes it and reads the marker it wrote (3 requests)
sub intact {
    my ($owner, $id, $marker) = @_;
    return (containers($id), resume($owner, $id), exe($owner, $id, 'cat', '/workspace/paperclip/marker'));
}
sub intact_codes  { (200, 200, 200) }
sub intact_bodies {
    my ($id, $marker) = @_;
    return (one($id), x(lease_body(id => $id, keepAlive => 1, resumed => 1)), x(result(0, "$marker\n")));
}

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub containers {
    my $lease = shift;
    my $f = '{"label":["paperclip.bridge.prefix=t120:"'
          . (defined $lease ? ',"paperclip.bridge.lease=' . $lease . '"' : '') . ']}';
    return A(undef, 'GET', "/_inspect/containers/json?all=1&filters=" . uri_escape($f));
}

sub one {
    my $lease = shift;
    return '^\[\{"Id":"[0-9a-f]{64}","Names":\["/t120-' . quotemeta($lease)
         . '"\](?:(?!"Id":").)*"State":"running"(?:(?!"Id":").)*\]\s*\z';
}

sub lease_body {
    my (%m) = @_;
    return '{"providerLeaseId":' . js($m{id}) . ',"metadata":{"provider":"docker"'
         . ',"remoteCwd":"/workspace/paperclip","sandboxId":' . js($m{id})
         . ',"sessionStrategy":"named","sessionId":"paperclip"'
         . ',"keepAlive":' . jb($m{keepAlive}) . ',"sleepAfter":"10m","normalizeId":true'
         . ',"resumedLease":' . jb($m{resumed}) . '}}';
}

sub result {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . $code . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err // '') . '}';
}

sub stream_result {
    my ($out) = @_;
    return '\Aevent: stdout\ndata: \{"data":' . quotemeta(js($out)) . '\}\n\n'
         . quotemeta("event: complete\ndata: " . result(0, $out) . "\n\n") . '\z';
}

# the values of a lease's Redis hash (to look for the recorded credential)
sub lease_values {
    my $id = shift;
    my ($rc, $out) = redis_cli($ENV{TEST_NGINX_REDIS_PORT}, '--raw', 'HGETALL', "t120:lease:{$id}");
    die "redis-cli HGETALL failed ($rc): $out\n" if $rc;
    my @kv = split /\n/, $out;
    return @kv[grep { $_ % 2 } 0 .. $#kv];
}


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', '@main::H = (); main::wait_store_ready()')
        unless defined $block->{init};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    $block->set_value('config', $Config) unless defined $block->{config};
    $block->set_value('user_files', ">>> tokens\n$Tok{alice}\n$Tok{bob}\n"
                                    . ">>> admin-tokens\n$Tok{admin}\n>>> keys\n$Keys")
        unless defined $block->{user_files};
    $block->set_value('timeout', '30') unless defined $block->{timeout};
    $block->set_value('no_error_log', "[error]\n")
        unless defined $block->{no_error_log} || defined $block->{error_log};
    SandboxBridge::Blocks::prepare_block($block);
});

run_tests();

__DATA__

=== TEST 1: the three leases: alice (bearer) and ka (HMAC) acquire reusable ones, bob a non-reusable one; each owner writes a marker
--- request eval
sub {
[ ::acquire('alice', 't120-a'),
  ::exe('alice', $::A, 'sh', '-c', 'echo alice > /workspace/paperclip/marker'),
  ::acquire('ka', 't120-h'),
  ::exe('ka', $::H, 'sh', '-c', 'echo ka > /workspace/paperclip/marker'),
  ::C('bob', POST => '/leases/acquire', { environmentId => 'e', runId => 't120-run', keepAlive => JSON::PP::true }) ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 200, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => $::A, keepAlive => 1)), ::x(::result(0, '')),
  ::x(::lease_body(id => $::H, keepAlive => 1)), ::x(::result(0, '')),
  '^\{"providerLeaseId":"pc-t120-run-[0-9a-f]{8}",' ]



=== TEST 2: the lease records name their owner (tok-<16 hex> = a hash of the token's hash, hmac:<keyId>), never the token or its digest
--- request eval
sub {
my $tok = 'tok-' . substr(::sha256_hex(::sha256($::Tok{alice})), 0, 16);
my @a = ::lease_values($::A);
my @h = ::lease_values($::H);
die "no value of $::A is $tok: @a\n" unless grep { $_ eq $tok } @a;
die "no value of $::H is hmac:ka: @h\n" unless grep { $_ eq 'hmac:ka' } @h;
for my $v (@a, @h) {
    die "a lease record holds a secret: $v\n"
        if index($v, $::Tok{alice}) >= 0 || index(lc $v, ::sha256_hex($::Tok{alice})) >= 0
           || $v =~ /t120-secret/;
}
[ ::containers() ]
}
--- more_headers eval
sub { ::hdrs() }
--- response_body_like eval
[ '^\[\{"Id":"[0-9a-f]{64}".*\}\]\s*\z' ]



=== TEST 3: bob's bearer token on alice's and ka's leases: 404 on resume, release, DELETE, exec, streaming exec; 409 on acquire; both leases intact
--- request eval
sub {
[ ::foreign('bob', $::A, 't120-a'), ::foreign('bob', $::H, 't120-h'),
  ::intact('alice', $::A, 'alice'), ::intact('ka', $::H, 'ka') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ ::foreign_codes(1), ::foreign_codes(1), ::intact_codes(), ::intact_codes() ]
--- response_body_like eval
[ ::foreign_bodies($::A, 1), ::foreign_bodies($::H, 1),
  ::intact_bodies($::A, 'alice'), ::intact_bodies($::H, 'ka') ]



=== TEST 4: another HMAC key (kb) on both leases: 404 / 409; both leases intact
--- request eval
sub {
[ ::foreign('kb', $::A, 't120-a'), ::foreign('kb', $::H, 't120-h'),
  ::intact('alice', $::A, 'alice'), ::intact('ka', $::H, 'ka') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ ::foreign_codes(1), ::foreign_codes(1), ::intact_codes(), ::intact_codes() ]
--- response_body_like eval
[ ::foreign_bodies($::A, 1), ::foreign_bodies($::H, 1),
  ::intact_bodies($::A, 'alice'), ::intact_bodies($::H, 'ka') ]



=== TEST 5: an HMAC-acquired lease is the key's: alice's bearer token cannot touch ka's lease, and the key ka cannot touch alice's bearer lease
--- request eval
sub {
[ ::foreign('alice', $::H, 't120-h'), ::foreign('ka', $::A, 't120-a'),
  ::intact('alice', $::A, 'alice'), ::intact('ka', $::H, 'ka') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ ::foreign_codes(1), ::foreign_codes(1), ::intact_codes(), ::intact_codes() ]
--- response_body_like eval
[ ::foreign_bodies($::H, 1), ::foreign_bodies($::A, 1),
  ::intact_bodies($::A, 'alice'), ::intact_bodies($::H, 'ka') ]



=== TEST 6: bob's non-reusable lease: alice, ka and kb get 404 on every route; bob's lease is intact
--- request eval
sub {
my ($rc, $out) = ::docker_cmd('ps', '-a', '--filter', 'label=paperclip.bridge.prefix=t120:',
                            '--format', '{{.Label "paperclip.bridge.lease"}}');
die "docker ps failed ($rc): $out\n" if $rc;
my @ids = grep { /^pc-t120-run-[0-9a-f]{8}$/ } split /\n/, $out;
die "expected one pc-t120-run-* lease, found: @ids\n" unless @ids == 1;
$::R = $ids[0];
[ ::foreign('alice', $::R), ::foreign('ka', $::R), ::foreign('kb', $::R),
  ::containers($::R), ::exe('bob', $::R, 'cat', '/workspace/paperclip/.paperclip-lease.json') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ ::foreign_codes(0), ::foreign_codes(0), ::foreign_codes(0), 200, 200 ]
--- response_body_like eval
sub {
[ ::foreign_bodies($::R), ::foreign_bodies($::R), ::foreign_bodies($::R),
  ::one($::R), '^\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"\{\\\\n  \\\\"provider\\\\": \\\\"docker\\\\",\\\\n  \\\\"providerLeaseId\\\\": \\\\"' . $::R . '\\\\"' ]
}



=== TEST 7: the admin token acts on alice's and ka's leases (acquire, resume, exec, streaming exec, release) without taking them over
After the admin's acquire and resume, bob is still refused and the owners
still get in.
--- request eval
sub {
[ map({ (::acquire('admin', $_->[1]), ::resume('admin', $_->[0]),
         ::exe('admin', $_->[0], 'cat', '/workspace/paperclip/marker'),
         ::stream('admin', $_->[0], 'cat', '/workspace/paperclip/marker'),
         ::C('admin', POST => '/leases/release', { providerLeaseId => $_->[0], reuseLease => JSON::PP::true }),
         ::resume('bob', $_->[0])) } [$::A, 't120-a'], [$::H, 't120-h']),
  ::intact('alice', $::A, 'alice'), ::intact('ka', $::H, 'ka') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ (200, 200, 200, 200, 200, 404) x 2, ::intact_codes(), ::intact_codes() ]
--- response_body_like eval
[ (map { my ($id, $m) = @$_;
         (::x(::lease_body(id => $id, keepAlive => 1)), ::x(::lease_body(id => $id, keepAlive => 1, resumed => 1)),
          ::x(::result(0, "$m\n")), ::stream_result("$m\n"), ::x($::Ok), ::not_owned($id)) }
   [$::A, 'alice'], [$::H, 'ka']),
  ::intact_bodies($::A, 'alice'), ::intact_bodies($::H, 'ka') ]



=== TEST 8: the admin HMAC key (kadm) acts on every lease too: resume, exec, streaming exec on all three; bob's and ka's leases stay theirs
--- request eval
sub {
[ (map { (::resume('kadm', $_->[0]), ::exe('kadm', $_->[0], 'sh', '-c', 'cat /workspace/paperclip/marker 2>/dev/null || echo none'),
          ::stream('kadm', $_->[0], 'echo', 'admin')) } [$::A], [$::H], [$::R]),
  ::acquire('kadm', 't120-h'),
  ::resume('kb', $::H),
  ::intact('ka', $::H, 'ka') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ (200) x 9, 200, 404, ::intact_codes() ]
--- response_body_like eval
sub {
[ (map { (::x(::lease_body(id => $_->[0], keepAlive => 1, resumed => 1)), ::x(::result(0, "$_->[1]\n")),
          ::stream_result("admin\n")) } [$::A, 'alice'], [$::H, 'ka'], [$::R, 'none']),
  ::x(::lease_body(id => $::H, keepAlive => 1)),
  ::not_owned($::H),
  ::intact_bodies($::H, 'ka') ]
}



=== TEST 9: admins destroy others' leases: the admin token DELETEs alice's, kadm releases ka's and DELETEs bob's; the owners then find them gone
--- request eval
sub {
[ ::del('admin', $::A), ::containers($::A), ::resume('alice', $::A),
  ::release('kadm', $::H), ::containers($::H), ::resume('ka', $::H),
  ::del('kadm', $::R), ::containers($::R), ::resume('bob', $::R), ::del('bob', $::R) ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 409, 200, 200, 409, 200, 200, 409, 200 ]
--- response_body_like eval
sub {
[ ::x($::Ok), $::None, ::x($::Lost), ::x($::Ok), $::None, ::x($::Lost), ::x($::Ok), $::None, ::x($::Lost), ::x($::Ok) ]
}



=== TEST 10: a destroyed lease's id is free again: bob (bearer) now acquires t120-a and owns it; alice is refused; kb acquires t120-h; the owners destroy them
--- request eval
sub {
[ ::acquire('bob', 't120-a'), ::resume('alice', $::A), ::del('alice', $::A),
  ::acquire('kb', 't120-h'), ::acquire('ka', 't120-h'), ::del('ka', $::H),
  ::del('bob', $::A), ::release('kb', $::H),
  ::containers($::A), ::containers($::H) ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 404, 404, 200, 409, 404, 200, 200, 200, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => $::A, keepAlive => 1)), ::not_owned($::A), ::not_owned($::A),
  ::x(::lease_body(id => $::H, keepAlive => 1)), $::Conflict, ::not_owned($::H),
  ::x($::Ok), ::x($::Ok), $::None, $::None ]



=== TEST 11: nothing is left: no container and no lease key of t120:; the nonces of this file are removed
--- request eval
sub {
my $port = $ENV{TEST_NGINX_REDIS_PORT};
my @leases = ::redis_keys($port, 't120:lease:*');
die "lease keys left behind: @leases\n" if @leases;
my @nonces = ::redis_keys($port, 't120:nonce:*');
die "no nonce was remembered under t120:nonce:*\n" unless @nonces;
::redis_cli($port, 'DEL', $_) for @nonces;
my @left = grep { !/^t120:(?:reaper:|deployment:|node:)/ } ::redis_keys($port, 't120:*');
die "keys left behind: @left\n" if @left;
[ ::containers() ]
}
--- more_headers eval
sub { ::hdrs() }
--- response_body_like eval
[ $::None ]
