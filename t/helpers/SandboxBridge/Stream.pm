package SandboxBridge::Stream;

# Helpers for the exec / SSE tests (t/070-exec.t, t/080-stream.t,
# t/085-stream-scenarios.t):
#
#   * strict parsing and checking of the bridge's SSE bodies (README "Exec",
#     D8): frame syntax, UTF-8 validity, JSON validity, exactly one terminal
#     event;
#   * a small, fast and strict JSON decoder for the flat objects the bridge
#     emits (JSON::PP needs seconds per MB of string data);
#   * regexes for Test::Nginx blocks (t/080-stream.t);
#   * for plain Test::More files: a private nginx (SandboxBridge::Stream::Server),
#     a blocking HTTP client and an incremental SSE client that records the
#     arrival time of every frame.
#
# Nothing here knows the expected results: the tests decide what is right.

use strict;
use warnings;

use Encode ();
use Errno ();
use Exporter 'import';
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use Socket ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(
    json_encode decode_json_strict check_sse parse_sse utf8_valid utf8_decode
    dechunk http_request sse_client rss_kb redis_command
    $UTF8_CHAR $JSON_STR_CHAR $FRAME_RE
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# --------------------------------------------------------------------------
# Regexes (byte strings; usable in Test::Nginx *_like sections)
# --------------------------------------------------------------------------

# one well-formed UTF-8 encoded character (RFC 3629)
our $UTF8_CHAR = qr/(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]
                    |[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]
                    |\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}
                    |\xf4[\x80-\x8f][\x80-\xbf]{2})/x;

# one element of a JSON string body: an unescaped valid UTF-8 character
# (not '"', '\' or a control character) or an escape sequence
our $JSON_STR_CHAR = qr/(?:[\x20\x21\x23-\x5b\x5d-\x7f]|[\xc2-\xdf][\x80-\xbf]
                        |\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}
                        |\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}
                        |[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}
                        |\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})/x;

# one output frame or heartbeat of README "Exec" (for short bodies; the
# repetition count of a complex group is limited in Perl regexes)
our $FRAME_RE = qr/(?:event:\ std(?:out|err)\ndata:\ \{"data":"$JSON_STR_CHAR+"\}\n\n
                     |:\ keepalive\n\n)/x;

# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------

my $JSON = JSON::PP->new->canonical(0)->allow_nonref;

# compact JSON text (UTF-8 bytes) of a Perl structure whose strings are
# character strings; keys of hashes are sorted, so pass an array of pairs
# through json_object() when the order matters
sub json_encode {
    my ($v) = @_;
    return JSON::PP->new->utf8->canonical->allow_nonref->encode($v);
}

# Well-formed UTF-8 (RFC 3629): no malformed/overlong/truncated sequences,
# no surrogates, nothing above U+10FFFF.  Noncharacters such as U+FFFF or
# U+FDD0 are well-formed (and valid in JSON), so Encode's strict "UTF-8",
# which rejects them, is not used.  Returns the decoded text or undef.
sub utf8_decode {
    my ($bytes) = @_;
    my $copy = $bytes;
    my $text = eval { Encode::decode('utf8', $copy, Encode::FB_CROAK) };
    return undef unless defined $text;
    return undef if $text =~ /[\x{d800}-\x{dfff}]|[^\x{0}-\x{10ffff}]/;
    return $text;
}

sub utf8_valid { defined utf8_decode($_[0]) ? 1 : 0 }

