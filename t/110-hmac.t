# Signed requests (README "Signed requests", directives sandbox_auth
# hmac|any, sandbox_auth_hmac_key_file, sandbox_auth_hmac_skew,
# sandbox_auth_hmac_hosts; README "Differences" D1): requests signed with the shipped
# signer succeed on every route; replayed, expired, skewed, forged,
# malformed and wrong-host signatures, and requests that differ from the
# signed one in any signed part (method, path, query, Host, ts, nonce, body,
# keyId, sig), get 401; several keys at once and key rotation; `hmac`
# refuses bearer tokens, `any` takes both, `bearer` takes no signature.
#
# Every signature comes from util/psb-sign (through SandboxBridge::Sign),
# except in TEST 13, an independent Perl implementation of the canonical
# request as README describes it.  Old and future timestamps are made by
# running util/psb-sign with a fake `date` first in its PATH (the signer
# takes its clock from `date +%s`); the signer itself is unchanged.
#
# "Modified part" tests sign one request and send a request that differs
# from it in exactly one signed part, with the original header; every such
# request is signed afresh, so its nonce was never seen and only the
# modification can be the reason for the refusal (the 401 message says
# which check failed).
#
# The harness sends a body without its leading/trailing white space, so
# every body here has none.  Redis prefix t110:; every lease made here is
# deleted, and the last block also removes the nonces this file left.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks ();
use SandboxBridge::Ready;
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use JSON::PP ();
use SandboxBridge::Sign ();
use SandboxBridge::Scenario qw(redis_cli redis_keys);

our $P     = '/api/paperclip-sandbox/v1';
our $Port  = server_port();
our $Token = 't110-bearer-token';

# the server's key file (TEST 1-10, 12-): two ordinary keys at once
our $Keys = <<'_K_';
# signing keys of t/110-hmac.t
k1 t110-secret-one-0123456789

k2 t110-secret-two-abcdefghij
_K_
# after rotation (TEST 11): k1 retired, k3 added
our $KeysRotated = <<'_K_';
k2 t110-secret-two-abcdefghij
k3 t110-secret-three-klmnopqrst
_K_
our %Secret = (k1 => 't110-secret-one-0123456789', k2 => 't110-secret-two-abcdefghij',
               k3 => 't110-secret-three-klmnopqrst');

# the signer knows every key, also the ones the server does not (k3 before
# the rotation, k9 never)
our $Sign  = SandboxBridge::Sign->new(keys => join '', map({ "$_ $Secret{$_}\n" } sort keys %Secret),
                                              "k9 t110-secret-nine-uvwxyz0123\n");
# the same key ids with other secrets (forgeries)
our $Forge = SandboxBridge::Sign->new(keys => "k1 t110-not-the-secret-000000\n"
                                            . "k2 t110-secret-two-abcdefghiJ\n");

our $Unauth   = '{"error":"unauthorized","message":"Missing or invalid bridge bearer token."}';
our $BadSig   = '{"error":"unauthorized","message":"Missing or invalid request signature."}';
our $Replayed = '{"error":"unauthorized","message":"Request nonce was already used."}';
our $Window   = '{"error":"unauthorized","message":"Request signature timestamp is outside the allowed window."}';
our $BadHost  = '{"error":"unauthorized","message":"Request Host is not allowed."}';
our $NeedSig  = '{"error":"unauthorized","message":"This location requires signed requests."}';
our $AnyUnauth = '^\{"error":"unauthorized","message":"(?:[^"\\\\]|\\\\.)+"\}\z';
our $Lost     = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $Ok       = '{"ok":true}';
our $Health   = '^\{"ok":true,"provider":"docker",.*"store":\{"backend":"redis","reachable":true\}';
our $None     = '^\[\]\s*\z';

our $HttpConfig = <<'_EOC_';
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t110: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_

