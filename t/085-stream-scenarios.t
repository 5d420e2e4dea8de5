# Streaming exec scenarios that need a real client between requests
# (README "Exec", D8, D11, D12; the issue's acceptance case):
#
#   * chunks of `for i in 1 2 3; do echo $i; sleep 1; done` arrive ~1 s apart,
#     then exactly one complete event;
#   * the default heartbeat: the first ": keepalive" after 15 s;
#   * several execs at once in one lease (same session) all succeed (D12);
#   * a client that goes away kills the command (D11), streaming or not;
#   * 5 MB of output and 1 MB of random bytes: every frame is valid UTF-8
#     JSON, nothing is lost, complete repeats the whole output (D8);
#   * a slow reader of a 50 MB stream does not grow the worker's memory
#     without bound (VmRSS sampled from /proc).
#
# Plain Test::More: nginx is started by SandboxBridge::Stream::Server with
# the canonical configuration (Redis prefix t085:), one reusable lease.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use SandboxBridge::Stream qw(:all);

my $SLOW   = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;   # no timing/RSS asserts
my $ASAN   = ($ENV{ASAN_OPTIONS} // '') ne '' || ($ENV{TEST_NGINX_BINARY} // '') =~ /asan/;
my $LEASE  = 'pc-env-t085-scenarios';
my $PREFIX = 't085:';

my $srv = SandboxBridge::Stream::Server->new(prefix => $PREFIX);
$srv->start;

# A request sent while the worker still connects to Redis gets a 503
# store_unavailable (a module issue of its own); wait for the connection.
$srv->wait_store_ready(10);

sub exec_json {
    my ($body) = @_;
    my $r = $srv->api(POST => '/exec', { providerLeaseId => $LEASE, %$body });
    return $r;
}

sub result_of {
    my ($r) = @_;
    return undef unless $r && defined $r->{body} && ($r->{status} // 0) == 200;
    my ($h) = eval { decode_json_strict($r->{body}) };
    return $h;
}

# lines printed by a command in the sandbox (default `ps -o pid,args`)
# that match $re
sub procs_matching {
    my ($re, $cmd) = @_;
    my @argv = split ' ', $cmd // 'ps -o pid,args';
    my $h = result_of(exec_json({ command => shift @argv, args => \@argv }))
        or return ('<command failed>');
    return grep { /$re/ } split /\n/, $h->{stdout};
}

# poll until no line matches $re (up to $secs); returns the time it took,
# or undef with the lines still matching in @$left
sub wait_gone {
    my ($re, $secs, $left, $cmd) = @_;
    my $t0 = time;
    while (1) {
        my @p = procs_matching($re, $cmd);
        return time - $t0 unless @p;
        if (time - $t0 > $secs) {
            @$left = @p;
            return undef;
        }
        sleep 0.2;
    }
}

my $T = JSON::PP::true;

# ---------------------------------------------------------------- lease
{
    my $r = $srv->api(POST => '/leases/acquire',
        { environmentId => 't085-scenarios', runId => 'run-1', reuseLease => $T,
          keepAlive => $T, sleepAfter => '1h' });
    is $r->{status}, 200, 'acquire the reusable lease' or diag explain $r;
    like $r->{body} // '', qr/"providerLeaseId":"\Q$LEASE\E"/, 'lease id';
}

# ------------------------------------------- default heartbeat (background)
# The first ": keepalive" comes 15 s after the stream starts (README "Exec").  This
# runs in a child while the other scenarios run.
my ($hb_pid, $hb_fh);
{
    pipe my $rd, my $wr or die "pipe: $!";
    $hb_pid = fork // die "fork: $!";
    if (!$hb_pid) {
        close $rd;
        my @out;
        my $ok = eval {
            my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T,
                                   command => 'sh', args => ['-c', 'sleep 16.5; echo done'] });
            $c->wait_headers(10);
            $c->read_until_end(40);
            for my $f (@{ $c->{frames} }) {
                push @out, sprintf "%.3f\t%s\t%s", $f->{t},
                    defined $f->{comment} ? ":$f->{comment}" : $f->{event} // '?',
                    $f->{data} // '';
            }
            1;
        };
        push @out, "ERROR\t$@" unless $ok;
        print $wr join("\n", @out), "\n";
        close $wr;
        POSIX::_exit(0);    # no END blocks: the parent owns nginx
    }
    close $wr;
    $hb_fh = $rd;
}

