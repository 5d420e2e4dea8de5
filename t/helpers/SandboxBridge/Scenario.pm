package SandboxBridge::Scenario;

# Helpers for plain Test::More scenario tests of the sandbox bridge module
# (t/060-lifecycle.t, t/999-leftovers.t): an nginx with its own port and
# server root (master process on, so it can be reloaded), a raw HTTP/1.1
# client (also for concurrent requests), a private redis-server, and docker /
# redis-cli helpers.  Needs the variables of build/services.env
# (TEST_NGINX_REDIS_PORT, TEST_NGINX_DOCKER_SOCKET, TEST_NGINX_SANDBOX_IMAGE,
# DOCKER_HOST) plus TEST_NGINX_BINARY / TEST_NGINX_LOAD_MODULES.
#
#   my $ng = SandboxBridge::Scenario::Nginx->new(name => 't060-a',
#                prefix => 't060a:', redis => "127.0.0.1:$port",
#                http_extra => 'sandbox_reaper_interval 1s;');
#   $ng->start;
#   my $res = $ng->api(POST => '/leases/acquire', { environmentId => 'x', ... });
#   # $res->{status}, $res->{headers}{lc name}, $res->{body}, $res->{json},
#   # $res->{elapsed} (s); status 0 = no HTTP response at all
#   my $h = $ng->api_send(POST => ...);   # concurrent: send now ...
#   my $r = $ng->finish($h);               # ... read the answer later
#   $ng->reload; $ng->stop; $ng->cleanup;  # cleanup also removes the servroot
#
#   my $rs = SandboxBridge::Scenario::Redis->new;   # own redis, appendonly
#   $rs->stop; $rs->start; $rs->cli('PTTL', $key); $rs->destroy;

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    free_port env_or_skip docker_ids docker_cmd redis_cli redis_keys
    json_decode json_encode wait_until api_path TOKEN
);

use constant TOKEN => 'secret-token';
our $API = '/api/paperclip-sandbox/v1';

sub api_path { $API . $_[0] }

# ---------------------------------------------------------------- basics

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot get a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Returns a list of the missing variables (empty when everything is there).
sub env_or_skip {
    my @need = qw(TEST_NGINX_REDIS_PORT TEST_NGINX_DOCKER_SOCKET
                  TEST_NGINX_SANDBOX_IMAGE DOCKER_HOST TEST_NGINX_LOAD_MODULES);
    return grep { !defined $ENV{$_} || $ENV{$_} eq '' } @need;
}

sub json_decode {
    my $text = shift;
    return undef unless defined $text && length $text;
    my $v = eval { JSON::PP->new->allow_nonref->decode($text) };
    return $v;
}

sub json_encode {
    return JSON::PP->new->canonical->allow_nonref->encode($_[0]);
}

# Poll $code every $step seconds until it returns true or $timeout passes.
# Returns the last value.
sub wait_until (&$;$) {
    my ($code, $timeout, $step) = @_;
    $step //= 0.1;
    my $deadline = time + $timeout;
    my $v;
    while (1) {
        $v = $code->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $step;
    }
}

