#!/usr/bin/perl
# The fault suite (make test-faults, README "Failure behaviour"): real
# faults against real processes, each bounded in time, with the measured
# recovery times printed ("faults: ..." lines). Needs the private services
# of util/test.sh (make test-faults starts them); its own redis-server
# (SandboxBridge::Scenario::Redis) and nginx (SandboxBridge::Scenario::Nginx,
# sandbox_reaper_interval 1s). Every request goes to 127.0.0.1.
#
#   redis-kill     Redis SIGKILLed under load, restarted with its data
#   redis-empty    Redis restarted empty
#   dockerd        util/services.sh restart-dockerd, down 4 s
#   reload         nginx -s reload during 50 streams
#   worker-kill    SIGKILL of the worker running 10 streaming sleeps
#   soak           500 acquire/exec/release cycles (4 clients)
#
# FAULTS=redis-kill,soak runs some; FAULTS_SOAK=<n> changes the cycles.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/../helpers";

use File::Path qw(remove_tree);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(docker_cmd docker_ids redis_cli wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run make test-faults"
    if @missing;

my %only = map { $_ => 1 } split /,/, ($ENV{FAULTS} // '');
my $SOAK = $ENV{FAULTS_SOAK} // 500;
my $SERVICES = "$FindBin::Bin/../../util/services.sh";
my $PREFIX = 'tfault:';
my @results;

sub want { !%only || $only{$_[0]} }

sub measured {
    my ($what, $value) = @_;
    push @results, "$what: $value";
    diag("faults: $what: $value");
}

sub containers { scalar(() = docker_ids("paperclip.bridge.prefix=$PREFIX")) }

my $rs = SandboxBridge::Scenario::Redis->new;
my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 'faults', prefix => $PREFIX,
    redis => '127.0.0.1:' . $rs->port,
    http_extra => 'sandbox_reaper_interval 1s;');
$ng->start;

my @leases = map { "pc-env-tfault-$_" } 1 .. 3;

sub acquire {
    my ($env, %o) = @_;
    return $ng->api(POST => '/leases/acquire',
                    { environmentId => $env, runId => 'r', reuseLease => \1,
                      keepAlive => \1, %o }, timeout => 30);
}

sub run_in {
    my ($lease, @cmd) = @_;
    return $ng->api(POST => '/exec',
                    { providerLeaseId => $lease, command => 'sh',
                      args => ['-c', "@cmd"], timeoutMs => 20000 },
                    timeout => 10);
}

sub all_work {
    my $ok = 0;
    for my $l (@leases) {
        my $r = run_in($l, 'echo', 'ok');
        $ok++ if $r->{status} == 200 && $r->{body} =~ /"stdout":"ok\\n"/;
    }
    return $ok == @leases;
}

sub records {
    scalar grep { $rs->cli('EXISTS', "${PREFIX}lease:{$_}") =~ /1/ } @leases;
}

# a client in a child process: one exec after another until $secs pass;
# returns the file of "<time> <status>" lines
sub load {
    my ($secs) = @_;
    my $file = $ng->servroot . "/load.$$." . time;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open my $out, '>', $file or POSIX::_exit(1);
        $out->autoflush(1);
        my $end = time + $secs;
        my $i = 0;
        while (time < $end) {
            my $r = run_in($leases[$i++ % @leases], 'echo', 'ok');
            printf $out "%.3f %d\n", time, $r->{status};
            sleep 0.05;
        }
        POSIX::_exit(0);
    }
    return ($pid, $file);
}

sub load_result {
    my ($pid, $file) = @_;
    waitpid($pid, 0);
    open my $fh, '<', $file or return ();
    return map { [split] } <$fh>;
}

for my $l (1 .. 3) {
    my $r = acquire("tfault-$l");
    is($r->{status}, 200, "acquire lease $l") or diag explain $r;
}

# ------------------------------------------------------------ redis-kill
if (want('redis-kill')) {
    my ($pid, $file) = load(14);
    sleep 2;
    $rs->stop(kill => 1);
    my $down = time;
    sleep 4;
    $rs->start;
    my $up = time;
    my @s = load_result($pid, $file);
    my @during = grep { $_->[0] > $down + 1.1 && $_->[0] < $up } @s;
    my @bad = grep { $_->[1] != 200 && $_->[1] != 503 } @s;
    ok(@during && !grep({ $_->[1] != 503 } @during),
       'Redis down: every answer is a 503') or diag explain \@during;
    ok(!@bad, 'no answer but 200 and 503 under the Redis SIGKILL')
        or diag explain \@bad;
    my ($first) = grep { $_->[0] > $up && $_->[1] == 200 } @s;
    ok($first, 'answers are 200 again after the restart');
    my $rec = $first ? $first->[0] - $up : 999;
    ok($rec <= 5, 'recovery within 5 s of the restart');
    measured('redis SIGKILL: requests while down',
             scalar(@during) . ', all 503');
    measured('redis SIGKILL: recovery after restart', sprintf('%.2f s', $rec));
    is(records(), 3, 'no lease lost (AOF)');
    ok(all_work(), 'every lease runs commands');
}