# ---------------------------------------------------- acceptance: timing
{
    my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T, command => 'sh',
                           args => ['-c', 'for i in 1 2 3; do echo $i; sleep 1; done'] });
    ok $c->wait_headers(5), 'acceptance: response headers arrive';
    my $h = $c->{head}{headers};
    is $c->{head}{status}, 200, 'acceptance: 200';
    is $h->{'content-type'}, 'text/event-stream', 'acceptance: Content-Type';
    is $h->{'cache-control'}, 'no-cache', 'acceptance: Cache-Control';
    ok $c->read_until_end(10), 'acceptance: the stream ends';
    my $chk = check_sse($c->{body});
    is_deeply $chk->{errors}, [], 'acceptance: well-formed SSE';
    my @f = grep { defined $_->{event} } @{ $c->{frames} };
    is_deeply [map { [$_->{event}, $_->{event} eq 'complete' ? '' : $_->{data}] } @f],
        [[stdout => '{"data":"1\n"}'], [stdout => '{"data":"2\n"}'],
         [stdout => '{"data":"3\n"}'], [complete => '']],
        'acceptance: three stdout events, then one complete';
    is $chk->{result_raw},
        '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"1\n2\n3\n","stderr":""}',
        'acceptance: complete carries exitCode 0 and stdout "1\n2\n3\n"';
    my @t = map { $_->{t} } @f;
    note sprintf 'acceptance timings (s after the request): headers %.3f, chunks %s, complete %.3f',
        $c->{head_t}, join(' ', map { sprintf '%.3f', $_ } @t[0 .. 2]), $t[3] // -1;
    SKIP: {
        skip 'timing under valgrind', 4 if $SLOW || @t != 4;
        cmp_ok $t[0], '<', 0.9, 'acceptance: the first chunk arrives at once';
        for my $i (1, 2) {
            my $gap = $t[$i] - $t[$i - 1];
            ok $gap > 0.75 && $gap < 1.35, sprintf 'acceptance: chunk %d arrives ~1 s after chunk %d (%.3f s)', $i + 1, $i, $gap;
        }
        my $gap = $t[3] - $t[2];
        ok $gap > 0.75 && $gap < 1.35, sprintf 'acceptance: complete ~1 s after the last chunk (%.3f s)', $gap;
    }
}

# ------------------------------------------- concurrency in one lease (D12)
{
    my $t0 = time;
    my @c;
    for my $i (1 .. 5) {
        push @c, [json => $i, $srv->stream({ providerLeaseId => $LEASE, command => 'sh',
            args => [q{-c}, q{sleep 1; echo "job-$1"; echo "err-$1" >&2}, q{sh}, "$i"],
            sessionId => 'paperclip' })];
    }
    for my $i (6, 7) {
        push @c, [sse => $i, $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T,
            command => 'sh', args => [q{-c}, q{sleep 1; echo "job-$1"}, q{sh}, "$i"],
            sessionId => 'paperclip' })];
    }
    $_->[2]->read_until_end(15) for @c;
    my $wall = time - $t0;
    for my $x (@c) {
        my ($kind, $i, $c) = @$x;
        is $c->{head}{status}, 200, "concurrent exec $i ($kind): 200";
        if ($kind eq 'json') {
            is $c->{body}, qq({"exitCode":0,"signal":null,"timedOut":false,"stdout":"job-$i\\n","stderr":"err-$i\\n"}),
                "concurrent exec $i: its own output";
        } else {
            is $c->{body}, qq(event: stdout\ndata: {"data":"job-$i\\n"}\n\n)
                . qq(event: complete\ndata: {"exitCode":0,"signal":null,"timedOut":false,"stdout":"job-$i\\n","stderr":""}\n\n),
                "concurrent exec $i (streaming): its own output";
        }
    }
    note sprintf '7 concurrent 1 s execs in one lease/session took %.2f s', $wall;
    SKIP: {
        skip 'timing under valgrind', 1 if $SLOW;
        cmp_ok $wall, '<', 3, 'concurrent execs of one session run in parallel (D12)';
    }
}

