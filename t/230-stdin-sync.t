# Workspace sync at Paperclip's sizes (README "Limits"), with the default
# limits and nginx's default client_max_body_size (1m) in both the bridge
# and the Docker location (no client_max_body_size anywhere):
#
#   * writeFile: files of 100 KB, 1 MiB and 3 MiB (one 4 MiB base64
#     chunk) as the base64 stdin of `base64 -d > file`; 15 MiB (20 MiB of
#     base64) and 72 MiB (96 MiB of base64, Paperclip's single-stream
#     maximum) in one stdin; a 20 MiB file in 4 MiB base64 chunks appended
#     with `base64 -d >>`, streamed (SSE) as production does. Each checked
#     by sha256sum in the sandbox against Digest::SHA here;
#   * readFile: the 20 MiB file read back with `dd bs=3145728 skip=N
#     count=1 | base64` (4 MiB of base64 stdout per exec) in JSON mode, and
#     one such read in SSE mode; byte for byte;
#   * the limits: a stdin one byte over 96 MiB is 400 naming
#     sandbox_max_stdin_size, a body one byte over 100 MiB is 413 (exactly
#     100 MiB passes the body limit); an operator's smaller
#     client_max_body_size in a bridge location still applies (413).
#
# The worker's peak RSS and the 20 MiB write/read times are printed
# (diag), never asserted; bench/stdin.sh measures them.
#
# Plain Test::More: nginx is started by SandboxBridge::Stream::Server
# (master_process off: its pid is the worker's), Redis prefix t230:.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use Time::HiRes qw(time);
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use SandboxBridge::Stream qw(:all);

$SIG{PIPE} = 'IGNORE';

my $MiB    = 1024 * 1024;
my $LEASE  = 'pc-env-t230-sync';
my $PREFIX = 't230:';
my $API    = '/api/paperclip-sandbox/v1';

my $srv = SandboxBridge::Stream::Server->new(prefix => $PREFIX, locations => <<'_EOC_');
        location /cmbs/api/paperclip-sandbox/v1 {
            client_max_body_size 2m;
            sandbox_bridge;
        }
_EOC_
$srv->start;
$srv->wait_store_ready(10);

# $n pseudo-random bytes (a 1 MiB random block, each MiB numbered)
my $BLOCK = join '', map { pack 'N', int rand 4294967296 } 1 .. $MiB / 4;

sub data_of {
    my ($n) = @_;
    my $s = '';
    my $i = 0;
    $s .= pack('N', $i++) . substr($BLOCK, 4) while length $s < $n;
    return substr $s, 0, $n;
}

# an exec body built by hand: the stdin is base64, nothing to escape
sub exec_body {
    my ($cmd, $stdin, %o) = @_;
    return '{"providerLeaseId":"' . $LEASE . '","command":"sh","args":["-c",'
         . json_encode($cmd) . ']'
         . ($o{stream} ? ',"streamOutput":true' : '')
         . (defined $stdin ? ',"stdin":"' . $stdin . '"' : '') . '}';
}

