#!/usr/bin/perl
# Small measuring client for the bench/*.sh scripts (core Perl only).
#
#   psb-client.pl fb-bridge HOST PORT TOKEN EXEC_PATH LEASE N
#       N sequential streaming execs of `echo hi` through the bridge
#       (POST EXEC_PATH, e.g. /api/paperclip-sandbox/v1/exec; HTTP/1.1,
#       chunked, as Paperclip does).  One line per run:
#       "<ms to response header> <ms to first 'event: stdout'> <ms to end>"
#
#   psb-client.pl fb-docker SOCK CONTAINER N [BODY_FILE]
#       The same exec made directly on the Docker API (unix socket): exec
#       create with the JSON body in BODY_FILE (the one the module sent,
#       captured by the caller; its PSB_EXEC marker is renewed per run) or
#       else a built-in copy of the module's command line (sh -lc <login
#       script>), exec start, read to the end, exec inspect.
#       One line per run: "<ms exec created> <ms to first stdout frame>
#       <ms stream end> <ms after inspect>"  (all from t0)
#
#   psb-client.pl idle HOST PORT TOKEN EXEC_PATH N SECONDS LEASE...
#       Opens N streaming execs of `sleep SECONDS` (round-robin over the
#       leases) and keeps them open.  Prints "READY <n>" once every stream
#       has its response header, then holds them until SIGTERM/SIGINT or
#       until SECONDS+30 passed, closes every socket and prints a summary
#       ("CLOSED ...", with any `event: error` seen).  PSB_IDLE_BATCH=<b>
#       opens them b at a time, each batch once the previous one has its
#       headers (or after 60 s); header times count from each request.
#
#   psb-client.pl sse-decode  <sse-body
#       Decodes an SSE body (already de-chunked, e.g. curl's output) and
#       prints "events=<n> stdout_events=<n> stdout_bytes=<n>
#       stdout_sha256=<hex> complete_exit=<code> truncated=<0|1>
#       complete_stdout_bytes=<n> errors=<n> keepalives=<n>"
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Digest::SHA;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

$| = 1;
my $json = JSON::PP->new->canonical(0);

# the module's login-shell prologue (README "Exec"), so that the direct
# Docker path runs exactly the command line the bridge runs
my $PROFILE = join(' && ',
    'if [ -f /etc/profile ]; then . /etc/profile >/dev/null 2>&1 || true; fi',
    'if [ -f "$HOME/.profile" ]; then . "$HOME/.profile" >/dev/null 2>&1 || true; fi',
    'if [ -f "$HOME/.bash_profile" ]; then . "$HOME/.bash_profile" >/dev/null 2>&1 || true; elif [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc" >/dev/null 2>&1 || true; fi',
    'if [ -f "$HOME/.zprofile" ]; then . "$HOME/.zprofile" >/dev/null 2>&1 || true; fi');

sub q1 { my $s = shift; $s =~ s/'/'"'"'/g; return "'$s'"; }

sub login_script {
    my ($cmd, @args) = @_;
    return "$PROFILE && cd '/' && exec " . join(' ', map { q1($_) } $cmd, @args);
}

sub ms { return sprintf('%.3f', 1000 * shift); }

sub tcp_connect {
    my ($host, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "connect $host:$port: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    return $s;
}

sub unix_connect {
    my $path = shift;
    my $s = IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM)
        or die "connect $path: $!\n";
    binmode $s;
    return $s;
}

sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        die "write: $!\n" unless defined $n;
        $off += $n;
    }
}

sub bridge_request {
    my ($host, $path, $token, $body) = @_;
    return "POST $path HTTP/1.1\r\nHost: $host\r\n"
         . "Authorization: Bearer $token\r\n"
         . "Content-Type: application/json\r\n"
         . "Accept: text/event-stream\r\n"
         . "Content-Length: " . length($body) . "\r\n"
         . "Connection: close\r\n\r\n" . $body;
}