# ----------------------------------------------- client disconnect (D11)
for my $streaming (1, 0) {
    my $what = $streaming ? 'streaming' : 'non-streaming';
    my $n = 400 + int rand 500;
    my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $streaming ? $T : JSON::PP::false,
                           command => 'sh', args => ['-c', "echo ready; sleep $n; echo t085-mark-$n"],
                           stdin => "staged\n" });
    if ($streaming) {
        $c->wait_headers(5);
        my $deadline = time + 5;
        $c->read_once(0.2) while time < $deadline && !grep { ($_->{data} // '') =~ /ready/ } @{ $c->{frames} };
    } else {
        sleep 0.8;
    }
    my @before = procs_matching(qr/^\s*\d+\s+sleep $n$/);
    is scalar(@before), 1, "$what disconnect: the command runs before the client goes away";
    $c->close;
    my @left;
    my $took = wait_gone(qr/sleep $n\b|t085-mark-$n/, 5, \@left);
    ok defined $took, "$what disconnect: the command is killed (D11)"
        or diag "still running: @left";
    note sprintf "$what disconnect: processes gone %.2f s after the close", $took if defined $took;
    my $staged = wait_gone(qr/^\.paperclip-bridge-stdin-/m, 3, \@left, 'ls -a /tmp');
    ok defined $staged, "$what disconnect: the staged stdin file is removed"
        or diag "left in /tmp: @left";
}

# ------------------------- many clients gone at once: one kill for them all
# Kills for one container that come together share one Docker exec; every
# command dies, including children that left the process group (setsid)
# or dropped the marker (env -i), and every staged stdin file goes.
{
    my $base = 2000 + int rand 5000;
    my @cmds = (
        (map { "echo ready; sleep " . ($base + $_) } 0 .. 3),
        "echo ready; setsid sleep " . ($base + 4) . " & sleep " . ($base + 5),
        "echo ready; env -i sleep " . ($base + 6) . " & sleep " . ($base + 7),
    );
    my @c = map {
        $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T,
                       command => 'sh', args => ['-c', $_], stdin => "staged\n" })
    } @cmds;
    for my $c (@c) {
        $c->wait_headers(10);
        my $deadline = time + 10;
        $c->read_once(0.2) while time < $deadline && !grep { ($_->{data} // '') =~ /ready/ } @{ $c->{frames} };
    }
    my $re = qr/sleep (?:${\ join '|', map { $base + $_ } 0 .. 7})$/;
    my @before;
    my $deadline = time + 10;
    while (time < $deadline) {
        @before = procs_matching($re);
        last if @before == 8;
        sleep 0.2;
    }
    is scalar(@before), 8, 'batch disconnect: 8 processes of 6 commands run' or diag "@before";
    $_->close for @c;
    my @left;
    my $took = wait_gone($re, 10, \@left);
    ok defined $took, 'batch disconnect: every process is killed, escaped ones too'
        or diag "still running: @left";
    note sprintf 'batch disconnect: processes gone %.2f s after the close', $took if defined $took;
    my $staged = wait_gone(qr/^\.paperclip-bridge-stdin-/m, 5, \@left, 'ls -a /tmp');
    ok defined $staged, 'batch disconnect: every staged stdin file is removed'
        or diag "left in /tmp: @left";
}

# ------------------------------------------ 5 MB stream, nothing lost (D8)
{
    my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T, command => 'sh',
                           args => ['-c', q{head -c 5000000 /dev/zero | tr '\0' a; echo done >&2}] },
                         keep_frames => 0);
    $c->wait_headers(5);
    ok $c->read_until_end(30), '5 MB stream: ends';
    my $chk = check_sse($c->{body});
    is_deeply $chk->{errors}, [], '5 MB stream: every frame well-formed';
    is length $chk->{stdout}, 5_000_000, '5 MB stream: the stdout frames carry 5000000 bytes';
    ok $chk->{stdout} eq 'a' x 5_000_000, '5 MB stream: ... all of them "a"';
    is $chk->{stderr}, "done\n", '5 MB stream: stderr frame';
    is $chk->{terminal}, 'complete', '5 MB stream: complete event';
    is_deeply $chk->{result_keys}, [qw(exitCode signal timedOut stdout stderr)],
        '5 MB stream: result keys in the exec result key order';
    ok defined $chk->{result}{stdout} && $chk->{result}{stdout} eq $chk->{stdout},
        '5 MB stream: complete.stdout repeats the whole output';
    note sprintf '5 MB stream: %d stdout frames, %d body bytes', scalar(grep { $_->[0] eq 'stdout' } @{ $chk->{chunks} }),
        length $c->{body};
}