# ------------------------------------------------------------ redis-empty
if (want('redis-empty')) {
    my $before = containers();
    $rs->stop;
    remove_tree($rs->dir, { keep_root => 1 });
    $rs->start;
    my $t0 = time;
    ok(wait_until(sub { records() == 3 }, 20, 0.1),
       'the reaper adopts the three leases back');
    my $adopt = time - $t0;
    sleep 3;
    is(containers(), $before, 'no container removed');
    ok(all_work(), 'every lease runs commands again');
    like($ng->error_log, qr/\[alert\] .*deployment marker .* is gone/,
         'an [alert] says Redis lost its data');
    measured('redis restarted empty: containers removed',
             $before - containers() . " of $before");
    measured('redis restarted empty: leases adopted back',
             sprintf('%d of 3 after %.2f s', records(), $adopt));
}

# ------------------------------------------------------------ dockerd
if (want('dockerd')) {
    my $sock = $ENV{TEST_NGINX_DOCKER_SOCKET};
    my $ping = sub {
        system('curl', '-sf', '-o', '/dev/null', '--max-time', '1',
               '--unix-socket', $sock, 'http://localhost/_ping') == 0;
    };
    my $before = containers();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $ENV{PSB_DOCKER_DOWN} = 4;
        exec($SERVICES, 'restart-dockerd', '-q') or POSIX::_exit(127);
    }
    ok(wait_until(sub { !$ping->() }, 20, 0.05), 'dockerd is down');
    my $r = run_in($leases[0], 'echo', 'down');
    my $a = acquire('tfault-down', reuseLease => \0);
    is($r->{status}, 503, 'exec while dockerd is down: 503');
    like($r->{body}, qr/"error":"driver_unavailable"/, 'driver_unavailable');
    is($a->{status}, 503, 'acquire while dockerd is down: 503');
    waitpid($pid, 0);
    is($? >> 8, 0, 'util/services.sh restart-dockerd');
    my $up = time;
    ok(wait_until(sub { run_in($leases[0], 'echo', 'ok')->{status} == 200 },
                  30, 0.1), 'exec works again');
    my $rec = time - $up;
    ok(all_work(), 'every lease runs commands, without a resume');
    sleep 3;
    is(containers(), $before, 'no container left by the failed acquire');
    is(scalar(() = $rs->scan_keys("${PREFIX}lease:*")), 3,
       'and no record');
    measured('dockerd restart: exec while down', "$r->{status} driver_unavailable");
    measured('dockerd restart: recovery after dockerd is back',
             sprintf('%.2f s', $rec));
    measured('dockerd restart: leftover containers', containers() - $before);
}

# ------------------------------------------------------------ reload
if (want('reload')) {
    my @h = map {
        $ng->api_send(POST => '/exec',
                      { providerLeaseId => $leases[$_ % 3], command => 'sh',
                        args => ['-c', 'echo begin; sleep 3; echo end'],
                        streamOutput => \1, timeoutMs => 60000 },
                      timeout => 60)
    } 0 .. 49;
    sleep 1;
    my $t0 = time;
    $ng->reload;
    my $took = time - $t0;
    my $done = grep {
        my $r = $ng->finish($_);
        $r->{status} == 200 && $r->{body} =~ /end\\n/
            && $r->{body} =~ /event: complete\n/
    } @h;
    is($done, 50, 'reload during 50 streams: all complete');
    measured('reload during 50 streams', "$done of 50 complete, "
             . sprintf('old worker gone after %.2f s', $took));
}

