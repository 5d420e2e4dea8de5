# conf-examples/quickstart.conf must keep working: render it with
# util/render-conf exactly as `make run` (util/run.sh) does, check it with
# `nginx -t`, run it on a free port in a private prefix, talk to it, stop it.
# Plain Test::More: this file manages its own nginx and leaves nothing
# running (END and signal handlers stop it).
use strict;
use warnings;

use Cwd qw(getcwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use SandboxBridge::Prom ();

my $Root     = getcwd();
my $Template = "$Root/conf-examples/quickstart.conf";
my $Render   = "$Root/util/render-conf";
my $Nginx    = $ENV{TEST_NGINX_BINARY} || 'nginx';
my ($Module) = grep { /ngx_http_sandbox_bridge_module\.so$/ }
               split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
$Module //= "$Root/build/module/ngx_http_sandbox_bridge_module.so";

for my $v (qw(TEST_NGINX_REDIS_HOST TEST_NGINX_REDIS_PORT TEST_NGINX_DOCKER_SOCKET
              TEST_NGINX_SANDBOX_IMAGE)) {
    plan skip_all => "$v is not set (source build/services.env)" unless defined $ENV{$v};
}
plan skip_all => "module $Module not built" unless -f $Module;

my $Unauth = '{"error":"unauthorized","message":"Missing or invalid bridge bearer token."}';
my $Health = '{"ok":true,"provider":"docker","bridgeVersion":"0.1.0",'
    . '"capabilities":{"reuseLease":true,"namedSessions":true,"previewUrls":false},'
    . '"store":{"backend":"redis","reachable":true},'
    . '"driver":{"name":"docker","reachable":true}}';
my $Base = '/api/paperclip-sandbox/v1';

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1) or die "free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub slurp { my $f = shift; open my $in, '<', $f or return ''; local $/; <$in> // '' }

sub redis_keys {
    my $pattern = shift;
    my $out = `redis-cli -h $ENV{TEST_NGINX_REDIS_HOST} -p $ENV{TEST_NGINX_REDIS_PORT} --scan --pattern '$pattern' 2>/dev/null`;
    return { map { $_ => 1 } grep { /\S/ } split /\n/, $out };
}

# ------------------------------------------------------------ render