# ----------------------------- random bytes: valid UTF-8 JSON frames (D8)
{
    my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T, command => 'sh',
        args => ['-c', 'head -c 1000000 /dev/urandom; printf END; head -c 200000 /dev/urandom >&2; printf END >&2'] },
        keep_frames => 0);
    $c->wait_headers(5);
    ok $c->read_until_end(30), 'random bytes: stream ends';
    my $chk = check_sse($c->{body});
    is_deeply $chk->{errors}, [], 'random bytes: every data line is valid UTF-8 and valid JSON';
    ok utf8_valid($c->{body}), 'random bytes: the whole SSE body is valid UTF-8';
    ok $chk->{stdout} =~ /\x{fffd}/ && $chk->{stdout} =~ /END\z/,
        'random bytes: invalid bytes became U+FFFD, output complete to the end';
    ok $chk->{result} && $chk->{result}{stdout} eq $chk->{stdout},
        'random bytes: complete.stdout equals the concatenated stdout frames';
    ok $chk->{result} && $chk->{result}{stderr} eq $chk->{stderr} && $chk->{stderr} =~ /END\z/,
        'random bytes: complete.stderr equals the concatenated stderr frames';
}

# --------------------- slow reader: bounded worker memory (50 MB stream)
{
    my $pid = $srv->pid;
    my $base = rss_kb($pid);
    my ($stdout_len, $frames, $complete, @bad) = (0, 0, undef);
    my $c = $srv->stream({ providerLeaseId => $LEASE, streamOutput => $T, command => 'sh',
                           args => ['-c', q{head -c 50000000 /dev/zero | tr '\0' a}] },
        discard_body => 1, keep_frames => 0, rcvbuf => 65536,
        on_frame => sub {
            my $f = shift;
            return if defined $f->{comment};
            # fast path for the expected frames (the client must keep up)
            if (($f->{event} // '') eq 'stdout' && $f->{data} =~ /\A\{"data":"(a+)"\}\z/) {
                $stdout_len += length $1;
                $frames++;
                return;
            }
            my ($h) = eval { decode_json_strict($f->{data}) };
            if (!$h) { push @bad, $@; return }
            if (($f->{event} // '') eq 'stdout') { $stdout_len += length $h->{data}; $frames++ }
            elsif (($f->{event} // '') eq 'complete') { $complete = $h }
        });
    $c->wait_headers(5);
    my ($max, $max_pause) = ($base, $base);
    my $t0 = time;
    my $next = 0;
    my @samples;
    # read nothing for 2 s, read at most ~20 MB/s up to 25 MB, pause 1 s,
    # read the rest the same way
    my $pause_until = $t0 + 2;
    my $sample = sub {
        return if time < $next;
        my $r = rss_kb($pid) // 0;
        $max = $r if $r > $max;
        $max_pause = $r if time < $pause_until && $r > $max_pause;
        push @samples, sprintf '%.1fs:%dMB/%dMB', time - $t0, $r / 1024, $c->{bytes} / 1e6;
        $next = time + 0.25;
    };
    my $second_pause = 0;
    while (!$c->{eof} && !$c->{last_chunk} && time - $t0 < 60) {
        if (time < $pause_until) {
            sleep 0.05;
        } else {
            if (!$second_pause && $c->{bytes} > 25e6) {
                $second_pause = 1;
                $pause_until = time + 1;
                next;
            }
            $c->read_once(1, 65536);
            sleep 0.003;
        }
        $sample->();
    }
    $next = 0;
    $sample->();
    my $el = time - $t0;
    is_deeply \@bad, [], 'slow reader: every frame is valid JSON';
    is $stdout_len, 50_000_000, 'slow reader: all 50000000 bytes arrived in stdout frames';
    ok $complete && $complete->{exitCode} == 0, 'slow reader: complete with exitCode 0';
    is length($complete ? $complete->{stdout} : ''), 8 * 1024 * 1024,
        'slow reader: complete.stdout capped at the default sandbox_output_limit (8m)';
    ok $complete && $complete->{outputTruncated}, 'slow reader: outputTruncated:true';
    note sprintf 'slow reader: %.1f s, %d frames, worker VmRSS baseline %.1f MB, max during the pauses %.1f MB (+%.1f), '
        . 'max overall %.1f MB (+%.1f)', $el, $frames, $base / 1024, $max_pause / 1024,
        ($max_pause - $base) / 1024, $max / 1024, ($max - $base) / 1024;
    note 'slow reader samples (time:VmRSS/client bytes): ' . join ' ', @samples;
    SKIP: {
        skip 'RSS is meaningless under valgrind/ASan', 2 if $SLOW || $ASAN;
        cmp_ok $max_pause - $base, '<', 16 * 1024,
            'slow reader: worker RSS grows < 16 MB while the client reads nothing';
        cmp_ok $max - $base, '<', 64 * 1024,
            'slow reader: worker RSS stays < 64 MB over the baseline, complete event included';
    }
}

# --------------------------------- collect the default-heartbeat child
{
    local $/;
    my $out = <$hb_fh>;
    close $hb_fh;
    waitpid $hb_pid, 0;
    my @rows = map { [split /\t/, $_, 3] } grep { length } split /\n/, $out // '';
    my @err = grep { $_->[0] eq 'ERROR' } @rows;
    is_deeply \@err, [], 'default heartbeat: client ran';
    my @hb = grep { $_->[1] eq ': keepalive' } @rows;
    my @term = grep { $_->[1] eq 'complete' || $_->[1] eq 'error' } @rows;
    note 'default heartbeat stream: ' . join ', ', map { "$_->[0] $_->[1]" } @rows;
    is scalar(@hb), 1, 'default heartbeat: exactly one ": keepalive" during a 16.5 s command';
    SKIP: {
        skip 'timing under valgrind', 1 if $SLOW || !@hb;
        ok $hb[0][0] > 14.5 && $hb[0][0] < 16, sprintf 'default heartbeat: the first one after ~15 s (%.2f s)', $hb[0][0];
    }
    is scalar(@term), 1, 'default heartbeat: exactly one terminal event';
    is $term[0][1], 'complete', 'default heartbeat: ... a complete event' if @term;
    is $rows[-1][1], 'complete', 'default heartbeat: nothing after the terminal event' if @rows;
}

# ------------------------------------------------------------- cleanup
{
    my $r = $srv->api(DELETE => "/leases/$LEASE");
    is $r->{status}, 200, 'DELETE the lease';
    is $r->{body}, '{"ok":true}', 'DELETE body';
    $r = exec_json({ command => 'echo' });
    is $r->{status}, 409, 'exec after DELETE: 409 (D3)';
    $r = SandboxBridge::Stream::http_request(port => $srv->{port}, method => 'GET',
        path => '/_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.lease%3D'
              . $LEASE . '%22%5D%7D', token => $srv->{token});
    is $r->{body}, "[]\n", 'no container left for the lease';
    my $keys = eval { redis_command($srv->{redis_host}, $srv->{redis_port}, 'KEYS', "${PREFIX}*") } || [];
    is_deeply [grep { /lease/ } @$keys], [], "no lease key left under $PREFIX";
    # the reaper's lock may exist, but it expires by itself (-1: no TTL;
    # -2: it expired between KEYS and PTTL)
    my @forever = grep { redis_command($srv->{redis_host}, $srv->{redis_port}, 'PTTL', $_) == -1 }
                  grep { !/lease/ } @$keys;
    is_deeply \@forever, [], "every other Redis key under $PREFIX expires by itself"
        or diag "no TTL: @forever";
}

$srv->stop;
{
    my $log = $srv->error_log;
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ || /(?:AddressSanitizer|LeakSanitizer|runtime error:)/ }
              split /\n/, $log;
    is_deeply \@bad, [], 'no [alert]/[crit]/[emerg] or sanitizer reports in error.log';
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        my $vg = $srv->valgrind_log;
        is $vg, '', 'valgrind reports nothing' or diag $vg;
    }
}

done_testing();