sub run_exec {
    my ($cmd, $stdin, %o) = @_;
    my $r = $srv->api(POST => '/exec', exec_body($cmd, $stdin),
                      timeout => 300, base => $o{base});
    my ($h) = ($r->{status} // 0) == 200 ? eval { decode_json_strict($r->{body}) } : ();
    return ($r, $h);
}

sub hwm_kb {
    open my $in, '<', '/proc/' . $srv->pid . '/status' or return 0;
    while (<$in>) { return $1 if /^VmHWM:\s+(\d+)\s+kB/ }
    return 0;
}

# one stdin: base64 -d > file; the digest from the sandbox
sub write_one {
    my ($name, $data) = @_;
    my $b64 = encode_base64($data, '');
    my ($r, $h) = run_exec("base64 -d > /tmp/$name && sha256sum /tmp/$name", $b64);
    is($r->{status}, 200, "$name: exec with " . length($b64) . " bytes of base64 stdin -> 200")
        or diag(substr($r->{body} // $r->{error} // '', 0, 300));
    is($h && $h->{stdout}, sha256_hex($data) . "  /tmp/$name\n",
       "$name: sha256 in the sandbox matches");
    return length $b64;
}

# ---------------------------------------------------------------- lease
{
    my $r = $srv->api(POST => '/leases/acquire', {
        environmentId => 't230-sync', runId => 'r', reuseLease => JSON::PP::true,
        keepAlive => JSON::PP::true, sleepAfter => '1h' });
    is($r->{status}, 200, 'acquire the lease') or BAIL_OUT($r->{body} // $r->{error});
}

# ---------------------------------------------------------------- small ones
write_one('f100k', data_of(100_000));
write_one('f1m', data_of($MiB));
is(write_one('f3m', data_of(3 * $MiB)), 4 * $MiB, '3 MiB file: one 4 MiB base64 chunk');

# ---------------------------------------------------------------- 20 MiB chunked
my $F20 = data_of(20 * $MiB);
my $CHUNK = 3 * $MiB;
{
    my $t0 = time;
    my $ok = 1;
    for (my $off = 0; $off < length $F20; $off += $CHUNK) {
        my $b64 = encode_base64(substr($F20, $off, $CHUNK), '');
        my $op = $off ? '>>' : '>';
        my $c = $srv->stream(exec_body("base64 -d $op /tmp/f20", $b64, stream => 1));
        $c->read_until_end(300);
        my $s = check_sse($c->{body});
        $ok &&= is_deeply([$s->{terminal}, $s->{result} && $s->{result}{exitCode}, @{ $s->{errors} }],
                          ['complete', 0], "20 MiB file, chunk at $off: streamed exec completes");
    }
    my $dt = time - $t0;
    my ($r, $h) = run_exec('sha256sum /tmp/f20');
    is($h && $h->{stdout}, sha256_hex($F20) . "  /tmp/f20\n",
       '20 MiB file written in 4 MiB base64 chunks (SSE): sha256 matches');
    diag(sprintf '20 MiB chunked write: %.2f s', $dt);
}

# ---------------------------------------------------------------- read back
{
    my $t0 = time;
    my ($back, $first) = ('', undef);
    for (my $i = 0; $i * $CHUNK < length $F20; $i++) {
        my ($r, $h) = run_exec("dd if=/tmp/f20 bs=$CHUNK skip=$i count=1 2>/dev/null | base64");
        $first //= $h;
        $back .= decode_base64($h ? $h->{stdout} : '');
    }
    my $dt = time - $t0;
    (my $b64 = $first ? $first->{stdout} : '') =~ s/\n//g;
    is(length $b64, 4 * $MiB, 'readFile: one read is 4 MiB of base64 stdout (JSON)');
    ok($first && !$first->{outputTruncated}, 'readFile: not truncated');
    ok($back eq $F20, 'readFile: the 20 MiB file read back in JSON mode is byte for byte the same');
    diag(sprintf '20 MiB read (7 execs, JSON, decoded here with JSON::PP): %.2f s', $dt);

    my $c = $srv->stream(exec_body("dd if=/tmp/f20 bs=$CHUNK skip=1 count=1 2>/dev/null | base64",
                                   undef, stream => 1));
    $c->read_until_end(300);
    my $s = check_sse($c->{body});
    is_deeply($s->{errors}, [], 'readFile (SSE): well-formed stream');
    is($s->{terminal}, 'complete', 'readFile (SSE): complete');
    ok(decode_base64($s->{stdout}) eq substr($F20, $CHUNK, $CHUNK),
       'readFile (SSE): 4 MiB of base64 stdout decode to the file\'s second 3 MiB');
}
undef $F20;

# ---------------------------------------------------------------- single streams
write_one('f15m', data_of(15 * $MiB));

{
    my $hwm0 = hwm_kb();
    my $data = data_of(72 * $MiB);
    is(write_one('f72m', $data), 96 * $MiB, '72 MiB file: 96 MiB of base64 in one stdin');
    diag(sprintf 'worker VmHWM: %d kB before, %d kB after the 96 MiB stdin', $hwm0, hwm_kb());
}
run_exec('rm -f /tmp/f100k /tmp/f1m /tmp/f3m /tmp/f15m /tmp/f20 /tmp/f72m');

# ---------------------------------------------------------------- limits
{
    my $over = 'A' x (96 * $MiB + 1);
    my ($r) = run_exec('touch /tmp/ran', $over);
    is($r->{status}, 400, 'a stdin of 96 MiB + 1 byte -> 400');
    is($r->{body}, '{"error":"invalid_request","message":"stdin is larger than 100663296 bytes."}',
       '... naming sandbox_max_stdin_size');

    # bodies of exactly 100 MiB and one byte more
    my $head = exec_body('touch /tmp/ran', '');
    chop $head; chop $head;
    my $pad = 100 * $MiB - length($head) - 2;
    $r = $srv->api(POST => '/exec', $head . ('A' x $pad) . '"}', timeout => 300);
    is($r->{status}, 400, 'a body of exactly 100 MiB passes the body limit (its stdin does not)');
    $r = $srv->api(POST => '/exec', $head . ('A' x ($pad + 1)) . '"}', timeout => 300);
    is($r->{status}, 413, 'a body of 100 MiB + 1 byte -> 413');
    like($r->{body} // '', qr/\A\{"error":"payload_too_large","message":"[^"]+"\}\z/,
         '... payload_too_large');

    # an operator's smaller client_max_body_size in a bridge location
    ($r) = run_exec('touch /tmp/ran', encode_base64(data_of(3 * $MiB), ''), base => '/cmbs' . $API);
    is($r->{status}, 413, 'client_max_body_size 2m in a bridge location: a 4 MiB chunk -> 413');

    my ($r2, $h) = run_exec('ls /tmp/ran 2>&1; ls -a /tmp | grep -c paperclip-bridge-stdin');
    like($h && $h->{stdout}, qr/No such file.*\n0\n\z/s,
         'nothing refused ran; no staged stdin file is left');
}

# ---------------------------------------------------------------- cleanup
{
    my $r = $srv->api(DELETE => "/leases/$LEASE");
    is($r->{status}, 200, 'delete the lease');
    my $keys = redis_command('127.0.0.1', $ENV{TEST_NGINX_REDIS_PORT}, 'KEYS', "${PREFIX}lease:*");
    is_deeply($keys, [], 'no lease record is left');
    unlike($srv->error_log, qr/\[alert\]|\[emerg\]/, 'no alert in the error log');
}

$srv->stop;
done_testing();