# HTTP/1.0 request to Docker; the answer ends at connection close
sub docker_simple {
    my ($sock, $method, $path, $body) = @_;
    my $s = unix_connect($sock);
    my $req = "$method $path HTTP/1.0\r\nHost: docker\r\n";
    if (defined $body) {
        $req .= "Content-Type: application/json\r\nContent-Length: "
              . length($body) . "\r\n";
    }
    write_all($s, $req . "\r\n" . ($body // ''));
    my $resp = '';
    while (1) {
        my $n = sysread($s, $resp, 65536, length $resp);
        die "read: $!\n" unless defined $n;
        last if $n == 0;
    }
    close $s;
    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $rbody // '');
}

# incremental de-chunker: feed raw bytes, get decoded bytes
sub make_dechunker {
    my $buf = '';
    my $left = 0;      # bytes left in the current chunk
    my $state = 'size';
    my $done = 0;
    return sub {
        $buf .= shift;
        my $out = '';
        while (length $buf && !$done) {
            if ($state eq 'size') {
                my $i = index($buf, "\r\n");
                last if $i < 0;
                my $line = substr($buf, 0, $i);
                substr($buf, 0, $i + 2) = '';
                $line =~ s/;.*//;
                $left = hex($line);
                if ($left == 0) { $done = 1; last; }
                $state = 'data';
            } elsif ($state eq 'data') {
                my $n = $left < length($buf) ? $left : length($buf);
                $out .= substr($buf, 0, $n);
                substr($buf, 0, $n) = '';
                $left -= $n;
                $state = 'crlf' if $left == 0;
            } else {
                last if length($buf) < 2;
                substr($buf, 0, 2) = '';
                $state = 'size';
            }
        }
        return $out;
    };
}

sub cmd_fb_bridge {
    my ($host, $port, $token, $path, $lease, $n) = @_;
    my $body = $json->encode({providerLeaseId => $lease, command => 'echo',
                              args => ['hi'], streamOutput => JSON::PP::true});
    my $req = bridge_request("$host:$port", $path, $token, $body);
    for my $i (1 .. $n) {
        my $t0 = time;
        my $s = tcp_connect($host, $port);
        write_all($s, $req);
        my ($raw, $hdr_done, $t_hdr, $t_first, $chunked, $dec, $sse) =
            ('', 0, undef, undef, 0, undef, '');
        while (1) {
            my $buf;
            my $r = sysread($s, $buf, 65536);
            die "read: $!\n" unless defined $r;
            last if $r == 0;
            if (!$hdr_done) {
                $raw .= $buf;
                my $i = index($raw, "\r\n\r\n");
                next if $i < 0;
                $t_hdr = time;
                $hdr_done = 1;
                my $head = substr($raw, 0, $i);
                die "bridge answered: $head\n" unless $head =~ m{^HTTP/1\.1 200};
                $chunked = $head =~ /^Transfer-Encoding:\s*chunked/mi;
                $dec = make_dechunker() if $chunked;
                $buf = substr($raw, $i + 4);
            }
            $sse .= $chunked ? $dec->($buf) : $buf;
            if (!defined $t_first && index($sse, "event: stdout\n") >= 0) {
                $t_first = time;
            }
        }
        my $t_end = time;
        close $s;
        die "no stdout event in: $sse\n" unless defined $t_first;
        die "no complete event with exitCode 0 in: $sse\n"
            unless $sse =~ /event: complete\ndata: \{"exitCode":0,/;
        print join(' ', ms($t_hdr - $t0), ms($t_first - $t0),
                   ms($t_end - $t0)), "\n";
    }
}

sub cmd_fb_docker {
    my ($sock, $container, $n, $bodyfile) = @_;
    my $template;
    if (defined $bodyfile) {
        open my $f, '<', $bodyfile or die "$bodyfile: $!\n";
        local $/;
        $template = $json->decode(<$f>);
    } else {
        $template = {
            AttachStdin => JSON::PP::false, AttachStdout => JSON::PP::true,
            AttachStderr => JSON::PP::true, Tty => JSON::PP::false,
            Cmd => ['sh', '-lc', login_script('echo', 'hi')],
            Env => ['PSB_EXEC=', 'PSB_SESSION=paperclip'],
            WorkingDir => '/'};
    }
    for my $i (1 .. $n) {
        my $marker = join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
        my %body = %$template;
        $body{Env} = [map { /^PSB_EXEC=/ ? "PSB_EXEC=$marker" : $_ } @{ $template->{Env} || [] }];
        my $create = $json->encode(\%body);
        my $t0 = time;
        my ($st, $b) = docker_simple($sock, 'POST',
                                     "/v1.41/containers/$container/exec",
                                     $create);
        die "exec create: $st $b\n" unless $st == 201;
        my $id = $json->decode($b)->{Id};
        my $t_created = time;

        my $s = unix_connect($sock);
        my $start = '{"Detach":false,"Tty":false}';
        write_all($s, "POST /v1.41/exec/$id/start HTTP/1.1\r\nHost: docker\r\n"
                    . "Content-Type: application/json\r\nContent-Length: "
                    . length($start) . "\r\nConnection: close\r\n\r\n$start");
        my ($raw, $hdr_done, $t_first, $body) = ('', 0, undef, '');
        while (1) {
            my $buf;
            my $r = sysread($s, $buf, 65536);
            die "read: $!\n" unless defined $r;
            last if $r == 0;
            if (!$hdr_done) {
                $raw .= $buf;
                my $i = index($raw, "\r\n\r\n");
                next if $i < 0;
                $hdr_done = 1;
                die "exec start: " . substr($raw, 0, $i) . "\n"
                    unless $raw =~ m{^HTTP/1\.1 200};
                $buf = substr($raw, $i + 4);
            }
            $body .= $buf;
            if (!defined $t_first && length($body) >= 8) {
                my ($type, $len) = unpack('C x3 N', $body);
                $t_first = time if $type == 1 && length($body) >= 8 + $len;
            }
        }
        my $t_end = time;
        close $s;
        die "no stdout frame\n" unless defined $t_first;
        ($st, $b) = docker_simple($sock, 'GET', "/v1.41/exec/$id/json");
        die "exec inspect: $st\n" unless $st == 200
            && $json->decode($b)->{ExitCode} == 0;
        my $t_insp = time;
        print join(' ', ms($t_created - $t0), ms($t_first - $t0),
                   ms($t_end - $t0), ms($t_insp - $t0)), "\n";
    }
}

sub cmd_idle {
    my ($host, $port, $token, $path, $n, $secs, @leases) = @_;
    die "no leases\n" unless @leases;
    my (@socks, %state);
    my $t_start = time;
    my $sel = IO::Select->new;
    my $batch = $ENV{PSB_IDLE_BATCH} || $n;
    my $t_sent = 0;
    my $ready = 0;
    my (@hdr_at, @hdr_lat);
    my ($stop, $errors, $early_eof, $bad) = (0, 0, 0, 0);
    my $pump;
    $SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
    $pump = sub {
        my $timeout = shift;
        for my $s ($sel->can_read($timeout)) {
            my $st = $state{fileno $s};
            my $buf;
            my $r = sysread($s, $buf, 65536);
            if (!$r) {
                $st->{eof} = 1;
                $early_eof++;
                $sel->remove($s);
                next;
            }
            $st->{bytes} += $r;
            $st->{raw} .= $buf;
            if (!$st->{hdr}) {
                my $i = index($st->{raw}, "\r\n\r\n");
                next if $i < 0;
                $st->{hdr} = 1;
                $ready++;
                push @hdr_at, time - $t_start;
                push @hdr_lat, time - $st->{sent};
                unless ($st->{raw} =~ m{^HTTP/1\.1 200}) {
                    $bad++;
                    warn "stream answered: " . (split /\r\n/, $st->{raw})[0] . "\n";
                }
                $st->{raw} = substr($st->{raw}, $i + 4);
            }
            # the kept tail is shorter than the pattern: no double count
            $errors++ while $st->{raw} =~ /event: error\n/g;
            $st->{raw} = substr($st->{raw}, -12) if length $st->{raw} > 12;
        }
    };
    for (my $i = 0; $i < $n && !$stop; ) {
        my $end = $i + $batch < $n ? $i + $batch : $n;
        for (; $i < $end; $i++) {
            my $body = $json->encode({
                providerLeaseId => $leases[$i % @leases], command => 'sleep',
                args => ["$secs"], streamOutput => JSON::PP::true});
            my $s = tcp_connect($host, $port);
            write_all($s, bridge_request("$host:$port", $path, $token, $body));
            push @socks, $s;
            $state{fileno $s} = {raw => '', hdr => 0, bytes => 0, eof => 0,
                                 sent => time};
            $sel->add($s);
            # headers that came meanwhile: each timed from its own request
            $pump->(0);
        }
        $t_sent = time - $t_start;
        my $deadline = time + 60;
        while ($ready < $i && time < $deadline && !$stop) {
            $pump->(0.2);
        }
    }
    my $hold_until = time + $secs + 30;
    my @h = sort { $a <=> $b } @hdr_at;
    my @l = sort { $a <=> $b } @hdr_lat;
    printf "READY %d (headers after p50 %.0f ms, p90 %.0f ms, max %.0f ms; last request sent after %.0f ms;"
        . " per request, send to header: p50 %.0f ms, p90 %.0f ms, max %.0f ms)\n", $ready,
        @h ? (1000 * $h[int($#h / 2)], 1000 * $h[int(0.9 * $#h)], 1000 * $h[-1]) : (0, 0, 0), 1000 * $t_sent,
        @l ? (1000 * $l[int($#l / 2)], 1000 * $l[int(0.9 * $#l)], 1000 * $l[-1]) : (0, 0, 0);
    while (!$stop && time < $hold_until) {
        $pump->(0.2);
    }
    my $bytes = 0;
    $bytes += $_->{bytes} for values %state;
    close $_ for @socks;
    print "CLOSED streams=$n headers=$ready non200=$bad early_eof=$early_eof "
        . "error_events=$errors bytes_received=$bytes\n";
}

sub cmd_sse_decode {
    binmode STDIN;
    local $/ = "\n\n";
    my %n = (events => 0, stdout_events => 0, stdout_bytes => 0,
             complete_exit => 'none', truncated => 0,
             complete_stdout_bytes => 0, errors => 0, keepalives => 0);
    my $sha = Digest::SHA->new(256);
    while (my $ev = <STDIN>) {
        chomp $ev; chomp $ev;
        next if $ev eq '';
        if ($ev =~ /^: keepalive/) { $n{keepalives}++; next; }
        $n{events}++;
        my ($type) = $ev =~ /^event: (\S+)/m;
        my ($data) = $ev =~ /^data: (.*)$/m;
        $type //= '';
        if ($type eq 'stdout') {
            my $d = $json->decode($data)->{data};
            utf8::encode($d);
            $n{stdout_events}++;
            $n{stdout_bytes} += length $d;
            $sha->add($d);
        } elsif ($type eq 'complete') {
            my $c = $json->decode($data);
            $n{complete_exit} = $c->{exitCode} // 'null';
            $n{truncated} = $c->{outputTruncated} ? 1 : 0;
            my $o = $c->{stdout};
            utf8::encode($o);
            $n{complete_stdout_bytes} = length $o;
        } elsif ($type eq 'error') {
            $n{errors}++;
            print STDERR "error event: $data\n";
        }
    }
    print join(' ', map { "$_=$n{$_}" } qw(events stdout_events stdout_bytes),
               ), ' stdout_sha256=', $sha->hexdigest, ' ',
          join(' ', map { "$_=$n{$_}" } qw(complete_exit truncated
                                          complete_stdout_bytes errors
                                          keepalives)), "\n";
}

my $cmd = shift // '';
if    ($cmd eq 'fb-bridge')  { cmd_fb_bridge(@ARGV) }
elsif ($cmd eq 'fb-docker')  { cmd_fb_docker(@ARGV) }
elsif ($cmd eq 'idle')       { cmd_idle(@ARGV) }
elsif ($cmd eq 'sse-decode') { cmd_sse_decode() }
else { die "usage: see the header of $0\n" }