# KEYS is replaced by the key file of the block
our $Config = <<'_EOC_';
    sandbox_auth any;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_auth_hmac_key_file $TEST_NGINX_HTML_DIR/KEYS;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /hmac/api/paperclip-sandbox/v1 {
        sandbox_auth hmac;
        sandbox_bridge;
    }
    location /bearer/api/paperclip-sandbox/v1 {
        sandbox_auth bearer;
        sandbox_bridge;
    }
    location /skew/api/paperclip-sandbox/v1 {
        sandbox_auth_hmac_skew 4s;
        sandbox_bridge;
    }
    location /pinned/api/paperclip-sandbox/v1 {
        sandbox_auth_hmac_hosts bridge.example localhost:$TEST_NGINX_SERVER_PORT;
        sandbox_bridge;
    }
    location /big/api/paperclip-sandbox/v1 {
        client_body_buffer_size 1k;
        sandbox_bridge;
    }
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

sub config_for { my $f = shift; (my $c = $::Config) =~ s/KEYS/$f/; $c }

my $J = JSON::PP->new->allow_nonref;
sub js { $J->encode($_[0]) }
sub jb { $_[0] ? 'true' : 'false' }
sub x  { '^' . quotemeta($_[0]) . '\z' }

# ------------------------------------------------------------ requests
# The request eval of a block builds its requests with these; each one
# pushes the request's headers onto @H, which the block's
# `--- more_headers eval` hands over with hdrs().

our (@H, $Last, $Saved);

sub req_text {
    my ($method, $uri, $body) = @_;
    return "$method $uri" . (defined $body && length $body ? "\n$body" : '');
}