# Run a command, return (exit status, stdout+stderr).
sub run_cmd {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or do { print "exec @cmd: $!\n"; POSIX::_exit(127) };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# `nginx -t`: run_cmd without LSan under ASan (nginx -t never frees its
# cycle, so everything configured, OpenSSL contexts too, shows as a leak)
sub nginx_t {
    local $ENV{ASAN_OPTIONS} = "$ENV{ASAN_OPTIONS}:detect_leaks=0"
        if defined $ENV{ASAN_OPTIONS};
    return run_cmd(@_);
}

# docker CLI against the private dockerd ($DOCKER_HOST)
sub docker_cmd {
    my ($rc, $out) = run_cmd('docker', @_);
    return wantarray ? ($rc, $out) : $out;
}

# ids of the containers (running or not) carrying all the given labels
sub docker_ids {
    my @labels = @_;
    my ($rc, $out) = run_cmd('docker', 'ps', '-aq', '--no-trunc',
                             map { ('--filter', "label=$_") } @labels);
    die "docker ps failed ($rc): $out" if $rc;
    return grep { /^[0-9a-f]{64}$/ } split /\s+/, $out;
}

sub redis_cli {
    my ($port, @args) = @_;
    my ($rc, $out) = run_cmd('redis-cli', '-h', '127.0.0.1', '-p', $port,
                             '--no-raw', @args);
    chomp $out;
    return wantarray ? ($rc, $out) : $out;
}

# keys matching a pattern (redis-cli --scan)
sub redis_keys {
    my ($port, $pattern) = @_;
    my ($rc, $out) = run_cmd('redis-cli', '-h', '127.0.0.1', '-p', $port,
                             '--scan', '--pattern', $pattern);
    die "redis-cli --scan failed ($rc): $out" if $rc;
    return grep { length } split /\n/, $out;
}

# ---------------------------------------------------------------- redis

package SandboxBridge::Scenario::Redis;

use strict;
use warnings;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        dir  => tempdir('psb-t-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1),
        port => $opt{port} // SandboxBridge::Scenario::free_port(),
        pid  => undef,
    }, $class;
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }

sub ping {
    my $self = shift;
    my ($rc, $out) = SandboxBridge::Scenario::redis_cli($self->{port}, 'PING');
    return $rc == 0 && $out eq 'PONG';
}

sub start {
    my $self = shift;
    die "redis already running" if $self->{pid};
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--bind', '127.0.0.1', '--port', $self->{port},
             '--appendonly', 'yes', '--appendfsync', 'always',
             '--dir', $self->{dir}, '--save', '',
             '--daemonize', 'no', '--loglevel', 'notice'
            or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $ok = SandboxBridge::Scenario::wait_until(sub {
        return 1 if $self->ping;
        if (waitpid($pid, WNOHANG) == $pid) {
            $self->{pid} = undef;
            die "redis-server exited during startup: " . $self->log_tail;
        }
        return 0;
    }, 10, 0.05);
    die "redis-server on port $self->{port} did not answer PING" unless $ok;
    return $self;
}

sub log_tail {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/redis.log" or return '';
    local $/;
    my $l = <$fh> // '';
    return substr($l, -2000);
}