my $Prefix = tempdir('psb-quickstart-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $Port   = free_port();
my $Token  = 'qs-' . join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40;
my $TokenFile = "$Prefix/bridge-token";
{
    open my $o, '>', $TokenFile or die "$TokenFile: $!";
    print $o "$Token\n";
    close $o;
    chmod 0600, $TokenFile;
}
mkdir "$Prefix/$_" for qw(conf logs tmp);

# the variables util/run.sh exports for the template
local $ENV{BRIDGE_PORT}          = $Port;
local $ENV{BRIDGE_MODULE}        = $Module;
local $ENV{BRIDGE_TOKEN_FILE}    = $TokenFile;
local $ENV{BRIDGE_REDIS}         = "$ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT}";
local $ENV{BRIDGE_DOCKER_SOCKET} = $ENV{TEST_NGINX_DOCKER_SOCKET};
local $ENV{BRIDGE_IMAGE}         = $ENV{TEST_NGINX_SANDBOX_IMAGE};
local $ENV{BRIDGE_PREFIX}        = $Prefix;
local $ENV{BRIDGE_USER}          = scalar getpwuid($<);

my $Conf = "$Prefix/conf/nginx.conf";
is(system($^X, $Render, $Template, $Conf), 0, 'util/render-conf renders quickstart.conf');
my $text = slurp($Conf);
unlike(join('', grep { !/^\s*#/ } split /^/m, $text), qr/\$\{BRIDGE_[A-Z0-9_]+\}/,
       'no ${BRIDGE_...} placeholder is left');
unlike($text, qr/^\s*daemon\s/m, 'the template does not set "daemon" (run.sh passes -g)');
like($text, qr/^\s*load_module\s+\Q$Module\E;/m, 'the module is loaded from the build');
like($text, qr/\bsandbox_bridge\b/, 'the template serves the bridge');

# a template that grows a placeholder run.sh does not export must fail to render
{
    local $ENV{BRIDGE_IMAGE};
    delete $ENV{BRIDGE_IMAGE};
    my $rc = system("$^X $Render $Template $Prefix/conf/unset.conf 2>/dev/null");
    isnt($rc, 0, 'render-conf refuses to render with a variable unset');
    ok(!-e "$Prefix/conf/unset.conf", '... and writes nothing');
}

# ------------------------------------------------------------ nginx -t

my @NginxCmd = ($Nginx, '-p', "$Prefix/", '-c', 'conf/nginx.conf', '-g', 'daemon off;');
{
    my $out = `@{[ join ' ', map { "'$_'" } @NginxCmd ]} -t 2>&1`;
    is($? >> 8, 0, 'nginx -t accepts the rendered quickstart.conf') or diag($out);
    like($out, qr/test is successful/, 'nginx -t reports success');
    # (run as non-root, nginx warns that "user root" is ignored; that is fine)
    my @warn = grep { /\[(warn|error|crit|alert|emerg)\]/
                      && !/the "user" directive makes sense only if/ } split /\n/, $out;
    is_deeply(\@warn, [], 'nginx -t prints no warning');
}

# ------------------------------------------------------------ run

my $Pid;
sub stop_nginx {
    return unless $Pid;
    kill 'QUIT', $Pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        last if waitpid($Pid, WNOHANG) == $Pid;
        sleep 0.05;
    }
    if (kill 0, $Pid) {
        kill 'TERM', $Pid;
        sleep 1;
        kill 'KILL', $Pid if waitpid($Pid, WNOHANG) != $Pid;
        waitpid($Pid, 0);
    }
    undef $Pid;
}
END { local $?; stop_nginx() }
$SIG{$_} = sub { stop_nginx(); exit 1 } for qw(INT TERM);

my $Psb_before = redis_keys('psb:*');

# raw HTTP/1.1 request (on a new connection unless _socket is given);
# returns (status, body, headers)
sub http {
    my ($method, $path, %hdr) = @_;
    my $s = delete $hdr{_socket}
        || IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $Port,
                                 Proto => 'tcp', Timeout => 5) or return (0, "connect: $!", '');
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$Port\r\nConnection: close\r\n";
    $req .= "$_: $hdr{$_}\r\n" for sort keys %hdr;
    print $s "$req\r\n";
    local $/;
    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 10;
        $resp = <$s> // '';
        alarm 0;
    };
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($code) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})};
    return ($code // 0, $body // '', $head // '');
}

# Start nginx like run.sh does; returns the first connection that the port
# accepts (undef if it never does).
sub start_nginx {
    $Pid = fork // die "fork: $!";
    if (!$Pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$Prefix/nginx.stdout";
        open STDERR, '>&', \*STDOUT;
        exec @NginxCmd or POSIX::_exit(127);
    }
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($Pid, WNOHANG) == $Pid) {
            undef $Pid;
            diag("nginx exited during startup:\n" . slurp("$Prefix/nginx.stdout")
                 . slurp("$Prefix/logs/error.log"));
            return undef;
        }
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $Port,
                                         Proto => 'tcp');
        return $sock if $sock;
        sleep 0.002;
    }
    return undef;
}

# The very first request is sent the moment the port accepts, like a client
# or a load balancer health check right after a start (or a reload's new
# workers).  Several starts, as one start may by chance be slow enough.
{
    my @codes;
    for my $i (1 .. 5) {
        my $sock = start_nginx() or BAIL_OUT('quickstart nginx did not start');
        my ($code, $body) = http('GET', "$Base/health", Authorization => "Bearer $Token",
                                 _socket => $sock);
        push @codes, $code;
        diag("start $i: $code $body") if $code != 200;
        stop_nginx();
    }
    is_deeply(\@codes, [(200) x 5],
              'first health request right after each of 5 starts is 200 '
              . '(the Redis connection is awaited, not 503)');
}

