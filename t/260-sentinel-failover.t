# Redis Sentinel failover mid-traffic (README "Redis Sentinel"), on the
# real processes of util/cluster.sh (make test-cluster): a primary, one
# replica and three sentinels (down-after 1 s), passwords from files.
#
# Two nginx share the cluster: W with `wait=1,1s` and N without.  Leases are
# acquired on both, four at a time, while the primary is SIGKILLed.  While
# no primary is known the answers are 503 store_unavailable; N gets 200s
# again on the promoted replica; W once a replica acknowledges again (the
# old primary, restarted, rejoins as replica).  Every lease W answered 200
# for still exists afterwards.  The times are printed (no thresholds).
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use Time::HiRes qw(time sleep);

use SandboxBridge::Scenario qw(wait_until);

plan skip_all => 'needs util/cluster.sh (make test-cluster)'
    unless $ENV{CLUSTER_SENTINELS};

my $CLUSTER = "$FindBin::Bin/../util/cluster.sh";
my $REDIS_OPTS = "master=$ENV{CLUSTER_MASTER}"
    . " password_file=$ENV{CLUSTER_REDIS_PASSWORD_FILE}"
    . " sentinel_password_file=$ENV{CLUSTER_SENTINEL_PASSWORD_FILE}"
    . " command_timeout=2s connect_timeout=1s";