# graceful stop: SHUTDOWN (the AOF is fsynced on every write anyway)
sub stop {
    my ($self, %opt) = @_;
    my $pid = $self->{pid} or return;
    if ($opt{kill}) {
        kill 'KILL', $pid;
    } else {
        SandboxBridge::Scenario::redis_cli($self->{port}, 'SHUTDOWN');
        kill 'TERM', $pid;
    }
    my $deadline = time + 10;
    while (time < $deadline) {
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    if (kill 0, $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $self->{pid} = undef;
}

sub cli  { my $self = shift; scalar SandboxBridge::Scenario::redis_cli($self->{port}, @_) }
sub scan_keys { my $self = shift; SandboxBridge::Scenario::redis_keys($self->{port}, @_) }

sub destroy {
    my $self = shift;
    $self->stop;
}

sub DESTROY {
    my $self = shift;
    local ($?, $@);
    $self->stop if $self->{pid};
}

# ---------------------------------------------------------------- nginx

package SandboxBridge::Scenario::Nginx;

use strict;
use warnings;
use Cwd ();
use File::Path qw(make_path remove_tree);
use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

# name        servroot t/servroot-<name> (or servroot => path)
# prefix      sandbox_redis prefix
# redis       host:port (default the shared test redis)
# redis_opts  extra sandbox_redis options (default "command_timeout=1s")
# docker_socket  socket for the /_docker/ location (default the private dockerd)
# http_extra  extra lines for the http block
# server_extra extra lines for the server block
# workers     worker_processes (default 1)
# docker_conf  replaces the sandbox_docker_location line and the /_docker/
#             location (several Docker hosts)
sub new {
    my ($class, %opt) = @_;
    my $root = Cwd::getcwd();
    my $self = bless {
        name          => $opt{name} // 'scenario',
        prefix        => $opt{prefix} // 'tscn:',
        redis         => $opt{redis} // "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
        redis_opts    => $opt{redis_opts} // 'command_timeout=1s',
        docker_socket => $opt{docker_socket} // $ENV{TEST_NGINX_DOCKER_SOCKET},
        image         => $opt{image} // $ENV{TEST_NGINX_SANDBOX_IMAGE},
        http_extra    => $opt{http_extra} // '',
        server_extra  => $opt{server_extra} // '',
        workers       => $opt{workers} // 1,
        docker_conf   => $opt{docker_conf},
        binary        => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        modules       => $ENV{TEST_NGINX_LOAD_MODULES} // '',
        port          => $opt{port} // SandboxBridge::Scenario::free_port(),
        timeout       => $opt{timeout} // 30,
        generation    => 0,
        pid           => undef,
    }, $class;
    $self->{servroot} = $opt{servroot}
        // "$root/t/servroot-" . $self->{name};
    return $self;
}

sub port     { $_[0]{port} }
sub servroot { $_[0]{servroot} }
sub prefix   { $_[0]{prefix} }
sub pid      { $_[0]{pid} }
sub error_log_file { "$_[0]{servroot}/logs/error.log" }

sub set {
    my ($self, %opt) = @_;
    $self->{$_} = $opt{$_} for keys %opt;
    return $self;
}

sub conf_text {
    my $self = shift;
    my $sr = $self->{servroot};
    my $user = $> == 0 ? "user root;\n" : '';
    my $mods = join '', map { "load_module $_;\n" } grep { length }
               split /\s+/, $self->{modules};
    my $gen = $self->{generation};
    # make test-runsc: the scenario's containers under gVisor too
    my $rt = $ENV{TEST_NGINX_SANDBOX_RUNTIME};
    my $runtime = defined $rt && length $rt
                  ? "        sandbox_runtime $rt;\n" : '';
    my $docker = $self->{docker_conf} // <<"EOF";
        sandbox_docker_location /_docker;

        location /_docker/ {
            internal;
            proxy_pass http://unix:$self->{docker_socket}:/v1.41/;
            proxy_read_timeout 1d;
        }
EOF
    return <<"EOF";
# generated by SandboxBridge::Scenario
$mods
${user}worker_processes $self->{workers};
daemon off;
master_process on;
error_log $sr/logs/error.log info;
pid $sr/logs/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log $sr/logs/access.log;
    default_type text/plain;
    client_body_temp_path $sr/client_body_temp;
    proxy_temp_path $sr/proxy_temp;
    fastcgi_temp_path $sr/fastcgi_temp;
    uwsgi_temp_path $sr/uwsgi_temp;
    scgi_temp_path $sr/scgi_temp;

    sandbox_redis $self->{redis} prefix=$self->{prefix} $self->{redis_opts};
    $self->{http_extra}

    server {
        listen 127.0.0.1:$self->{port};
        server_name localhost;

        sandbox_auth bearer;
        sandbox_auth_token_file $sr/html/tokens;
        sandbox_image $self->{image};
$runtime$docker
        location /api/paperclip-sandbox/v1 { sandbox_bridge; }

        location = /_generation { return 200 "$gen"; }

        $self->{server_extra}
    }
}
EOF
}

sub write_conf {
    my $self = shift;
    my $sr = $self->{servroot};
    make_path("$sr/conf", "$sr/logs", "$sr/html");
    open my $fh, '>', "$sr/conf/nginx.conf" or die "$sr/conf/nginx.conf: $!";
    print $fh $self->conf_text;
    close $fh;
    open $fh, '>', "$sr/html/tokens" or die "$sr/html/tokens: $!";
    print $fh SandboxBridge::Scenario::TOKEN, "\n";
    close $fh;
}

sub nginx_cmd {
    my ($self, @extra) = @_;
    return ($self->{binary}, '-p', "$self->{servroot}/", '-c',
            "$self->{servroot}/conf/nginx.conf", @extra);
}

# start(); start(quick => 1) returns as soon as the port accepts a TCP
# connection (instead of waiting until /_generation answers).
sub start {
    my ($self, %opt) = @_;
    die "nginx already running" if $self->{pid};
    remove_tree($self->{servroot});
    $self->write_conf;
    my ($rc, $out) = SandboxBridge::Scenario::nginx_t($self->nginx_cmd('-t'));
    die "nginx -t failed:\n$out" if $rc;

    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{servroot}/logs/nginx.stderr";
        open STDERR, '>&', \*STDOUT;
        exec $self->nginx_cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $gen = $self->{generation};
    my $ok = SandboxBridge::Scenario::wait_until(sub {
        if (waitpid($pid, WNOHANG) == $pid) {
            $self->{pid} = undef;
            die "nginx exited during startup:\n" . $self->log_tail;
        }
        if ($opt{quick}) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $self->{port},
                                          Proto => 'tcp');
            return $s ? 1 : 0;
        }
        my $r = $self->request(GET => '/_generation', undef, timeout => 1);
        return $r->{status} == 200 && $r->{body} eq "$gen";
    }, 10, $opt{quick} ? 0.001 : 0.05);
    die "nginx on port $self->{port} did not start:\n" . $self->log_tail
        unless $ok;
    return $self;
}

