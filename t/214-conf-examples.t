# conf-examples/production.conf and conf-examples/signed-only.conf, rendered
# with util/render-conf and files this test makes (a self-signed
# certificate from openssl, token and key files): `nginx -t` accepts each,
# and each runs here: production.conf answers over TLS to a bearer token,
# to a signed request (util/psb-sign) and to the admin token, serves
# metrics to 127.0.0.1 but not to 127.0.0.2, and writes README's access
# log line; signed-only.conf takes only signed requests
# for its pinned Host.  Plain Test::More; stops every nginx it starts.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Cwd qw(getcwd);
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(free_port redis_keys redis_cli wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Root   = getcwd();
my $Render = "$Root/util/render-conf";
my $Signer = "$Root/util/psb-sign";
my $Nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my ($Module) = grep { /ngx_http_sandbox_bridge_module\.so$/ }
               split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
$Module //= "$Root/build/module/ngx_http_sandbox_bridge_module.so";
my $Redis = $ENV{TEST_NGINX_REDIS_PORT};
my $Api = '/api/paperclip-sandbox/v1';

my $Dir = tempdir('psb-t214-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub slurp { my $f = shift; open my $in, '<', $f or return ''; local $/; <$in> // '' }
sub spew {
    my ($f, $text) = @_;
    open my $o, '>', $f or die "$f: $!";
    print $o $text;
    close $o;
    chmod 0600, $f;
}
sub run { my $out = `@_ 2>&1`; return ($? >> 8, $out) }

my $Nonces = { map { $_ => 1 } redis_keys($Redis, 'psb:nonce:*') };

# ------------------------------------------------ files an operator makes

my ($rc, $out) = run("openssl req -x509 -newkey rsa:2048 -nodes -days 1"
                     . " -subj /CN=localhost -addext subjectAltName=DNS:localhost"
                     . " -keyout $Dir/tls.key -out $Dir/tls.crt");
is($rc, 0, 'openssl makes a certificate') or diag $out;

my $Token = 'prod-' . join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 32;
my $Admin = 'adm-' . join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 32;
my $Secret = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40;
spew("$Dir/tokens", "$Token\n");
spew("$Dir/admin-tokens", "$Admin\n");
spew("$Dir/keys", "k1 $Secret\n");

my %Started;

sub stop_nginx {
    my $prefix = shift;
    my $pid = slurp("$prefix/nginx.pid") =~ /(\d+)/ ? $1 : undef;
    return unless $pid;
    kill 'QUIT', $pid;
    wait_until(sub { !kill 0, $pid }, 10);
    kill 'KILL', $pid if kill 0, $pid;
    delete $Started{$prefix};
}
END { local $?; stop_nginx($_) for keys %Started }

# render TEMPLATE into its own prefix; returns the prefix
sub render {
    my ($template, %vars) = @_;
    my $prefix = tempdir("$Dir/run-XXXXXX");
    # (where nginx logs before it has read the configuration)
    mkdir "$prefix/logs";
    # make test-asan: an nginx that exits without freeing its cycle (-t,
    # the parent of a daemon) leaks what the configuration loaded, and
    # OpenSSL's frames hide where; leaks are not this file's subject
    local $ENV{ASAN_OPTIONS} = "$ENV{ASAN_OPTIONS}:detect_leaks=0"
        if $ENV{ASAN_OPTIONS};
    local @ENV{keys %vars} = values %vars;
    local $ENV{BRIDGE_MODULE} = $Module;
    local $ENV{BRIDGE_PREFIX} = $prefix;
    local $ENV{BRIDGE_USER} = scalar getpwuid($<);
    local $ENV{BRIDGE_GROUP} = scalar getgrgid($( + 0);
    local $ENV{BRIDGE_REDIS} = "127.0.0.1:$Redis";
    local $ENV{BRIDGE_DOCKER_SOCKET} = $ENV{TEST_NGINX_DOCKER_SOCKET};
    local $ENV{BRIDGE_IMAGE} = $ENV{TEST_NGINX_SANDBOX_IMAGE};
    is(system($^X, $Render, "$Root/conf-examples/$template",
              "$prefix/nginx.conf"), 0, "render-conf renders $template");
    my $text = slurp("$prefix/nginx.conf");
    unlike(join('', grep { !/^\s*#/ } split /^/m, $text),
           qr/\$\{BRIDGE_/, "$template: no placeholder is left");
    my ($rc, $out) = run("$Nginx -p $prefix/ -c $prefix/nginx.conf -t");
    is($rc, 0, "nginx -t accepts $template") or diag $out;
    my @warn = grep { /\[(?:warn|error|crit|alert|emerg)\]/
                      && !/the "user" directive makes sense only if/ }
               split /\n/, $out;
    is_deeply(\@warn, [], "$template: nginx -t warns of nothing");
    ($rc, $out) = run("$Nginx -p $prefix/ -c $prefix/nginx.conf");
    is($rc, 0, "nginx runs $template") or diag $out;
    $Started{$prefix} = 1;
    return $prefix;
}

# curl: (status, body)
sub curl {
    my ($url, @h) = @_;
    my $args = join ' ', map { /^--/ ? $_ : "-H '$_'" } @h;
    my $o = `curl -sS --max-time 20 --cacert $Dir/tls.crt $args -w '\n%{http_code}' '$url' 2>&1`;
    my ($body, $code) = $o =~ /\A(.*)\n(\d{3})\z/s;
    return ($code // 0, $body // $o);
}

sub sign { my $o = `sh $Signer $Dir/keys k1 @_`; chomp $o; return $o }

# ------------------------------------------------ production.conf

my $P = free_port();
my $prod = render('production.conf',
                  BRIDGE_LISTEN => "127.0.0.1:$P", BRIDGE_SERVER_NAME => 'localhost',
                  BRIDGE_TLS_CERT => "$Dir/tls.crt", BRIDGE_TLS_KEY => "$Dir/tls.key",
                  BRIDGE_TOKEN_FILE => "$Dir/tokens",
                  BRIDGE_ADMIN_TOKEN_FILE => "$Dir/admin-tokens",
                  BRIDGE_HMAC_KEY_FILE => "$Dir/keys");
my $Base = "https://localhost:$P$Api";
ok(wait_until(sub { (curl("$Base/openapi.json"))[0] == 200 }, 20),
   'production.conf: up over TLS');

my ($code, $body) = curl("$Base/health", "Authorization: Bearer $Token");
is($code, 200, 'production.conf: health over TLS with a bearer token');
like($body, qr/\A\{"ok":true,/, 'production.conf: the health answer');

($code, $body) = curl("$Base/health", 'Authorization: ' . sign('GET', "$Base/health"));
is($code, 200, 'production.conf: health with a signed request') or diag $body;

($code) = curl("$Base/leases", "Authorization: Bearer $Token");
is($code, 404, 'production.conf: no admin view for a plain token');
($code, $body) = curl("$Base/leases?limit=10", "Authorization: Bearer $Admin");
is($code, 200, 'production.conf: the admin view for the admin token');
like($body, qr/\A\{"leases":\[/, 'production.conf: a page of leases');

($code, $body) = curl("https://localhost:$P/metrics");
is($code, 200, 'production.conf: metrics for 127.0.0.1, without a credential');
like($body, qr/^sandbox_bridge_requests_total\{route="health",status="200"\} 2$/m,
     'production.conf: the metrics count the two health requests');
($code) = curl("https://localhost:$P/metrics", '--interface 127.0.0.2');
is($code, 403, 'production.conf: no metrics for an address outside the allowed networks');

($code) = curl("http://localhost:$P$Api/health");
isnt($code, 200, 'production.conf: no plain HTTP');

ok(wait_until(sub { slurp("$prod/access.log") =~ /route=leases/ }, 10),
   'production.conf: the access log is written');
like(slurp("$prod/access.log"),
     qr{"GET $Api/health HTTP/1\.1" 200 route=health lease=- credential=tok-[0-9a-f]{16} exit=- ms=- host=/_docker error=- [\d.]+\n},
     'production.conf: README\'s access log line');
like(slurp("$prod/access.log"), qr{ credential=hmac:k1 }, 'production.conf: the signing key\'s id');
unlike(slurp("$prod/access.log") . slurp("$prod/error.log"),
       qr/\Q$Token\E|\Q$Admin\E|\Q$Secret\E/, 'production.conf: no secret in the logs');
unlike(slurp("$prod/error.log"), qr/\[(?:alert|crit|emerg)\]/,
       'production.conf: no alert');

# ------------------------------------------------ signed-only.conf

my $S = free_port();
my $signed = render('signed-only.conf', BRIDGE_LISTEN => "127.0.0.1:$S",
                    BRIDGE_SERVER_NAME => 'localhost',
                    BRIDGE_HMAC_KEY_FILE => "$Dir/keys",
                    BRIDGE_HMAC_HOST => "localhost:$S");
my $SBase = "http://localhost:$S$Api";
ok(wait_until(sub { (curl("$SBase/openapi.json"))[0] == 200 }, 20),
   'signed-only.conf: up');

($code, $body) = curl("$SBase/health", 'Authorization: ' . sign('GET', "$SBase/health"));
is($code, 200, 'signed-only.conf: a signed request for the pinned Host') or diag $body;

($code, $body) = curl("$SBase/health", "Authorization: Bearer $Token");
is($code, 401, 'signed-only.conf: a bearer token is refused');
is($body, '{"error":"unauthorized","message":"This location requires signed requests."}',
   'signed-only.conf: "requires signed requests"');

my $Other = "http://127.0.0.1:$S$Api/health";
($code, $body) = curl($Other, 'Authorization: ' . sign('GET', $Other));
is($code, 401, 'signed-only.conf: a request signed for another Host is refused');
is($body, '{"error":"unauthorized","message":"Request Host is not allowed."}',
   'signed-only.conf: "Request Host is not allowed."');
unlike(slurp("$signed/error.log"), qr/\[(?:alert|crit|emerg)\]|\Q$Secret\E/,
       'signed-only.conf: no alert, no secret');

stop_nginx($_) for keys %Started;

# the nonces these requests left
redis_cli($Redis, 'DEL', $_)
    for grep { !$Nonces->{$_} } redis_keys($Redis, 'psb:nonce:*');

done_testing();