sub slurp { open my $fh, "<", $_[0] or die "$_[0]: $!"; local $/; my $t = <$fh>; $t =~ s/\s+\z//; $t }
my $PW = slurp($ENV{CLUSTER_REDIS_PASSWORD_FILE});
my $SPW = slurp($ENV{CLUSTER_SENTINEL_PASSWORD_FILE});

# redis-cli against one instance of the cluster (password via environment)
sub rcli {
    my ($port, $pw, @args) = @_;
    local $ENV{REDISCLI_AUTH} = $pw;
    open my $fh, '-|', 'timeout', '3', 'redis-cli', '-h', '127.0.0.1',
        '-p', $port, @args or return '';
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

sub primary_port {
    for my $s (split /,/, $ENV{CLUSTER_SENTINELS}) {
        my ($port) = $s =~ /:(\d+)$/;
        my @l = split /\n/, rcli($port, $SPW, 'SENTINEL',
                                 'get-master-addr-by-name', $ENV{CLUSTER_MASTER});
        return $l[1] if @l == 2 && $l[1] =~ /^\d+$/;
    }
    return undef;
}

my @Nginx;
END {
    for my $ng (@Nginx) {
        next unless $ng;
        if (Test::More->builder->is_passing) { $ng->cleanup } else { $ng->stop }
    }
}

sub nginx {
    my %o = @_;
    my $ng = SandboxBridge::Scenario::Nginx->new(
        redis => "sentinel=$ENV{CLUSTER_SENTINELS}",
        docker_socket => $ENV{CLUSTER_DOCKER1_SOCKET},
        http_extra => 'sandbox_reaper_interval 10m;', timeout => 60, %o);
    push @Nginx, $ng;
    $ng->start;
    return $ng;
}

my $W = nginx(name => 't260w', prefix => 't260w:',
              redis_opts => "$REDIS_OPTS wait=1,1s");
my $N = nginx(name => 't260n', prefix => 't260n:', redis_opts => $REDIS_OPTS);

my $p0 = primary_port();
ok($p0, "the sentinels name a primary (127.0.0.1:$p0)");

my $n = 0;
sub acquire_send {
    my $ng = shift;
    my $env = sprintf('t260-%s-%03d', $ng->prefix =~ /w/ ? 'w' : 'n', ++$n);
    return { env => $env, ng => $ng, t0 => time,
             h => $ng->api_send(POST => '/leases/acquire',
                                { environmentId => $env, runId => 'r',
                                  reuseLease => \1, keepAlive => \1,
                                  sleepAfter => '1h' }) };
}

# before: both answer 200, and W's lease is on the replica too
for my $ng ($W, $N) {
    my $x = acquire_send($ng);
    my $r = $ng->finish($x->{h});
    is($r->{status}, 200, $ng->prefix . ' acquire before the failover')
        or diag($r->{body});
}

# traffic: 4 acquires at a time (2 per node) until both nodes answered
# 200 after the kill, at most 90 s
my (%acked, %seen, @log);
my ($t_kill, $revived, %first_ok, %fail503, %other);
my $deadline = time + 90;
my $round = 0;
while (time < $deadline) {
    $round++;
    my @x = map { acquire_send($_) } ($W, $N, $W, $N);
    if ($round == 2) {
        my $out = `$CLUSTER kill-primary 2>&1`;
        $t_kill = time;
        like($out, qr/SIGKILLed the primary/, 'primary SIGKILLed mid-traffic');
    }
    for my $x (@x) {
        my $r = $x->{ng}->finish($x->{h});
        my $who = $x->{ng}->prefix;
        if ($r->{status} == 200) {
            $x->{ok} = 1;
            $acked{ $r->{json}{providerLeaseId} } = $who;
            $first_ok{$who} //= time - $t_kill if $t_kill && $x->{t0} > $t_kill;
        } elsif ($r->{status} == 503 && $r->{body} =~ /"store_unavailable"/) {
            $fail503{$who}++;
        } else {
            $other{$who}++;
            push @log, "$who: $r->{status} $r->{body}";
        }
    }
    # a round of instant 503s: pause, so the count means something
    sleep 0.1 unless grep { $_->{ok} } @x;
    # once the sentinels moved on, the old primary comes back as a replica
    if ($t_kill && !$revived && (primary_port() // $p0) != $p0) {
        $revived = time - $t_kill;
        system("$CLUSTER revive >/dev/null 2>&1");
    }
    last if $t_kill && defined $first_ok{'t260w:'} && defined $first_ok{'t260n:'};
}

my $p1 = primary_port();
isnt($p1, $p0, "the sentinels promoted 127.0.0.1:$p1");
ok(defined $first_ok{'t260n:'}, 'without wait=: acquires succeed on the promoted replica');
ok(defined $first_ok{'t260w:'}, 'with wait=1: acquires succeed once a replica acknowledges again');
is_deeply(\@log, [], 'every failed answer was 503 store_unavailable');

diag(sprintf("failover: sentinels named the new primary %.2f s after the kill;"
             . " first 200 without wait= after %.2f s, with wait=1 after %.2f s"
             . " (old primary restarted at %.2f s)",
             $revived // -1, $first_ok{'t260n:'} // -1, $first_ok{'t260w:'} // -1,
             $revived // -1));
diag(sprintf("requests failed with 503 during the failover: %d without wait=,"
             . " %d with wait=1; %d leases acknowledged",
             $fail503{'t260n:'} // 0, $fail503{'t260w:'} // 0, scalar keys %acked));

# every lease W acknowledged exists on the new primary
my @lost_w = grep {
    $acked{$_} eq 't260w:'
    && rcli($p1, $PW, 'EXISTS', "t260w:lease:{$_}") !~ /^1/
} keys %acked;
is_deeply(\@lost_w, [], 'with wait=1 no acknowledged lease was lost');
my @lost_n = grep {
    $acked{$_} eq 't260n:'
    && rcli($p1, $PW, 'EXISTS', "t260n:lease:{$_}") !~ /^1/
} keys %acked;
diag(scalar(@lost_n) . " acknowledged lease(s) lost without wait= (the loss window)");

# a graceful failover (SENTINEL FAILOVER): the old primary lives on as a
# replica, so nothing breaks the link; the +switch-master subscription
# moves both nodes to the new primary
# A manual failover that times out (a replica slow to catch up on a busy
# machine) is not retried by the sentinels: ask again until one switches.
my $sentinel1 = (split /,/, $ENV{CLUSTER_SENTINELS})[0] =~ s/.*://r;
my ($p2, $accepted);
my $switched = wait_until(sub {
    $accepted++ if rcli($sentinel1, $SPW, 'SENTINEL', 'FAILOVER',
                        $ENV{CLUSTER_MASTER}) =~ /^OK/;
    wait_until(sub { $p2 = primary_port(); $p2 && $p2 != $p1 }, 15, 0.2);
}, 120, 1);
ok($accepted, 'SENTINEL FAILOVER accepted');
ok($switched, "the sentinels switched to 127.0.0.1:" . ($p2 // '?'));
for my $ng ($W, $N) {
    ok(wait_until(sub {
        $ng->error_log =~ /\+switch-master \Q$ENV{CLUSTER_MASTER}\E .*\n(?s:.*)redis "127\.0\.0\.1:$p2" ready/
    }, 60, 0.2), $ng->prefix . ' followed +switch-master to the new primary');
    my $r;
    ok(wait_until(sub {
        $r = $ng->finish(acquire_send($ng)->{h});
        $acked{ $r->{json}{providerLeaseId} } = $ng->prefix if $r->{status} == 200;
        $r->{status} == 200
    }, 60, 0.5), $ng->prefix . ' acquires on the new primary') or diag($r->{body});
}

# clean up through the API: DELETE of every lease on both nodes
my @bad;
for my $id (sort keys %acked) {
    my $ng = $acked{$id} eq 't260w:' ? $W : $N;
    my $r = $ng->api(DELETE => "/leases/$id");
    push @bad, "$id: $r->{status}" unless $r->{status} == 200;
}
is_deeply(\@bad, [], 'every acknowledged lease deleted after the failover');

# leftovers: no container of either prefix on the dockerd (leases whose
# acquire failed mid-flight are removed by the reaper; do it here)
for my $p ('t260w:', 't260n:') {
    my @left = grep { length } split /\n/,
        `docker -H unix://$ENV{CLUSTER_DOCKER1_SOCKET} ps -aq --filter label=paperclip.bridge.prefix=$p 2>/dev/null`;
    system("docker -H unix://$ENV{CLUSTER_DOCKER1_SOCKET} rm -f @left >/dev/null 2>&1") if @left;
}

unlike($W->error_log . $N->error_log, qr/\Q$PW\E|\Q$SPW\E/, 'no password in the error logs');
like($N->error_log, qr/redis "127\.0\.0\.1:\d+" ready/, 'the error log names the primary');

done_testing();