sub alive {
    my $self = shift;
    return 0 unless $self->{pid};
    return waitpid($self->{pid}, WNOHANG) == 0;
}

sub worker_pids {
    my $self = shift;
    my @p;
    opendir my $dh, '/proc' or return ();
    for my $d (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$d/stat" or next;
        my $st = <$fh> // '';
        next unless $st =~ /^\d+ \(.*\) (\S) (\d+)/;
        next if $1 eq 'Z';
        push @p, $d if $2 == ($self->{pid} // -1);
    }
    return sort { $a <=> $b } @p;
}

# nginx -s reload (HUP); waits until the new generation answers and the old
# workers are gone.  %opt changes settings first (e.g. redis => ...).
sub reload {
    my ($self, %opt) = @_;
    die "nginx not running" unless $self->{pid};
    $self->set(%opt);
    my @old = $self->worker_pids;
    $self->{generation}++;
    $self->write_conf;
    my ($rc, $out) = SandboxBridge::Scenario::run_cmd($self->nginx_cmd('-s', 'reload'));
    die "nginx -s reload failed:\n$out" if $rc;
    my $gen = $self->{generation};
    my $ok = SandboxBridge::Scenario::wait_until(sub {
        my $r = $self->request(GET => '/_generation', undef, timeout => 1);
        return 0 unless $r->{status} == 200 && $r->{body} eq "$gen";
        my %now = map { $_ => 1 } $self->worker_pids;
        return !grep { $now{$_} } @old;
    }, 15, 0.05);
    die "nginx reload to generation $gen did not complete:\n" . $self->log_tail
        unless $ok;
    return $self;
}

sub stop {
    my $self = shift;
    my $pid = $self->{pid} or return;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) { $self->{pid} = undef; last }
        sleep 0.05;
    }
    if ($self->{pid}) {
        my @w = $self->worker_pids;
        kill 'KILL', $pid, @w;
        waitpid($pid, 0);
        $self->{pid} = undef;
    }
}

# remove the servroot (call after stop, when the test passed)
sub cleanup {
    my $self = shift;
    $self->stop;
    remove_tree($self->{servroot});
}

sub log_tail {
    my ($self, $n) = @_;
    $n //= 4000;
    my $t = '';
    for my $f ("$self->{servroot}/logs/nginx.stderr", $self->error_log_file) {
        open my $fh, '<', $f or next;
        local $/;
        my $l = <$fh> // '';
        $t .= "==> $f\n" . substr($l, -$n) . "\n";
    }
    return $t;
}

sub error_log {
    my $self = shift;
    open my $fh, '<', $self->error_log_file or return '';
    local $/;
    return <$fh> // '';
}

sub DESTROY {
    my $self = shift;
    local ($?, $@);
    $self->stop if $self->{pid};
}

