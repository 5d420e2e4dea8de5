# Idle exec streams (README "Exec", "Memory of an idle stream"): the
# exec's Docker create call runs apart from the client's request, a
# stream reads into a small buffer while its command prints nothing, and
# gives its buffers back after a quiet heartbeat interval.  What must hold
# whatever the buffers are:
#
#   * output that comes after a quiet start, after a quiet interval and
#     again after it arrives whole and in order, in the SSE events and in
#     the complete event, with the default proxy_buffer_size, with 64k
#     and with a 300 ms heartbeat (which gives the buffers back between
#     the two halves); the same in JSON mode;
#   * 30 streams opened at once all start (their create calls run apart
#     side by side), and once their clients leave every command is killed
#     and the worker holds no more connections than before.
#
# The worker's memory per idle stream is printed (diag), never asserted;
# bench/idle-streams.sh measures it.
#
# Plain Test::More: nginx is started by SandboxBridge::Stream::Server
# (master_process off: its pid is the worker's), Redis prefix t285:.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use Time::HiRes qw(time sleep);
use SandboxBridge::Stream qw(:all);

$SIG{PIPE} = 'IGNORE';

my $LEASE  = 'pc-env-t285-idle';
my $PREFIX = 't285:';
my $SOCK   = $ENV{TEST_NGINX_DOCKER_SOCKET} // '';

my $srv = SandboxBridge::Stream::Server->new(prefix => $PREFIX, locations => <<"_EOC_");
        location /hb/api/paperclip-sandbox/v1 {
            sandbox_heartbeat_interval 300ms;
            sandbox_bridge;
        }
        location /big/api/paperclip-sandbox/v1 {
            sandbox_docker_location /_docker64;
            sandbox_bridge;
        }
        location /_docker64/ {
            internal;
            proxy_pass http://unix:$SOCK:/v1.41/;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_read_timeout 1d;
        }
_EOC_
$srv->start;
$srv->wait_store_ready(10);

sub seq_text { join '', map { "$_\n" } $_[0] .. $_[1] }

sub exec_body {
    my ($cmd, %o) = @_;
    return { providerLeaseId => $LEASE, command => 'sh', args => ['-c', $cmd],
             ($o{stream} ? (streamOutput => JSON::PP::true) : ()) };
}

sub fds {
    opendir my $d, '/proc/' . $srv->pid . '/fd' or return -1;
    return scalar grep { !/^\./ } readdir $d;
}

# sleeps of this file still running in the lease container
sub sleeps {
    my ($secs) = @_;
    my $r = $srv->api(POST => '/exec', exec_body(
        "for p in /proc/[0-9]*; do tr '\\000' ' ' < \$p/cmdline 2>/dev/null; echo; done"
        . " | grep -c '^sleep $secs \$' || true"), timeout => 60);
    my ($h) = ($r->{status} // 0) == 200 ? eval { decode_json_strict($r->{body}) } : ();
    return $h ? $h->{stdout} + 0 : -1;
}

{
    my $r = $srv->api(POST => '/leases/acquire', {
        environmentId => 't285-idle', runId => 'r', reuseLease => JSON::PP::true,
        keepAlive => JSON::PP::true, sleepAfter => '1h' });
    is($r->{status}, 200, 'acquire the lease') or BAIL_OUT($r->{body} // $r->{error});
}

# ---------------------------------------------------------------- output after quiet
my $CMD = 'sleep 1; seq 1 30000; sleep 1; seq 30001 60000';
my $OUT = seq_text(1, 60000);

for my $base ('', '/hb', '/big') {
    my $name = $base eq '' ? 'default buffers'
             : $base eq '/hb' ? 'heartbeat 300ms' : 'proxy_buffer_size 64k';
    my $c = $srv->stream(exec_body($CMD, stream => 1),
                         base => $base . '/api/paperclip-sandbox/v1');
    ok($c->read_until_end(120), "$name: the stream ends");
    my $s = check_sse($c->{body});
    is_deeply($s->{errors}, [], "$name: a well-formed SSE body");
    ok($s->{stdout} eq $OUT, "$name: the stdout events carry all "
       . length($OUT) . ' bytes in order') or diag(length $s->{stdout});
    is($s->{terminal}, 'complete', "$name: complete event");
    is($s->{result} && $s->{result}{exitCode}, 0, "$name: exit code 0");
    ok(($s->{result} && $s->{result}{stdout} // '') eq $OUT,
       "$name: the complete event's stdout is whole");
    ok($s->{heartbeats} >= 1, "$name: keepalives while quiet") if $base eq '/hb';
}

{
    my $r = $srv->api(POST => '/exec', exec_body('sleep 1; seq 1 30000'), timeout => 60);
    my ($h) = ($r->{status} // 0) == 200 ? eval { decode_json_strict($r->{body}) } : ();
    ok($h && $h->{stdout} eq seq_text(1, 30000),
       'JSON mode: output after a quiet start is whole');
}

# ---------------------------------------------------------------- many idle streams
{
    my $N = 30;
    my $fds0 = fds();
    my $rss0 = rss_kb($srv->pid);
    my @c = map { $srv->stream(exec_body('sleep 47', stream => 1)) } 1 .. $N;
    my $heads = grep { $_->wait_headers(60) && $_->{head}{status} == 200 } @c;
    is($heads, $N, "$N streams opened at once: every one answers 200");

    my $deadline = time + 60;
    my $running = 0;
    while (time < $deadline) {
        $running = sleeps(47);
        last if $running >= $N;
        sleep 0.2;
    }
    is($running, $N, "... and every command runs");
    my $rss1 = rss_kb($srv->pid);
    diag(sprintf 'worker: %.1f kB and %.2f fds per idle stream',
         ($rss1 - $rss0) / $N, (fds() - $fds0) / $N);

    $_->pump(0.2) for @c;
    my $early = grep { $_->{eof} } @c;
    is($early, 0, 'no stream ended while idle');

    $_->close for @c;
    $deadline = time + 60;
    while (time < $deadline) {
        $running = sleeps(47);
        last if $running == 0;
        sleep 0.2;
    }
    is($running, 0, 'the clients left: every command is killed');

    $deadline = time + 30;
    sleep 0.2 while fds() > $fds0 && time < $deadline;
    ok(fds() <= $fds0, 'the worker holds no more fds than before');
}

# ---------------------------------------------------------------- cleanup
{
    my $r = $srv->api(DELETE => "/leases/$LEASE");
    is($r->{status}, 200, 'delete the lease');
    my $keys = redis_command('127.0.0.1', $ENV{TEST_NGINX_REDIS_PORT}, 'KEYS', "${PREFIX}lease:*");
    is_deeply($keys, [], 'no lease record is left');
    unlike($srv->error_log, qr/\[alert\]|\[emerg\]|\[crit\]/, 'no alert in the error log');
}

$srv->stop;
done_testing();