# Strict decoder for a JSON object whose values are strings, integers,
# null, true or false (the bridge's SSE data and exec results).  Input:
# UTF-8 bytes.  Returns ($hash, \@keys_in_order) or dies with a reason.
# Strings come back as character strings.
sub decode_json_strict {
    my ($bytes) = @_;
    die "undefined JSON text\n" unless defined $bytes;
    my $text = utf8_decode($bytes);
    die "JSON text is not valid UTF-8\n" unless defined $text;

    my (%h, @keys);
    my $ws = qr/[ \t\r\n]*/;
    pos($text) = 0;
    $text =~ /\G$ws\{$ws/gc or die "JSON text is not an object\n";
    if ($text !~ /\G\}/gc) {
        while (1) {
            my $k = _json_string(\$text);
            $text =~ /\G$ws:$ws/gc or die "expected ':' after key \"$k\"\n";
            my $v;
            if ($text =~ /\G"/gc) {
                pos($text)--;
                $v = _json_string(\$text);
            } elsif ($text =~ /\G(-?(?:0|[1-9][0-9]*))(?![.eE0-9])/gc) {
                $v = 0 + $1;
            } elsif ($text =~ /\Gnull/gc) {
                $v = undef;
            } elsif ($text =~ /\Gtrue/gc) {
                $v = JSON::PP::true;
            } elsif ($text =~ /\Gfalse/gc) {
                $v = JSON::PP::false;
            } else {
                # anything else (nested values, floats): let JSON::PP judge
                my $all = eval { JSON::PP->new->decode($text) };
                die "invalid JSON: $@" unless ref $all eq 'HASH';
                my @order;
                # keep the textual order of the top-level keys
                while ($text =~ /(?:\{|,)\s*"((?:[^"\\]|\\.)*)"\s*:/g) {
                    push @order, JSON::PP->new->allow_nonref->decode(qq{"$1"});
                }
                my %seen;
                @order = grep { exists $all->{$_} && !$seen{$_}++ } @order;
                return ($all, \@order);
            }
            die "duplicate key \"$k\"\n" if exists $h{$k};
            $h{$k} = $v;
            push @keys, $k;
            $text =~ /\G$ws/gc;
            next if $text =~ /\G,$ws/gc;
            last if $text =~ /\G\}/gc;
            die "expected ',' or '}' at offset " . pos($text) . "\n";
        }
    }
    $text =~ /\G$ws\z/gc or die "trailing data after the JSON object\n";
    return (\%h, \@keys);
}

my %ESC = ('"' => '"', '\\' => '\\', '/' => '/', b => "\b", f => "\f",
           n => "\n", r => "\r", t => "\t");