# ---------------------------------------------------------------- HTTP

# Raw HTTP/1.1 with Connection: close.  $body: undef, a string (sent as is)
# or a reference (JSON-encoded).  Options: headers => [k, v, ...] (replaces
# the Authorization header when it contains one), timeout => s, auth => 0.
sub build {
    my ($self, $method, $path, $body, %opt) = @_;
    if (ref $body) {
        $body = JSON::PP->new->canonical->encode($body);
    }
    my @h = ('Host', 'localhost', 'Connection', 'close');
    my @extra = @{ $opt{headers} || [] };
    my %has;
    for (my $i = 0; $i < @extra; $i += 2) { $has{lc $extra[$i]} = 1 }
    push @h, 'Authorization', 'Bearer ' . SandboxBridge::Scenario::TOKEN
        if !$has{authorization} && ($opt{auth} // 1);
    push @h, @extra;
    if (defined $body) {
        push @h, 'Content-Type', 'application/json' unless $has{'content-type'};
        push @h, 'Content-Length', length $body;
    }
    my $req = "$method $path HTTP/1.1\r\n";
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    return "$req\r\n" . ($body // '');
}

# start a request; returns a handle for finish()
sub send_request {
    my ($self, $method, $path, $body, %opt) = @_;
    my $t0 = time;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 5);
    my $h = { t0 => $t0, timeout => $opt{timeout} // $self->{timeout},
              method => $method, path => $path };
    if (!$sock) {
        $h->{error} = "connect: $!";
        return $h;
    }
    $sock->autoflush(1);
    my $data = $self->build($method, $path, $body, %opt);
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) { $h->{error} = "write: $!"; last }
        $off += $n;
    }
    $h->{sock} = $sock;
    return $h;
}

# read the whole response of a send() handle; returns
# { status, headers => {lc => value}, raw_headers, body, json, elapsed, error }
sub finish {
    my ($self, $h) = @_;
    my $res = { status => 0, headers => {}, body => '', raw_headers => '' };
    if ($h->{error}) {
        $res->{error} = $h->{error};
        $res->{elapsed} = time - $h->{t0};
        return $res;
    }
    my $sock = $h->{sock};
    my $sel = IO::Select->new($sock);
    my $raw = '';
    my $deadline = $h->{t0} + $h->{timeout};
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $res->{error} = 'timeout'; last }
        last unless $sel->can_read($left);
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) { $res->{error} = "read: $!"; last }
        last if $n == 0;
        $raw .= $buf;
    }
    close $sock;
    $res->{elapsed} = time - $h->{t0};
    $res->{raw} = $raw;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return $res unless defined $head && $head =~ m{^HTTP/1\.[01] (\d{3})};
    $res->{status} = $1;
    $res->{raw_headers} = $head;
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:\s]+):\s*(.*)$/;
        my $k = lc $1;
        $res->{headers}{$k} = exists $res->{headers}{$k}
                              ? "$res->{headers}{$k}, $2" : $2;
    }
    $body //= '';
    if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $res->{body} = $body;
    if (($res->{headers}{'content-type'} // '') =~ m{application/json}) {
        $res->{json} = SandboxBridge::Scenario::json_decode($body);
    }
    return $res;
}

sub request {
    my ($self, $method, $path, $body, %opt) = @_;
    return $self->finish($self->send_request($method, $path, $body, %opt));
}

# request against the bridge's API prefix
sub api {
    my ($self, $method, $path, $body, %opt) = @_;
    return $self->request($method, SandboxBridge::Scenario::api_path($path),
                          $body, %opt);
}

sub api_send {
    my ($self, $method, $path, $body, %opt) = @_;
    return $self->send_request($method, SandboxBridge::Scenario::api_path($path),
                       $body, %opt);
}

# run a command through the bridge's own exec route
sub exec_cmd {
    my ($self, $lease, $command, @args) = @_;
    return $self->api(POST => '/exec', { providerLeaseId => $lease,
                                         command => $command, args => [@args],
                                         timeoutMs => 20000 });
}

1;