# ------------------------------------------------------------ worker-kill
if (want('worker-kill')) {
    my $sleeps = sub {
        my $n = 0;
        for my $l (@leases) {
            (my $c = "$PREFIX$l") =~ s/[^A-Za-z0-9_.-]/-/g;
            $n += grep { /^sleep 120$/ }
                  split /\n/, docker_cmd('exec', $c, 'ps', '-o', 'args');
        }
        return $n;
    };
    my @h = map {
        $ng->api_send(POST => '/exec',
                      { providerLeaseId => $leases[$_ % 3], command => 'sh',
                        args => ['-c', 'echo begin; sleep 120'],
                        streamOutput => \1, timeoutMs => 300000 },
                      timeout => 5)
    } 1 .. 10;
    ok(wait_until(sub { $sleeps->() == 10 }, 20, 0.1), '10 commands run');
    my @w = $ng->worker_pids;
    kill 'KILL', @w;
    my $t0 = time;
    my $served;
    wait_until(sub {
        my $r = $ng->api(GET => '/health', undef, timeout => 2);
        $served = time - $t0 if $r->{status} == 200;
        return defined $served;
    }, 10, 0.01);
    ok(defined $served, 'a new worker serves');
    ok(wait_until(sub { $sleeps->() == 0 }, 30, 0.1),
       'the orphaned commands are killed');
    my $dead = time - $t0;
    $ng->finish($_) for @h;
    measured('worker SIGKILL: first answer after the kill',
             sprintf('%.2f s', $served // 999));
    measured('worker SIGKILL: orphaned commands dead after',
             sprintf('%.2f s (reaper interval 1 s)', $dead));
}

# ------------------------------------------------------------ soak
if (want('soak')) {
    my @w = $ng->worker_pids;
    my $w = $w[0];
    my $fds = sub { opendir my $d, "/proc/$w/fd" or return -1;
                    scalar grep { /^\d+$/ } readdir $d };
    my $rss = sub { open my $f, '<', "/proc/$w/status" or return -1;
                    local $/; my $s = <$f>; $s =~ /VmRSS:\s+(\d+)/ ? $1 : -1 };
    my $clients = 4;
    my $per = int($SOAK / $clients);
    my $cycle = sub {
        my ($c, $n) = @_;
        my $fail = 0;
        # a failure says which step, with the answer
        my $bad = sub {
            my ($what, $r) = @_;
            $fail++;
            diag("soak client $c: $what answered $r->{status}: "
                 . ($r->{body} // ''));
        };
        for my $i (1 .. $n) {
            my $env = "tfault-soak-$c";
            my $r = acquire($env, keepAlive => \0);
            $bad->('acquire', $r), next unless $r->{status} == 200;
            my $id = $r->{json}{providerLeaseId};
            $r = run_in($id, 'echo', $i);
            $bad->("exec in $id", $r) unless $r->{status} == 200;
            $r = $ng->api(POST => '/leases/release', { providerLeaseId => $id });
            $bad->("release $id", $r) unless $r->{status} == 200;
        }
        return $fail;
    };
    my $run = sub {
        my ($n) = @_;
        my @p;
        for my $c (1 .. $clients) {
            my $pid = fork // die "fork: $!";
            if (!$pid) { POSIX::_exit($cycle->($c, $n) ? 1 : 0) }
            push @p, $pid;
        }
        my $bad = 0;
        for (@p) { waitpid($_, 0); $bad++ if $? }
        return $bad;
    };
    my $t0 = time;
    my $warm = int($per / 5);
    my $bad = $run->($warm);
    my ($fd1, $rss1) = ($fds->(), $rss->());
    $bad += $run->($per - $warm);
    my $took = time - $t0;
    sleep 1;
    my ($fd2, $rss2) = ($fds->(), $rss->());
    is($bad, 0, "$SOAK cycles without a failure");
    # orphan marks of containers being released expire in 4 passes
    my @keys;
    wait_until(sub {
        @keys = grep { !/^\Q$PREFIX\E(?:lease:\{pc-env-tfault-\d\}|deployment|reaper|node)/ }
                $rs->scan_keys("$PREFIX*");
        !@keys
    }, 10, 0.2);
    is(containers(), 3, 'no leaked container');
    is(scalar @keys, 0, 'no leaked Redis key') or diag explain \@keys;
    ok(abs($fd2 - $fd1) <= 2, "worker fds flat ($fd1 -> $fd2)");
    ok($rss2 - $rss1 < 8192, "worker RSS flat after warm-up ($rss1 -> $rss2 kB)");
    measured("soak: $SOAK cycles", sprintf('%.1f s, %d clients', $took, $clients));
    measured('soak: leaked containers, keys', (containers() - 3) . ', ' . scalar @keys);
    measured('soak: worker fds after warm-up -> end', "$fd1 -> $fd2");
    measured('soak: worker RSS after warm-up -> end', "$rss1 -> $rss2 kB");
}

for my $l (@leases) {
    my $r = $ng->api(DELETE => "/leases/$l");
    is($r->{status}, 200, "release $l");
}
ok(wait_until(sub { containers() == 0 }, 10, 0.2), 'no container left');

unlike($ng->error_log, qr/\[alert\](?!.*(?:exited on signal 9|deployment marker))/,
       'no [alert] but the expected ones');

diag("faults: summary\n" . join('', map { "  $_\n" } @results));

$ng->cleanup;
$rs->destroy;
done_testing();
