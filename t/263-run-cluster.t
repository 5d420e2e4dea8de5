# make run-cluster (README "Local cluster"): two nginx nodes, two dockerds
# over TLS, a Redis primary, a replica and three sentinels, one token.  The
# printed lines are parsed; a lease acquired on node 1 is resumed, exec'd
# (JSON and SSE), released and deleted on node 2.  Then Ctrl-C (SIGINT to
# the process group, as a terminal sends it) stops everything: no process
# of its runtime dir is left, its ports are closed.
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(time sleep);

use SandboxBridge::Scenario qw(wait_until);

plan skip_all => 'needs util/cluster.sh (make test-cluster)'
    unless $ENV{CLUSTER_SENTINELS};

my $root = "$FindBin::Bin/..";
# two free ports in a row, below the ephemeral range (an outgoing
# connection could take an ephemeral one while the cluster starts)
sub in_use { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_[0], Timeout => 1) }
my $port = 18330;
$port += 2 while $port < 18900 && (in_use($port) || in_use($port + 1));
my $instance = 't263-cluster';

pipe(my $rd, my $wr) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if (!$pid) {
    close $rd;
    POSIX::setsid();    # its own process group, like a terminal's job
    open STDIN, '<', '/dev/null';
    open STDOUT, '>&', $wr;
    open STDERR, '>&', $wr;
    $ENV{BRIDGE_PORT} = $port;
    $ENV{BRIDGE_AUTH_TOKEN} = 'secret-token';
    $ENV{PSB_INSTANCE} = $instance;
    $ENV{PSB_CLUSTER_PORT} = 17600;
    exec('make', '-s', '--no-print-directory', '-C', $root, 'run-cluster')
        or POSIX::_exit(127);
}
close $wr;

my $out = '';
my $sel = IO::Select->new($rd);
my $deadline = time + 240;
while (time < $deadline && $out !~ /^\(Ctrl-C/m) {
    last unless $sel->can_read(1) || 1;
    my $n = sysread($rd, my $buf, 65536);
    last if defined $n && $n == 0;
    $out .= $buf if $n;
}
my @nodes = $out =~ m{^node: http://127\.0\.0\.1:(\d+)/api/paperclip-sandbox/v1$}mg;
my @sentinels = $out =~ m{^sentinel: 127\.0\.0\.1:(\d+) master=(\S+)$}mg;
is_deeply(\@nodes, [$port, $port + 1], 'two nodes printed, on BRIDGE_PORT and +1')
    or diag($out);
ok(@sentinels == 6, 'three sentinel lines with the master name') or diag($out);
like($out, qr{^bridgeBaseUrl: http://127\.0\.0\.1:$port/api/paperclip-sandbox/v1\nbridgeAuthToken: secret-token$}m,
     'then the two Paperclip settings');

my ($rt) = $out =~ m{configs:\s+(/\S+)/node1/conf/nginx\.conf};
ok($rt, "runtime dir $rt");

my @ng = map {
    SandboxBridge::Scenario::Nginx->new(name => 't263', port => $_, timeout => 60,
                                       redis => 'unused')
} @nodes;

if (@nodes == 2) {
    ok(wait_until(sub { $ng[1]->api(GET => '/health')->{status} == 200 }, 60, 0.2),
       'node 2 healthy');

    # a build with several Docker hosts per bridge lists both on each node
    my $h = $ng[1]->api(GET => '/health');
    if ($h->{json} && $h->{json}{hosts}) {
        is_deeply([ map { $_->{name} } @{ $h->{json}{hosts} } ],
                  ['docker-a', 'docker-b'], 'node 2 lists both Docker hosts');
    }

    my $r = $ng[0]->api(POST => '/leases/acquire',
                        { environmentId => 't263-env', runId => 'r1',
                          reuseLease => \1, keepAlive => \1, sleepAfter => '1h' });
    is($r->{status}, 200, 'acquire on node 1') or diag($r->{body});
    my $id = $r->{json}{providerLeaseId} // '';

    $r = $ng[1]->api(POST => '/leases/resume', { providerLeaseId => $id });
    is($r->{status}, 200, 'resume on node 2') or diag($r->{body});

    $r = $ng[1]->exec_cmd($id, 'sh', '-c', 'echo node2; exit 4');
    is($r->{body}, '{"exitCode":4,"signal":null,"timedOut":false,"stdout":"node2\n","stderr":""}',
       'exec (JSON) on node 2');

    $r = $ng[1]->api(POST => '/exec', { providerLeaseId => $id, command => 'echo',
                                        args => ['sse'], streamOutput => \1 });
    like($r->{body}, qr/\Aevent: stdout\ndata: \{"data":"sse\\n"\}\n\n.*event: complete\ndata: \{"exitCode":0,/s,
         'exec (SSE) on node 2');

    $r = $ng[1]->api(POST => '/leases/release', { providerLeaseId => $id, reuseLease => \0 });
    is($r->{status}, 200, 'release on node 2') or diag($r->{body});
    $r = $ng[1]->api(DELETE => "/leases/$id");
    is($r->{status}, 200, 'delete on node 2');
    $r = $ng[0]->api(POST => '/leases/resume', { providerLeaseId => $id });
    is($r->{status}, 409, 'node 1 sees it gone');
}

# Ctrl-C
kill 'INT', -$pid;
my $t0 = time;
my $done = wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 120, 0.2);
ok($done, sprintf('Ctrl-C stopped it (%.1f s)', time - $t0));
kill 'KILL', -$pid unless $done;
{ local $/; $out .= <$rd> // '' }

my @left;
if ($rt) {
    opendir my $dh, '/proc';
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$p/cmdline" or next;
        my $cl = do { local $/; <$fh> } // '';
        $cl =~ tr/\0/ /;
        push @left, "$p $cl" if index($cl, "$rt/") >= 0 || index($cl, "$rt ") >= 0;
    }
    ok(!-e $rt, 'its runtime dir is removed');
}
is_deeply(\@left, [], 'no process of the cluster is left');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_", Timeout => 1), "port $_ closed")
    for @nodes, map { $sentinels[$_ * 2] } 0 .. $#sentinels / 2;
diag($out) unless Test::More->builder->is_passing;

done_testing();