# A request signed by util/psb-sign.  %o: key (k1), host (localhost), now
# (fake clock), signer; what is sent instead of the signed request, with
# its header: send_method, send_uri, send_host, send_body; edit => sub
# { $_[0]{field} = ... } changes fields of the header.
sub S {
    my ($method, $uri, $body, %o) = @_;
    $body //= '';
    my $host = $o{host} // 'localhost';
    my $auth = ($o{signer} // $Sign)->sign($o{key} // 'k1', $method, "http://$host$uri",
                                          $body, defined $o{now} ? (now => $o{now}) : ());
    if ($o{edit}) {
        my %h = SandboxBridge::Sign::parse($auth);
        $o{edit}->(\%h);
        $auth = SandboxBridge::Sign::header(%h);
    }
    return A($auth, $o{send_method} // $method, $o{send_uri} // $uri,
             $o{send_body} // $body, host => $o{send_host} // $host);
}

# a request with the given Authorization value (undef: none)
sub A {
    my ($auth, $method, $uri, $body, %o) = @_;
    push @H, "Host: " . ($o{host} // 'localhost') . "\n"
           . (defined $auth ? "Authorization: $auth\n" : '');
    $Last = [req_text($method, $uri, $body), $H[-1], $auth];
    return $Last->[0];
}

sub B { my ($tok, @r) = @_; A("Bearer $tok", @r) }     # bearer token
sub U { A(undef, @_) }                                  # no credentials

# the previous request once more, byte for byte (a replay)
sub again { push @H, $Last->[1]; $Last->[0] }

sub hdrs { my @h = @H; @H = (); \@h }

# ------------------------------------------------------------ expectations

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# the containers of a lease (labels lease id + our prefix), unauthenticated
sub containers {
    my $lease = shift;
    my $f = '{"label":["paperclip.bridge.prefix=t110:"'
          . (defined $lease ? ',"paperclip.bridge.lease=' . $lease . '"' : '') . ']}';
    return U('GET', "/_inspect/containers/json?all=1&filters=" . uri_escape($f));
}

# exactly one running container of the lease
sub one {
    my $lease = shift;
    return '^\[\{"Id":"[0-9a-f]{64}","Names":\["/t110-' . quotemeta($lease)
         . '"\](?:(?!"Id":").)*"State":"running"(?:(?!"Id":").)*\]\s*\z';
}

sub lease_body {
    my (%m) = @_;
    return '{"providerLeaseId":' . js($m{id}) . ',"metadata":{"provider":"docker"'
         . ',"remoteCwd":' . js($m{cwd} // '/workspace/paperclip')
         . ',"sandboxId":' . js($m{id})
         . ',"sessionStrategy":"named","sessionId":"paperclip"'
         . ',"keepAlive":' . jb($m{keepAlive})
         . ',"sleepAfter":' . js($m{sleepAfter} // '10m')
         . ',"normalizeId":true'
         . ',"resumedLease":' . jb($m{resumed}) . '}}';
}

sub result {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . $code . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err // '') . '}';
}

# ------------------------------------------------------------ the Perl signer
# An independent implementation of README "Signed requests" (TEST 13 only).
# %a: key, method, path, query, host, body, ts, nonce; canonical => sub
# { ... } may change the canonical text (negative controls).
sub perl_sign {
    my (%a) = @_;
    my $query = join '&', sort split /&/, $a{query} // '', -1;
    my $ts    = $a{ts} // time;
    my $nonce = $a{nonce} // join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
    my $canonical = join "\n", 'PSB-HMAC-SHA256', $a{method}, $a{path}, $query,
                    lc $a{host}, $ts, $nonce, sha256_hex($a{body} // '');
    $canonical = $a{canonical}->($canonical) if $a{canonical};
    my $sig = hmac_sha256_hex($canonical, $Secret{$a{key}});
    return "PSB-HMAC-SHA256 keyId=$a{key}, ts=$ts, nonce=$nonce, sig=$sig";
}

# ------------------------------------------------------------ housekeeping


no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('init', '@main::H = (); main::wait_store_ready()')
        unless defined $block->{init};
    $block->set_value('http_config', $HttpConfig) unless defined $block->{http_config};
    if (!defined $block->{config}) {
        $block->set_value('config', config_for('keys'));
    }
    $block->set_value('user_files', ">>> tokens\n$Token\n>>> keys\n$Keys"
                                    . ">>> keys-rotated\n$KeysRotated")
        unless defined $block->{user_files};
    $block->set_value('timeout', '30') unless defined $block->{timeout};
    # a refusal is logged at info level, never as an error
    $block->set_value('no_error_log', "[error]\n")
        unless defined $block->{no_error_log} || defined $block->{error_log};
    SandboxBridge::Blocks::prepare_block($block);
});

run_tests();

__DATA__

=== TEST 1: requests signed with the shipped signer succeed; two keys are active at once; bearer tokens keep working (`any`)
--- request eval
sub {
[ ::S('GET', "$::P/health"),
  ::S('GET', "$::P/health", '', key => 'k2'),
  ::S('GET', "$::P/health?verbose=1&a=b"),
  ::B($::Token, 'GET', "$::P/health") ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 200 ]
--- response_body_like eval
[ ($::Health) x 4 ]



=== TEST 2: a whole signed lease life: probe, acquire, resume, exec, streaming exec, release, DELETE (percent-encoded id)
The path is signed as sent: %2D in the DELETE path is not decoded for the
signature.
--- request eval
sub {
[ ::S('POST', "$::P/probe", '{}'),
  ::S('POST', "$::P/leases/acquire", '{"environmentId":"t110-signed","runId":"r1","reuseLease":true,"keepAlive":true}'),
  ::S('POST', "$::P/leases/resume", '{"providerLeaseId":"pc-env-t110-signed","keepAlive":true}'),
  ::S('POST', "$::P/exec", '{"providerLeaseId":"pc-env-t110-signed","command":"echo","args":["hi"]}'),
  ::S('POST', "$::P/exec", '{"providerLeaseId":"pc-env-t110-signed","command":"echo","args":["streamed"],"streamOutput":true}'),
  ::S('POST', "$::P/leases/release", '{"providerLeaseId":"pc-env-t110-signed","reuseLease":true}'),
  ::containers('pc-env-t110-signed'),
  ::S('DELETE', "$::P/leases/pc-env-t110%2Dsigned"),
  ::containers('pc-env-t110-signed'),
  ::S('POST', "$::P/leases/resume", '{"providerLeaseId":"pc-env-t110-signed"}') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 200, 200, 200, 200, 200, 200, 409 ]
--- response_body_like eval
[ '^\{"ok":true,"summary":"[^"]+","metadata":\{"provider":"docker","remoteCwd":"/workspace/paperclip","namedSessions":true,"stdout":"/workspace/paperclip\\\\n"\}\}\z',
  ::x(::lease_body(id => 'pc-env-t110-signed', keepAlive => 1)),
  ::x(::lease_body(id => 'pc-env-t110-signed', keepAlive => 1, resumed => 1)),
  ::x(::result(0, "hi\n")),
  '\Aevent: stdout\ndata: \{"data":"streamed\\\\n"\}\n\n' . quotemeta("event: complete\ndata: " . ::result(0, "streamed\n") . "\n\n") . '\z',
  ::x($::Ok),
  ::one('pc-env-t110-signed'),
  ::x($::Ok),
  $::None,
  ::x($::Lost) ]



=== TEST 3: a replayed request is refused (health, acquire, DELETE, reformatted header); the replayed acquire changes nothing
--- request eval
sub {
[ ::S('GET', "$::P/health"), ::again(),
  ::S('POST', "$::P/leases/acquire", '{"environmentId":"t110-replay","runId":"r1","reuseLease":true}'), ::again(),
  ::containers('pc-env-t110-replay'),
  ::S('DELETE', "$::P/leases/pc-env-t110-replay"), ::again(),
  ::containers('pc-env-t110-replay'),
  ::S('GET', "$::P/health"),
  # the same keyId, ts, nonce and sig, laid out differently
  do { my %h = SandboxBridge::Sign::parse($::Last->[2]);
       ::A("PSB-HMAC-SHA256 sig=$h{sig},nonce=$h{nonce} ,  ts=$h{ts},keyId=$h{keyId}", 'GET', "$::P/health") } ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 401, 200, 401, 200, 200, 401, 200, 200, 401 ]
--- response_body_like eval
[ $::Health, ::x($::Replayed),
  ::x(::lease_body(id => 'pc-env-t110-replay')), ::x($::Replayed),
  ::one('pc-env-t110-replay'),
  ::x($::Ok), ::x($::Replayed),
  $::None,
  $::Health, ::x($::Replayed) ]



=== TEST 4: a request that differs from the signed one in exactly one signed part -> 401 (method, path, query, Host, ts, nonce, body, keyId, sig)
The last three requests are controls: the unmodified signed request passes
authentication (resume of an unknown lease -> 409), the query's order and
the Host's case are not signed.
--- request eval
sub {
my $r = '{"providerLeaseId":"pc-env-t110-nothing"}';
my $flip = sub { my $s = shift; substr($s, -1, 1) = substr($s, -1) eq '0' ? '1' : '0'; $s };
[ ::S('GET', "$::P/health", '', send_method => 'POST'),
  ::S('POST', "$::P/leases/resume", $r, send_method => 'PUT'),
  ::S('GET', "$::P/health", '', send_uri => "$::P/health/"),
  ::S('GET', "$::P/health", '', send_uri => "$::P/heal%74h"),
  ::S('GET', "$::P/health", '', send_uri => "/hmac$::P/health"),
  ::S('GET', "$::P/health?x=1", '', send_uri => "$::P/health?x=2"),
  ::S('GET', "$::P/health", '', send_uri => "$::P/health?x=1"),
  ::S('GET', "$::P/health?x=1", '', send_uri => "$::P/health"),
  ::S('GET', "$::P/health?x=1", '', send_uri => "$::P/health?x=1&x=1"),
  ::S('GET', "$::P/health", '', send_host => '127.0.0.1'),
  ::S('GET', "$::P/health", '', send_host => "localhost:$::Port"),
  ::S('GET', "$::P/health", '', edit => sub { $_[0]{ts}++ }),
  ::S('GET', "$::P/health", '', edit => sub { $_[0]{ts}-- }),
  ::S('GET', "$::P/health", '', edit => sub { $_[0]{nonce} = $flip->($_[0]{nonce}) }),
  ::S('POST', "$::P/leases/resume", $r, send_body => '{"providerLeaseId":"pc-env-t110-nothinG"}'),
  ::S('POST', "$::P/leases/resume", $r, send_body => '{"providerLeaseId": "pc-env-t110-nothing"}'),
  ::S('POST', "$::P/leases/resume", $r, send_body => ''),
  ::S('POST', "$::P/leases/resume", '', send_body => $r),
  ::S('GET', "$::P/health", '', edit => sub { $_[0]{keyId} = 'k2' }),
  ::S('GET', "$::P/health", '', edit => sub { $_[0]{sig} = $flip->($_[0]{sig}) }),
  # controls
  ::S('POST', "$::P/leases/resume", $r),
  ::S('GET', "$::P/health?b=2&a=1&c", '', send_uri => "$::P/health?c&a=1&b=2"),
  ::S('GET', "$::P/health", '', host => 'LocalHost', send_host => 'LOCALHOST') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ (401) x 20, 409, 200, 200 ]
--- response_body_like eval
[ (::x($::BadSig)) x 20, ::x($::Lost), $::Health, $::Health ]



=== TEST 5: expired and future timestamps with the default skew (300s): +-3600/+-400 s -> 401, +-200 s -> 200
--- request eval
sub {
my $now = time;
[ map { ::S('GET', "$::P/health", '', now => $now + $_) } -3600, 3600, -400, 400, -200, 200 ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 401, 401, 401, 401, 200, 200 ]
--- response_body_like eval
[ (::x($::Window)) x 4, $::Health, $::Health ]



=== TEST 6: sandbox_auth_hmac_skew 4s (room for the real harness's per-block nginx restart): a signature from a clock 7 or 10 s off -> 401; the current clock -> 200
--- request eval
sub {
my $now = time;
[ map { ::S('GET', "/skew$::P/health", '', now => $now + $_) } -10, 10, -7, 7, 0 ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 401, 401, 401, 401, 200 ]
--- response_body_like eval
[ (::x($::Window)) x 4, $::Health ]



=== TEST 7: forged signatures: wrong secret, unknown key, made-up sig -> 401
--- request eval
sub {
my %h = SandboxBridge::Sign::parse($::Sign->sign('k1', 'GET', "http://localhost$::P/health"));
[ ::S('GET', "$::P/health", '', signer => $::Forge),
  ::S('GET', "$::P/health", '', signer => $::Forge, key => 'k2'),
  ::S('GET', "$::P/health", '', key => 'k9'),
  ::S('GET', "$::P/health", '', key => 'k3'),
  ::A(SandboxBridge::Sign::header(%h, sig => '0' x 64), 'GET', "$::P/health"),
  ::A(SandboxBridge::Sign::header(%h, sig => CORE::join '', map { sprintf '%x', int rand 16 } 1 .. 64), 'GET', "$::P/health"),
  ::A(SandboxBridge::Sign::header(%h, sig => ::hmac_sha256_hex('', $::Secret{k1})), 'GET', "$::P/health"),
  # the untouched header is fine (its nonce was not used up by the forgeries)
  ::A(SandboxBridge::Sign::header(%h), 'GET', "$::P/health") ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ (401) x 7, 200 ]
--- response_body_like eval
[ (::x($::BadSig)) x 7, $::Health ]



=== TEST 8: malformed signature headers -> 401 unauthorized
--- request eval
sub {
my %h = SandboxBridge::Sign::parse($::Sign->sign('k1', 'GET', "http://localhost$::P/health"));
my $hd = sub { my %o = (%h, @_); CORE::join ', ', map { "$_=$o{$_}" } grep { defined $o{$_} } qw(keyId ts nonce sig) };
my @bad = (
    'PSB-HMAC-SHA256',
    'PSB-HMAC-SHA256 ',
    'PSB-HMAC-SHA256 ' . $hd->(sig => undef),
    'PSB-HMAC-SHA256 ' . $hd->(nonce => undef),
    'PSB-HMAC-SHA256 ' . $hd->(ts => undef),
    'PSB-HMAC-SHA256 ' . $hd->(keyId => undef),
    'PSB-HMAC-SHA256 ' . $hd->(sig => substr($h{sig}, 1)),
    'PSB-HMAC-SHA256 ' . $hd->(sig => $h{sig} . '0'),
    'PSB-HMAC-SHA256 ' . $hd->(sig => 'g' . substr($h{sig}, 1)),
    'PSB-HMAC-SHA256 ' . $hd->(nonce => 'abcdef012345678'),
    'PSB-HMAC-SHA256 ' . $hd->(nonce => 'x' x 129),
    'PSB-HMAC-SHA256 ' . $hd->(nonce => 'abcdef0123456789.+'),
    'PSB-HMAC-SHA256 ' . $hd->(ts => 'now'),
    'PSB-HMAC-SHA256 ' . $hd->(ts => ''),
    'PSB-HMAC-SHA256 ' . $hd->(ts => '-' . $h{ts}),
    'PSB-HMAC-SHA256 ' . $hd->(keyId => 'k' x 65),
    'PSB-HMAC-SHA256 ' . $hd->(keyId => 'k1/'),
    'PSB-HMAC-SHA256 ' . $hd->() . ", keyId=k1",
    'PSB-HMAC-SHA256 ' . $hd->() . ", extra=1",
    'PSB-HMAC-SHA256 ' . $hd->() . ", sig",
    'PSB-HMAC-SHA256' . $hd->(),
    'psb-hmac-sha256 ' . $hd->(),
    'PSB-HMAC-SHA1 ' . $hd->(),
    'Bearer ' . $hd->(),
);
[ map { ::A($_, 'GET', "$::P/health") } @bad ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ (401) x 24 ]
--- response_headers eval
[ ("Content-Type: application/json") x 24 ]
--- response_body_like eval
[ ($::AnyUnauth) x 24 ]



=== TEST 9: sandbox_auth_hmac_hosts: the Host must be one of the pinned values (case-insensitive, port as sent), even when correctly signed
--- request eval
sub {
[ map({ ::S('GET', "/pinned$::P/health", '', host => $_) }
      'bridge.example', 'BRIDGE.Example', "localhost:$::Port",
      'evil.example', "bridge.example:$::Port", 'bridge.example:443', 'localhost', 'bridge.example.evil'),
  ::B($::Token, 'GET', "/pinned$::P/health", '', host => 'evil.example') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 401, 401, 401, 401, 401, 200 ]
--- response_body_like eval
[ ($::Health) x 3, (::x($::BadHost)) x 5, $::Health ]



=== TEST 10: sandbox_auth hmac refuses bearer tokens (also for acquire: nothing is created); any takes both; bearer takes no signature
--- request eval
sub {
[ ::S('GET', "/hmac$::P/health"),
  ::B($::Token, 'GET', "/hmac$::P/health"),
  ::B($::Token, 'POST', "/hmac$::P/leases/acquire", '{"environmentId":"t110-hmac-only","runId":"r","reuseLease":true}'),
  ::containers('pc-env-t110-hmac-only'),
  ::U('GET', "/hmac$::P/health"),
  ::S('GET', "$::P/health"),
  ::B($::Token, 'GET', "$::P/health"),
  ::B('wrong-token', 'GET', "$::P/health"),
  ::U('GET', "$::P/health"),
  ::B($::Token, 'GET', "/bearer$::P/health"),
  ::S('GET', "/bearer$::P/health") ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 401, 401, 200, 401, 200, 200, 401, 401, 200, 401 ]
--- response_body_like eval
[ $::Health, ::x($::NeedSig), ::x($::NeedSig), $::None, $::AnyUnauth,
  $::Health, $::Health, ::x($::Unauth), ::x($::Unauth),
  $::Health, ::x($::Unauth) ]



=== TEST 11: rotation, step 1: k1 and k2 both accepted; a k2 request is kept for a replay after the restart
--- request eval
sub {
[ ::S('GET', "$::P/health", '', key => 'k1'),
  ::S('GET', "$::P/health", '', key => 'k2'),
  do { my $r = ::S('GET', "$::P/health", '', key => 'k2'); $::Saved = $::Last; $r },
  ::S('GET', "$::P/health", '', key => 'k3') ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 401 ]
--- response_body_like eval
[ ($::Health) x 3, ::x($::BadSig) ]



=== TEST 12: rotation, step 2 (new key file k2 + k3, nginx restarted): k1 is refused, k2 and k3 work, the old k2 request is still a replay (nonces live in Redis)
--- config eval
::config_for('keys-rotated')
--- request eval
sub {
[ ::S('GET', "$::P/health", '', key => 'k1'),
  ::S('GET', "$::P/health", '', key => 'k2'),
  ::S('GET', "$::P/health", '', key => 'k3'),
  do { push @::H, $::Saved->[1]; $::Saved->[0] },
  ::B($::Token, 'GET', "$::P/health") ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 401, 200, 200, 401, 200 ]
--- response_body_like eval
[ ::x($::BadSig), $::Health, $::Health, ::x($::Replayed), $::Health ]



=== TEST 13: README's canonical request, implemented independently in Perl, is what the module accepts
Controls that must fail: a final newline, an unsorted query, the Host not
lowercased, the body digest of a different body, the path without its
trailing slash, uppercase hex.
--- request eval
sub {
my $host = "LocalHost:$::Port";
my $body = '{"providerLeaseId":"pc-env-t110-perl"}';
my $g = sub { my ($path, $query, %o) = @_;
              ::A(::perl_sign(key => 'k2', method => 'GET', path => $path, query => $query,
                              host => $host, %o),
                  'GET', $path . (defined $query ? "?$query" : ''), '', host => $host) };
[ $g->("$::P/health"),
  $g->("$::P/health", 'b=2&a=1&c=&a=0'),
  $g->("$::P/health/"),
  $g->("$::P/health", 'a=1&'),
  $g->("$::P/health", ''),
  ::A(::perl_sign(key => 'k1', method => 'POST', path => "$::P/leases/resume", host => $host, body => $body),
      'POST', "$::P/leases/resume", $body, host => $host),
  # controls
  $g->("$::P/health", undef, canonical => sub { "$_[0]\n" }),
  $g->("$::P/health", 'b=2&a=1', canonical => sub { my $c = shift; $c =~ s/\na=1&b=2\n/\nb=2&a=1\n/ or die; $c }),
  $g->("$::P/health", undef, canonical => sub { my $c = shift; $c =~ s/\nlocalhost:/\nLocalHost:/ or die; $c }),
  ::A(::perl_sign(key => 'k1', method => 'POST', path => "$::P/leases/resume", host => $host, body => "$body\n"),
      'POST', "$::P/leases/resume", $body, host => $host),
  ::A(::perl_sign(key => 'k1', method => 'GET', path => "$::P/health", host => $host),
      'GET', "$::P/health/", '', host => $host),
  do { my %h = SandboxBridge::Sign::parse(::perl_sign(key => 'k1', method => 'GET', path => "$::P/health", host => $host));
       ::A(SandboxBridge::Sign::header(%h, sig => uc $h{sig}), 'GET', "$::P/health", '', host => $host) } ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 200, 200, 409, 401, 401, 401, 401, 401, 401 ]
--- response_body_like eval
[ ($::Health) x 5, ::x($::Lost), ($::AnyUnauth) x 6 ]



=== TEST 14: the shipped signer with empty query parts (leading, doubled, trailing "&", a bare "?") -> 200
--- request eval
sub {
[ map { ::S('GET', "$::P/health$_") } '?&a=1', '?a=1&&b=2', '?a=1&', '?' ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 200, 200, 200, 200 ]
--- response_body_like eval
[ ($::Health) x 4 ]



=== TEST 15: a signed body that nginx buffers to a file (64 KB, client_body_buffer_size 1k) is verified; one byte changed -> 401
--- request eval
sub {
my $pad = 'p' x 65536;
my $b1 = qq{{"providerLeaseId":"pc-env-t110-big","pad":"$pad"}};
(my $b2 = $b1) =~ s/p"}\z/q"}/ or die;
[ ::S('POST', "/big$::P/leases/resume", $b1),
  ::S('POST', "/big$::P/leases/resume", $b1, send_body => $b2) ]
}
--- more_headers eval
sub { ::hdrs() }
--- error_code eval
[ 409, 401 ]
--- response_body_like eval
[ ::x($::Lost), ::x($::BadSig) ]
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 16: a signed body that arrives in two packets 0.5 s apart is verified
--- raw_request eval
sub {
my $body = '{"providerLeaseId":"pc-env-t110-slow","pad":"' . ('s' x 4000) . '"}';
my $auth = $::Sign->sign('k1', 'POST', "http://localhost$::P/leases/resume", $body);
[ "POST $::P/leases/resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Authorization: $auth\r\nContent-Type: application/json\r\n"
  . "Content-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 2000),
  substr($body, 2000) ]
}
--- raw_request_middle_delay: 0.5
--- error_code: 409
--- response_body eval
$::Lost



=== TEST 17: the same, with the second packet changed by one byte -> 401
--- raw_request eval
sub {
my $body = '{"providerLeaseId":"pc-env-t110-slow","pad":"' . ('s' x 4000) . '"}';
my $auth = $::Sign->sign('k1', 'POST', "http://localhost$::P/leases/resume", $body);
(my $sent = $body) =~ s/s"}\z/t"}/ or die;
[ "POST $::P/leases/resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Authorization: $auth\r\nContent-Type: application/json\r\n"
  . "Content-Length: " . length($sent) . "\r\n\r\n" . substr($sent, 0, 2000),
  substr($sent, 2000) ]
}
--- raw_request_middle_delay: 0.5
--- error_code: 401
--- response_body eval
$::BadSig



=== TEST 18: a chunked signed body is verified over its decoded bytes
--- raw_request eval
sub {
my $body = '{"providerLeaseId":"pc-env-t110-chunked"}';
my $auth = $::Sign->sign('k2', 'POST', "http://localhost$::P/leases/resume", $body);
my ($c1, $c2) = (substr($body, 0, 10), substr($body, 10));
"POST $::P/leases/resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Authorization: $auth\r\nTransfer-Encoding: chunked\r\n\r\n"
  . sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", length $c1, $c1, length $c2, $c2)
}
--- error_code: 409
--- response_body eval
$::Lost



=== TEST 19: nothing is left: no container and no lease key of t110:; the nonces of this file are removed
--- request eval
sub {
my $port = $ENV{TEST_NGINX_REDIS_PORT};
my @leases = ::redis_keys($port, 't110:lease:*');
die "lease keys left behind: @leases\n" if @leases;
my @nonces = ::redis_keys($port, 't110:nonce:*');
die "no nonce was remembered under t110:nonce:*\n" unless @nonces;
::redis_cli($port, 'DEL', $_) for @nonces;
my @left = grep { $_ ne 't110:reaper:lock' } ::redis_keys($port, 't110:*');
die "keys left behind: @left\n" if @left;
[ ::containers() ]
}
--- more_headers eval
sub { ::hdrs() }
--- response_body_like eval
[ $::None ]