sub _json_string {
    my ($ref) = @_;
    $$ref =~ /\G"/gc or die "expected a string at offset " . (pos($$ref) // 0) . "\n";
    my $out = '';
    while (1) {
        if ($$ref =~ /\G([^"\\\x00-\x1f]+)/gc) {
            $out .= $1;
        } elsif ($$ref =~ /\G"/gc) {
            return $out;
        } elsif ($$ref =~ /\G\\(["\\\/bfnrt])/gc) {
            $out .= $ESC{$1};
        } elsif ($$ref =~ /\G\\u([0-9a-fA-F]{4})/gc) {
            my $cp = hex $1;
            if ($cp >= 0xd800 && $cp <= 0xdbff) {
                $$ref =~ /\G\\u([dD][c-fC-F][0-9a-fA-F]{2})/gc
                    or die "lone high surrogate in a JSON string\n";
                $cp = 0x10000 + (($cp - 0xd800) << 10) + (hex($1) - 0xdc00);
            } elsif ($cp >= 0xdc00 && $cp <= 0xdfff) {
                die "lone low surrogate in a JSON string\n";
            }
            $out .= chr $cp;
        } else {
            my $p = pos($$ref) // 0;
            die $p >= length $$ref ? "unterminated JSON string\n"
                                   : sprintf("invalid character 0x%02x in a JSON string\n",
                                             ord substr $$ref, $p, 1);
        }
    }
}

# --------------------------------------------------------------------------
# SSE (README "Exec")
# --------------------------------------------------------------------------

# Split an SSE body (bytes) into frames.  Returns (\@frames, $rest) where
# each frame is { raw, event, data, comment } and $rest is an incomplete
# trailing frame ('' when the body ends cleanly).
sub parse_sse {
    my ($body) = @_;
    my @frames;
    while ($body =~ /\G(.*?\n\n)/gcs) {
        my $raw = $1;
        my %f = (raw => $raw);
        for my $line (split /\n/, $raw) {
            if ($line =~ /^:(.*)$/s) {
                $f{comment} = $1;
            } elsif ($line =~ /^event: ?(.*)$/s) {
                $f{event} = $1;
            } elsif ($line =~ /^data: ?(.*)$/s) {
                $f{data} = defined $f{data} ? "$f{data}\n$1" : $1;
            } else {
                $f{bad} = $line;
            }
        }
        push @frames, \%f;
    }
    my $rest = substr $body, pos($body) // 0;
    return (\@frames, $rest);
}

# Check a complete SSE body strictly.  Returns a hash:
#   errors    list of problems found (empty when the body is well-formed)
#   frames    the parsed frames
#   stdout, stderr   concatenated chunk texts (character strings)
#   chunks    list of [stream, text]
#   heartbeats   number of ": keepalive" comments
#   terminal  the terminal frame's event name ('complete' or 'error')
#   result    the decoded terminal data (hash), result_keys its key order
#   result_raw   the terminal data line as sent
sub check_sse {
    my ($body) = @_;
    my %r = (errors => [], chunks => [], stdout => '', stderr => '',
             heartbeats => 0, terminal => undef, result => undef);
    my $err = sub { push @{ $r{errors} }, join '', @_ };

    $err->('SSE body is not valid UTF-8') unless utf8_valid($body);

    my ($frames, $rest) = parse_sse($body);
    $r{frames} = $frames;
    $err->('SSE body ends inside a frame: ' . _short($rest)) if length $rest;

    my $i = 0;
    for my $f (@$frames) {
        $i++;
        my $raw = $f->{raw};
        if (defined $r{terminal}) {
            $err->("frame $i after the terminal event: " . _short($raw));
            next;
        }
        if ($raw eq ": keepalive\n\n") {
            $r{heartbeats}++;
            next;
        }
        if ($raw !~ /\Aevent: (stdout|stderr|complete|error)\ndata: ([^\n]*)\n\n\z/) {
            $err->("frame $i is not 'event: <name>\\ndata: <json>': " . _short($raw));
            next;
        }
        my ($ev, $data) = ($1, $2);
        my ($h, $keys) = eval { decode_json_strict($data) };
        if (!$h) {
            $err->("frame $i ($ev): data is not valid JSON: $@");
            next;
        }
        if ($ev eq 'stdout' || $ev eq 'stderr') {
            if (@$keys != 1 || $keys->[0] ne 'data' || ref \$h->{data} ne 'SCALAR'
                || !defined $h->{data})
            {
                $err->("frame $i ($ev): data is not {\"data\":<string>}: " . _short($data));
                next;
            }
            $err->("frame $i ($ev): empty chunk") if $h->{data} eq '';
            push @{ $r{chunks} }, [$ev, $h->{data}];
            $r{$ev} .= $h->{data};
        } else {
            $r{terminal}    = $ev;
            $r{result}      = $h;
            $r{result_keys} = $keys;
            $r{result_raw}  = $data;
        }
    }
    $err->('no terminal (complete/error) event') unless defined $r{terminal};
    return \%r;
}

sub _short {
    my ($s) = @_;
    $s = substr($s, 0, 200) . '...' if length $s > 200;
    $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

# Decode a complete chunked body.  Returns ($body, $error).
sub dechunk {
    my ($raw) = @_;
    my $out = '';
    pos($raw) = 0;
    while (1) {
        return ($out, 'bad chunk size line') unless $raw =~ /\G([0-9a-fA-F]+)[^\r\n]*\r\n/gc;
        my $n = hex $1;
        if ($n == 0) {
            return ($out, 'missing final CRLF') unless $raw =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc;
            return ($out, undef);
        }
        my $p = pos $raw;
        return ($out, 'truncated chunk') if length($raw) < $p + $n + 2;
        $out .= substr $raw, $p, $n;
        return ($out, 'chunk not followed by CRLF') if substr($raw, $p + $n, 2) ne "\r\n";
        pos($raw) = $p + $n + 2;
    }
}

# Blocking request on a new connection.  Returns a hash:
#   status, headers (lower-case names), raw_headers, body, error, time
sub http_request {
    my (%o) = @_;
    my $t0 = time;
    my $sock = _connect($o{host} // '127.0.0.1', $o{port}, $o{timeout} // 10)
        or return { error => "connect: $!" };
    _send($sock, _build_request(%o), $o{timeout} // 10)
        or return { error => "send failed: $!" };
    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($o{timeout} // 10);
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            close $sock;
            return { error => 'timeout', raw => $raw };
        }
        my $n = sysread $sock, my $buf, 262144;
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            last if $!{ECONNRESET};
            return { error => "read: $!", raw => $raw };
        }
        last if $n == 0;
        $raw .= $buf;
    }
    close $sock;
    my $res = _parse_head(\$raw);
    return { error => 'no HTTP response', raw => $raw } unless $res;
    if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        ($res->{body}, my $e) = dechunk($raw);
        $res->{error} = "chunked body: $e" if $e;
    } else {
        $res->{body} = $raw;
    }
    $res->{time} = time - $t0;
    return $res;
}

sub _connect {
    my ($host, $port, $timeout) = @_;
    my $s;
    for (1 .. 50) {
        $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                   Proto => 'tcp', Timeout => $timeout);
        last if $s || !$!{ECONNREFUSED};
        sleep 0.05;
    }
    return undef unless $s;
    $s->blocking(0);
    return $s;
}

sub _send {
    my ($sock, $data, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $data) {
        return 0 unless $sel->can_write($timeout);
        my $n = syswrite $sock, $data, length($data) - $off, $off;
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub _build_request {
    my (%o) = @_;
    my $method = $o{method} // 'GET';
    my $body = $o{body} // '';
    my $h = "$method $o{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $h .= "Authorization: Bearer $o{token}\r\n" if defined $o{token};
    $h .= "Content-Type: application/json\r\n" if length $body;
    $h .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    $h .= "$_\r\n" for @{ $o{headers} || [] };
    return "$h\r\n$body";
}

# Remove and parse the response head from the front of $$raw.
sub _parse_head {
    my ($raw) = @_;
    return undef unless $$raw =~ s/\AHTTP\/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n//;
    my %r = (status => $1, raw_headers => $2, headers => {});
    for my $l (split /\r\n/, $r{raw_headers}) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
    }
    return \%r;
}

# --------------------------------------------------------------------------
# Incremental SSE client: records when every frame arrived.
#
#   my $c = sse_client(port => ..., path => ..., token => ..., body => ...);
#   $c->wait_headers(5);
#   $c->pump(0.5);             # read what arrives within 0.5 s
#   $c->read_until_end(10);
#   $c->{frames}  [ { raw, event, data, comment, t } ... ]  (t = arrival
#                 time relative to the moment the request was sent)
#   $c->{body}    the de-chunked body so far
#   $c->close;
# --------------------------------------------------------------------------

sub sse_client {
    my (%o) = @_;
    my $self = bless { %o, raw => '', body => '', frames => [], fbuf => '',
                       eof => 0, head => undef, bytes => 0 },
                     'SandboxBridge::Stream::Client';
    $self->{sock} = _connect($o{host} // '127.0.0.1', $o{port}, $o{timeout} // 10)
        or die "connect: $!";
    if (defined $o{rcvbuf}) {
        setsockopt($self->{sock}, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), $o{rcvbuf});
    }
    _send($self->{sock}, _build_request(method => 'POST', %o), 10) or die "send: $!";
    $self->{t0} = time;
    return $self;
}

package SandboxBridge::Stream::Client;

use Time::HiRes qw(time sleep);
use IO::Select ();

# read once (at most $max bytes) if data is ready within $timeout seconds;
# returns bytes read, 0 at EOF, undef on timeout
sub read_once {
    my ($self, $timeout, $max) = @_;
    return 0 if $self->{eof};
    my $sel = IO::Select->new($self->{sock});
    return undef unless $sel->can_read($timeout);
    my $n = sysread $self->{sock}, my $buf, $max // 262144;
    if (!defined $n) {
        return undef if $!{EAGAIN} || $!{EINTR};
        $n = 0;    # reset: treat as end
    }
    if ($n == 0) {
        $self->{eof} = 1;
        return 0;
    }
    $self->{bytes} += $n;
    $self->{raw} .= $buf;
    $self->_process;
    return $n;
}

sub _process {
    my ($self) = @_;
    my $now = time - $self->{t0};
    if (!$self->{head}) {
        my $h = SandboxBridge::Stream::_parse_head(\$self->{raw}) or return;
        $self->{head} = $h;
        $self->{head_t} = $now;
        $self->{chunked} = ($h->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    }
    my $new = '';
    if ($self->{chunked}) {
        while (1) {
            last unless $self->{raw} =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/;
            my ($hl, $n) = (length $&, hex $1);
            if ($n == 0) {
                $self->{last_chunk} = 1 if $self->{raw} =~ /\A0[^\r\n]*\r\n\r\n/;
                last;
            }
            last if length $self->{raw} < $hl + $n + 2;
            $self->{chunk_error} = 'chunk not followed by CRLF'
                if substr($self->{raw}, $hl + $n, 2) ne "\r\n";
            $new .= substr $self->{raw}, $hl, $n;
            substr($self->{raw}, 0, $hl + $n + 2) = '';
        }
    } else {
        $new = $self->{raw};
        $self->{raw} = '';
    }
    return unless length $new;
    $self->{body} .= $new unless $self->{discard_body};
    $self->{body_bytes} += length $new;
    $self->{fbuf} .= $new;
    while ($self->{fbuf} =~ s/\A(.*?\n\n)//s) {
        my ($fr) = SandboxBridge::Stream::parse_sse($1);
        my $f = $fr->[0];
        $f->{t} = $now;
        if ($self->{on_frame}) {
            $self->{on_frame}->($f);
        }
        push @{ $self->{frames} }, $self->{keep_frames} // 1 ? $f : { t => $now,
            event => $f->{event}, comment => $f->{comment},
            len => length($f->{data} // '') };
    }
}

sub wait_headers {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while (!$self->{head} && !$self->{eof}) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        $self->read_once($left);
    }
    return $self->{head} ? 1 : 0;
}

# read everything that arrives within $secs
sub pump {
    my ($self, $secs) = @_;
    my $deadline = time + $secs;
    while (!$self->{eof}) {
        my $left = $deadline - time;
        last if $left <= 0;
        $self->read_once($left);
    }
}

# read until EOF (or the terminal frame when the response is chunked and
# the last chunk arrived); returns 1 when the response ended in time
sub read_until_end {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while (!$self->{eof} && !$self->{last_chunk}) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        $self->read_once($left);
    }
    return 1;
}

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    undef $self->{sock};
}

sub DESTROY { $_[0]->close }

package SandboxBridge::Stream;

# --------------------------------------------------------------------------
# Misc
# --------------------------------------------------------------------------

# VmRSS of a process in kB (undef when unknown)
sub rss_kb {
    my ($pid) = @_;
    open my $in, '<', "/proc/$pid/status" or return undef;
    while (<$in>) {
        return $1 if /^VmRSS:\s+(\d+)\s+kB/;
    }
    return undef;
}

# One Redis command over RESP (for checking leftovers); returns the reply
# as a Perl value (arrays as array refs), dies on error.
sub redis_command {
    my ($host, $port, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 3)
        or die "redis connect: $!";
    my $cmd = '*' . @args . "\r\n";
    $cmd .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $s $cmd;
    my $v = _resp($s);
    close $s;
    return $v;
}

sub _resp {
    my ($s) = @_;
    my $line = <$s>;
    die "redis: no reply\n" unless defined $line;
    $line =~ s/\r\n\z//;
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    return 0 + $rest if $t eq ':';
    die "redis error: $rest\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $rest < 0;
        read $s, my $buf, $rest + 2;
        return substr $buf, 0, $rest;
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [map { _resp($s) } 1 .. $rest];
    }
    die "redis: bad reply '$line'\n";
}

# --------------------------------------------------------------------------
# A private nginx for plain Test::More files
# --------------------------------------------------------------------------

package SandboxBridge::Stream::Server;

use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my @Servers;

# new(prefix => 't085:', locations => "...extra nginx conf...",
#     log_level => 'info')
sub new {
    my ($class, %o) = @_;
    for my $v (qw(TEST_NGINX_REDIS_PORT TEST_NGINX_DOCKER_SOCKET TEST_NGINX_SANDBOX_IMAGE)) {
        die "environment variable $v is not set (source build/services.env)\n"
            unless defined $ENV{$v};
    }
    my $root = $o{servroot}
        // ($ENV{TEST_NGINX_SERVROOT} ? "$ENV{TEST_NGINX_SERVROOT}" : 't/servroot');
    $root = File::Spec->rel2abs($root);
    my $self = bless {
        %o,
        servroot => $root,
        port     => $o{port} // $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984,
        binary   => $ENV{TEST_NGINX_BINARY} || 'nginx',
        modules  => $ENV{TEST_NGINX_LOAD_MODULES} // '',
        token    => $o{token} // 'secret-token',
        redis_host => $ENV{TEST_NGINX_REDIS_HOST} // '127.0.0.1',
        redis_port => $ENV{TEST_NGINX_REDIS_PORT},
    }, $class;
    push @Servers, $self;
    return $self;
}

sub conf_text {
    my ($self) = @_;
    my $r = $self->{servroot};
    my $out = '';
    $out .= "load_module $_;\n" for grep { length } split /\s+/, $self->{modules};
    $out .= "worker_processes 1;\ndaemon off;\nmaster_process off;\n";
    $out .= "error_log $r/logs/error.log " . ($self->{log_level} // 'info') . ";\n";
    $out .= "pid $r/logs/nginx.pid;\n";
    $out .= "user root;\n" if $> == 0;
    $out .= "events { worker_connections 1024; }\n";
    $out .= "http {\n    access_log $r/logs/access.log;\n    default_type text/plain;\n";
    $out .= "    ${_}_temp_path $r/${_}_temp;\n" for qw(client_body proxy fastcgi uwsgi scgi);
    $out .= "    sandbox_redis $self->{redis_host}:$self->{redis_port} "
          . "prefix=$self->{prefix} command_timeout=1s;\n";
    $out .= "    sandbox_reaper_interval 30s;\n";
    $out .= "    server {\n        listen 127.0.0.1:$self->{port};\n";
    $out .= "        sandbox_auth bearer;\n";
    $out .= "        sandbox_auth_token_file $r/html/tokens;\n";
    $out .= "        sandbox_docker_location /_docker;\n";
    $out .= "        sandbox_image $ENV{TEST_NGINX_SANDBOX_IMAGE};\n";
    $out .= "        location /api/paperclip-sandbox/v1 { sandbox_bridge; }\n";
    $out .= $self->{locations} // '';
    $out .= "        location /_docker/ {\n            internal;\n"
          . "            proxy_pass http://unix:$ENV{TEST_NGINX_DOCKER_SOCKET}:/v1.41/;\n"
          . "            proxy_read_timeout 1d;\n        }\n";
    $out .= "        location /_inspect/ {\n"
          . "            proxy_pass http://unix:$ENV{TEST_NGINX_DOCKER_SOCKET}:/v1.41/;\n"
          . "        }\n";
    $out .= "    }\n}\n";
    return $out;
}

sub start {
    my ($self) = @_;
    my $r = $self->{servroot};
    die "refusing servroot '$r'\n" if $r eq '' || $r eq '/';
    $self->_kill_stale;
    remove_tree("$r/conf", "$r/logs", "$r/html", glob("$r/*_temp")) if -d $r;
    make_path("$r/conf", "$r/logs", "$r/html");
    _write("$r/html/tokens", "$self->{token}\n");
    _write("$r/conf/nginx.conf", $self->conf_text);
    my @cmd = ($self->{binary}, '-p', "$r/", '-c', "$r/conf/nginx.conf");
    if (my $vg = $ENV{TEST_NGINX_USE_VALGRIND}) {
        unshift @cmd, 'valgrind', '-q', '--num-callers=50', '--leak-check=full',
            '--show-possibly-lost=no', '--errors-for-leak-kinds=definite',
            "--log-file=$r/logs/valgrind.log",
            (-f 'valgrind.suppress' ? ('--suppressions=' . File::Spec->rel2abs('valgrind.suppress')) : ()),
            ($vg =~ /^\d+$/ ? () : split ' ', $vg);
    }
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$r/logs/nginx.stderr";
        open STDERR, '>&', \*STDOUT;
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 15);
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "nginx exited at startup:\n" . _slurp("$r/logs/nginx.stderr")
                . _slurp("$r/logs/error.log");
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                      Proto => 'tcp');
        if ($s) { close $s; return $self }
        sleep 0.05;
    }
    $self->stop;
    die "nginx did not start listening on port $self->{port}\n";
}