# The checks below are about the config itself, so they start once the
# worker reports its Redis connection ready (the quickstart logs at
# "notice"); the startup check above covers the time before.
my $pos = length slurp("$Prefix/logs/error.log");
ok(start_nginx(), "nginx listens on 127.0.0.1:$Port") or BAIL_OUT('quickstart nginx did not start');
{
    my $deadline = time + 5;
    sleep 0.01 until substr(slurp("$Prefix/logs/error.log"), $pos) =~ /sandbox bridge: redis .* ready/
                     || time > $deadline;
}

{
    my ($code, $body, $head) = http('GET', "$Base/health", Authorization => "Bearer $Token");
    is($code, 200, 'health with the token -> 200');
    is($body, $Health, 'health body is the exact D13 JSON');
    like($head, qr{^Content-Type: application/json\r?$}mi, 'health is application/json');
}
{
    my ($code, $body, $head) = http('GET', "$Base/health");
    is($code, 401, 'health without a token -> 401');
    is($body, $Unauth, '401 body is the exact envelope');
    like($head, qr{^Content-Type: application/json\r?$}mi, '401 is application/json');
}
{
    my ($code, $body) = http('GET', "$Base/health", Authorization => 'Bearer wrong-token');
    is($code, 401, 'health with a wrong token -> 401');
}
{
    my ($code, $body) = http('GET', "$Base/nope", Authorization => "Bearer $Token");
    is($code, 404, 'unknown route -> 404');
    is($body, qq{{"error":"not_found","message":"No bridge route matched GET $Base/nope."}},
       '404 envelope');
}
{
    # README "Metrics": loopback only, no bridge token
    my ($code, $body, $head) = http('GET', '/metrics');
    is($code, 200, 'GET /metrics from 127.0.0.1 without a token -> 200');
    like($head, qr{^Content-Type: text/plain; version=0\.0\.4}mi,
         'metrics in the text exposition format 0.0.4');
  SKIP: {
        skip 'python3-prometheus-client is not installed', 2
            unless SandboxBridge::Prom::available();
        my $m = SandboxBridge::Prom::parse($body);
        cmp_ok(SandboxBridge::Prom::value($m, 'sandbox_bridge_requests_total',
                                          route => 'health', status => '200'),
               '>=', 1, 'metrics: the health requests are counted');
        cmp_ok(SandboxBridge::Prom::value($m,
                                          'sandbox_bridge_auth_failures_total',
                                          reason => 'token'),
               '>=', 2, 'metrics: the 401s are counted');
    }
}
{
    my ($code, $body) = http('GET', '/_docker/_ping', Authorization => "Bearer $Token");
    is($code, 404, 'the Docker location is not reachable from outside');
    unlike($body, qr/^OK$/, '... and leaks no Docker answer');
}

# ------------------------------------------------------------ stop

sub children_of {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        push @kids, $p if slurp("/proc/$p/stat") =~ /\)\s+\S\s+(\d+)/ && $1 == $ppid;
    }
    return @kids;
}
sub alive { my $st = slurp("/proc/$_[0]/stat"); $st ne '' && $st !~ /\)\s+[ZX]\s/ }

my $pid = $Pid;
my @workers = children_of($pid);
ok(scalar @workers, 'the master has worker processes');
stop_nginx();
ok(!alive($pid), 'nginx master stopped');
is_deeply([grep { alive($_) } @workers], [], 'no worker survives its master');

my $log = slurp("$Prefix/logs/error.log");
unlike($log, qr/\[(alert|crit|emerg)\]/, 'no [alert]/[crit]/[emerg] in the quickstart error.log')
    or diag(join "\n", grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log);

# the quickstart uses prefix=psb: like `make run`; remove only what this
# run added (e.g. the reaper lock), so the shared test Redis stays clean
{
    my $after = redis_keys('psb:*');
    my @new = grep { !$Psb_before->{$_} } sort keys %$after;
    my @leases = grep { /lease/ } @new;
    is_deeply(\@leases, [], 'no lease was created in Redis');
    for my $k (@new) {
        `redis-cli -h $ENV{TEST_NGINX_REDIS_HOST} -p $ENV{TEST_NGINX_REDIS_PORT} DEL '$k'`;
    }
}

done_testing();