sub pid { $_[0]{pid} }

# Wait (up to $secs) until the worker reports its Redis link ready: a
# request sent while it is still connecting gets 503 store_unavailable.
sub wait_store_ready {
    my ($self, $secs) = @_;
    my $deadline = time + ($secs // 5);
    while (time < $deadline) {
        return 1 if $self->error_log =~ /sandbox bridge: redis "[^"]*" ready/;
        sleep 0.05;
    }
    return 0;
}

# valgrind.log content (empty when not under valgrind)
sub valgrind_log { _slurp("$_[0]{servroot}/logs/valgrind.log") }

sub _kill_stale {
    my ($self) = @_;
    my $pf = "$self->{servroot}/logs/nginx.pid";
    open my $in, '<', $pf or return;
    my ($p) = (<$in> // '') =~ /(\d+)/;
    return unless $p && kill 0, $p;
    open my $c, '<', "/proc/$p/cmdline" or return;
    local $/;
    return unless (<$c> // '') =~ /nginx/;
    kill 'KILL', $p;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'QUIT', $pid;
    for (1 .. 100) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'TERM', $pid;
    for (1 .. 50) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub error_log {
    my ($self) = @_;
    return _slurp("$self->{servroot}/logs/error.log");
}

# API request: $srv->api(POST => '/exec', {...}) with a body given as a
# Perl hash (encoded with sorted keys) or a JSON string
sub api {
    my ($self, $method, $path, $body, %o) = @_;
    $body = SandboxBridge::Stream::json_encode($body) if ref $body;
    return SandboxBridge::Stream::http_request(
        port => $self->{port}, method => $method,
        path => ($o{base} // '/api/paperclip-sandbox/v1') . $path,
        token => $self->{token}, body => $body, timeout => $o{timeout} // 30);
}

sub stream {
    my ($self, $body, %o) = @_;
    $body = SandboxBridge::Stream::json_encode($body) if ref $body;
    return SandboxBridge::Stream::sse_client(
        port => $self->{port},
        path => ($o{base} // '/api/paperclip-sandbox/v1') . '/exec',
        token => $self->{token}, body => $body, %o);
}

sub _write {
    my ($path, $data) = @_;
    open my $out, '>', $path or die "write $path: $!";
    binmode $out;
    print $out $data;
    close $out;
}

sub _slurp {
    my ($path) = @_;
    open my $in, '<', $path or return '';
    binmode $in;
    local $/;
    return <$in> // '';
}

END {
    local $?;
    $_->stop for @Servers;
}

1;
