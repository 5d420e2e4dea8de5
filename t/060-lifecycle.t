# Lease lifecycle scenarios that need actions between requests (plain
# Test::More with t/helpers/SandboxBridge/Scenario.pm):
#
#   * requests in the first milliseconds after a cold start are not 503s;
#   * a lease survives `nginx -s reload` (HUP), also one acquired while the
#     reload happens;
#   * concurrent acquires of one reusable id make exactly one container;
#   * a DELETE racing an acquire leaves no orphan container (nor record);
#   * a lease survives a Redis restart (appendonly on, own redis-server);
#   * Redis down -> fast 503 store_unavailable, Redis hung -> 503 after
#     command_timeout, then recovery without restarting nginx;
#   * expiry (keepAlive:false, sleepAfter "2s") with TTL checks (D2), the
#     reaper removing the container of an expired lease and forgetting a
#     record whose container vanished;
#   * Docker unreachable -> 5xx with a clear message.
#
# The shared test redis is never stopped: the Redis scenarios use their own
# redis-server.  Everything created on the shared redis/dockerd is deleted.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use File::Temp qw(tempdir);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(docker_ids redis_cli redis_keys wait_until
                               docker_cmd);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Shared = $ENV{TEST_NGINX_REDIS_PORT};
my $T0 = time;

my $LostBody = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';

sub key_of { "$_[0]lease:{$_[1]}" }

sub containers {
    my ($prefix, $id) = @_;
    return docker_ids("paperclip.bridge.prefix=$prefix",
                      defined $id ? ("paperclip.bridge.lease=$id") : ());
}

sub pttl {
    my ($port, $key) = @_;
    my $v = redis_cli($port, 'PTTL', $key);
    $v =~ s/^\(integer\)\s*//;
    return $v;
}

sub exists_key {
    my ($port, $key) = @_;
    my $v = redis_cli($port, 'EXISTS', $key);
    $v =~ s/^\(integer\)\s*//;
    return $v;
}

sub acquire_body {
    my ($env, %o) = @_;
    return { environmentId => $env, runId => "run-$env", reuseLease => \1,
             keepAlive => \1, sleepAfter => '1h', %o };
}

sub show {
    my $r = shift;
    return "status $r->{status}" . ($r->{error} ? " ($r->{error})" : '')
         . sprintf(" in %.2fs: %s", $r->{elapsed} // 0, substr($r->{body} // '', 0, 400));
}

sub is_status {
    my ($r, $want, $name) = @_;
    is($r->{status}, $want, $name) or diag(show($r));
}

my @Nginx;    # stopped at the end (servroots removed when everything passed)

sub nginx {
    my %o = @_;
    my $ng = SandboxBridge::Scenario::Nginx->new(%o);
    push @Nginx, $ng;
    $ng->start;
    return $ng;
}

END {
    for my $ng (@Nginx) {
        next unless $ng;
        if (Test::More->builder->is_passing && !$ENV{TEST_KEEP_SERVROOT}) {
            $ng->cleanup;
        } else {
            $ng->stop;
            diag("kept " . $ng->servroot) unless Test::More->builder->is_passing;
        }
    }
}

# ------------------------------------------------------------ cold start
subtest 'requests right after a cold start are not refused with 503' => sub {
    # A new worker connects to Redis asynchronously; Redis is up, so a lease
    # request that arrives in the first milliseconds must wait for the
    # connection (bounded by connect_timeout), not fail with
    # store_unavailable.
    my %seen;
    my @bad;
    for my $i (1 .. 15) {
        my $ng = SandboxBridge::Scenario::Nginx->new(
            name => 't060c', prefix => 't060:',
            redis_opts => 'command_timeout=1s connect_timeout=1s',
            http_extra => 'sandbox_reaper_interval 10m;');
        $ng->start(quick => 1);
        my $r = $ng->api(POST => '/leases/resume',
                         { providerLeaseId => 'pc-env-cold-start-none' });
        $seen{$r->{status}}++;
        push @bad, "start $i: " . show($r) if $r->{status} != 409;
        $ng->cleanup;
    }
    is_deeply(\@bad, [], 'every first request got the lease answer (409 for an unknown lease), '
              . 'none a 503 (' . join(' ', map { "$_ x$seen{$_}" } sort keys %seen) . ')');
};

# ------------------------------------------------------------ nginx A
my $A = nginx(name => 't060a', prefix => 't060:', http_extra => 'sandbox_reaper_interval 10m;');

subtest 'a lease survives nginx -s reload (HUP)' => sub {
    my $r = $A->api(POST => '/leases/acquire', acquire_body('reload'));
    is_status($r, 200, 'acquire before the reload');
    is($r->{json}{providerLeaseId}, 'pc-env-reload', 'lease id');

    my @w0 = $A->worker_pids;
    # an acquire that is in flight while nginx reloads
    my $h = $A->api_send(POST => '/leases/acquire', acquire_body('reload-inflight'));
    sleep 0.05;
    $A->reload;
    my $inflight = $A->finish($h);
    is_status($inflight, 200, 'the acquire in flight during the reload completes');

    my @w1 = $A->worker_pids;
    ok(@w1 && !grep({ my $o = $_; grep { $_ == $o } @w1 } @w0),
       "new workers after the reload (@w0 -> @w1)");

    $r = $A->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-reload',
                                             keepAlive => \1, sleepAfter => '1h' });
    is_status($r, 200, 'resume after the reload');
    is($r->{json}{metadata}{resumedLease}, JSON::PP::true, 'resumedLease:true');

    $r = $A->exec_cmd('pc-env-reload', 'cat', '/workspace/paperclip/.paperclip-lease.json');
    is_status($r, 200, 'exec after the reload');
    like($r->{json}{stdout} // '', qr/"resumedLease": true/, 'sentinel rewritten by the resume');

    $r = $A->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-reload-inflight' });
    is_status($r, 200, 'the lease acquired during the reload can be resumed');

    for my $id (qw(pc-env-reload pc-env-reload-inflight)) {
        is_status($A->api(DELETE => "/leases/$id"), 200, "DELETE $id");
        is(scalar containers('t060:', $id), 0, "no container for $id");
        is(exists_key($Shared, key_of('t060:', $id)), 0, "no record for $id");
    }
};

subtest 'concurrent acquires of one reusable id make exactly one container' => sub {
    my $n = 8;
    my @h = map { $A->api_send(POST => '/leases/acquire',
                               acquire_body('conc', runId => "run-$_")) } 1 .. $n;
    my @r = map { $A->finish($_) } @h;
    for my $i (0 .. $#r) {
        is_status($r[$i], 200, "acquire #$i");
        is($r[$i]{json}{providerLeaseId}, 'pc-env-conc', "acquire #$i lease id");
    }
    my @c = containers('t060:', 'pc-env-conc');
    is(scalar @c, 1, 'exactly one container') or diag("containers: @c");
    is(exists_key($Shared, key_of('t060:', 'pc-env-conc')), 1, 'one lease record');

    my $r = $A->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-conc' });
    is_status($r, 200, 'the lease is usable');

    is_status($A->api(DELETE => '/leases/pc-env-conc'), 200, 'DELETE');
    is(scalar containers('t060:', 'pc-env-conc'), 0, 'no container left');
    is(exists_key($Shared, key_of('t060:', 'pc-env-conc')), 0, 'no record left');
};

subtest 'a DELETE racing an acquire leaves no orphan container' => sub {
    my @delays = (0, 0.02, 0.04, 0.06, 0.09, 0.12, 0.16, 0.2, 0.25, 0.3, 0.6);
    for my $i (0 .. $#delays) {
        my $id = "pc-env-race-$i";
        my $ha = $A->api_send(POST => '/leases/acquire', acquire_body("race-$i"));
        sleep $delays[$i] if $delays[$i];
        my $hd = $A->api_send(DELETE => "/leases/$id");
        my $ra = $A->finish($ha);
        my $rd = $A->finish($hd);
        is_status($rd, 200, "race $i (delay $delays[$i]s): DELETE answers 200");
        ok(grep({ $ra->{status} == $_ } 200, 409, 500),
           "race $i: acquire answers 200, 409 or 500") or diag(show($ra));
        if ($ra->{status} >= 400) {
            like($ra->{json}{error} // '', qr/^(?:sandbox_state_lost|internal_error)$/,
                 "race $i: error envelope") or diag(show($ra));
        }
        sleep 0.3;    # anything asynchronous settles
        my @c = containers('t060:', $id);
        my $k = exists_key($Shared, key_of('t060:', $id));
        is(scalar @c, $k ? 1 : 0,
           "race $i: container count matches the lease record (acquire $ra->{status}, record $k)")
            or diag("containers: @c");
        if (@c && $k) {
            is_status($A->api(POST => '/leases/resume', { providerLeaseId => $id }), 200,
                      "race $i: the surviving lease is usable");
        }
        is_status($A->api(DELETE => "/leases/$id"), 200, "race $i: cleanup DELETE");
        is(scalar containers('t060:', $id), 0, "race $i: no container left");
        is(exists_key($Shared, key_of('t060:', $id)), 0, "race $i: no record left");
    }
};

$A->stop;

# ------------------------------------------------------------ own redis
my $R1 = SandboxBridge::Scenario::Redis->new;
my $B = nginx(name => 't060b', prefix => 't060r:', redis => '127.0.0.1:' . $R1->port,
              redis_opts => 'command_timeout=1s connect_timeout=1s',
              http_extra => 'sandbox_reaper_interval 10m;');

sub wait_resume {
    my ($ng, $id, $timeout) = @_;
    my $last;
    my $t = time;
    wait_until(sub {
        $last = $ng->api(POST => '/leases/resume', { providerLeaseId => $id,
                                                    keepAlive => \1, sleepAfter => '1h' });
        $last->{status} == 200;
    }, $timeout, 0.1);
    return ($last, time - $t);
}

subtest 'a lease survives a Redis restart (appendonly)' => sub {
    my $r = $B->api(POST => '/leases/acquire', acquire_body('persist'));
    is_status($r, 200, 'acquire keepAlive:true');
    $r = $B->api(POST => '/leases/acquire',
                 acquire_body('persist-ttl', keepAlive => \0, sleepAfter => '10m'));
    is_status($r, 200, 'acquire keepAlive:false sleepAfter 10m');

    my $kp = key_of('t060r:', 'pc-env-persist');
    my $kt = key_of('t060r:', 'pc-env-persist-ttl');
    is(pttl($R1->port, $kp), -1, 'keepAlive:true record has no TTL');
    my $t = pttl($R1->port, $kt);
    ok($t > 590_000 && $t <= 600_000, "keepAlive:false record TTL ~ sleepAfter ($t ms)");

    $R1->stop;
    $R1->start;
    is(exists_key($R1->port, $kp), 1, 'record reloaded from the AOF');

    my ($res, $took) = wait_resume($B, 'pc-env-persist', 15);
    is_status($res, 200, sprintf('resume after the Redis restart (%.1fs)', $took));
    is($res->{json}{metadata}{resumedLease}, JSON::PP::true, 'resumedLease:true');

    $t = pttl($R1->port, $kt);
    ok($t > 0 && $t <= 600_000, "TTL kept across the restart ($t ms)");
    $r = $B->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-persist-ttl',
                                             sleepAfter => '10m' });
    is_status($r, 200, 'resume the keepAlive:false lease');

    for my $id (qw(pc-env-persist pc-env-persist-ttl)) {
        is_status($B->api(DELETE => "/leases/$id"), 200, "DELETE $id");
        is(scalar containers('t060r:', $id), 0, "no container for $id");
    }
};

subtest 'Redis down: fast 503 store_unavailable, recovery without restarting nginx' => sub {
    my $r = $B->api(POST => '/leases/acquire', acquire_body('down'));
    is_status($r, 200, 'acquire while Redis is up');

    my $master = $B->pid;
    my @workers = $B->worker_pids;

    $R1->stop;

    my @calls = (
        [POST => '/leases/acquire', acquire_body('down-2')],
        [POST => '/leases/resume', { providerLeaseId => 'pc-env-down' }],
        [POST => '/leases/release', { providerLeaseId => 'pc-env-down' }],
        [DELETE => '/leases/pc-env-down'],
        [POST => '/probe', {}],
        [POST => '/exec', { providerLeaseId => 'pc-env-down', command => 'true' }],
    );
    for my $c (@calls) {
        my $res = $B->api(@$c);
        is_status($res, 503, "$c->[0] $c->[1] with Redis down -> 503");
        is($res->{json}{error}, 'store_unavailable', '... store_unavailable')
            or diag(show($res));
        ok($res->{elapsed} < 1.5, sprintf('... fast (%.3fs)', $res->{elapsed}));
    }
    is(scalar containers('t060r:', 'pc-env-down-2'), 0, 'the failed acquire created no container');
    is(scalar containers('t060r:', 'pc-env-down'), 1, 'the lease container was not touched');
    unlike(scalar docker_cmd('ps', '-a', '--format', '{{.Names}}'), qr/^t060r-pc-probe-/m,
           'no probe container');

    $R1->start;
    my ($res, $took) = wait_resume($B, 'pc-env-down', 15);
    is_status($res, 200, sprintf('resume works again after Redis is back (%.1fs)', $took));
    is($B->pid, $master, 'same nginx master');
    is_deeply([$B->worker_pids], \@workers, 'same workers (nothing restarted)');

    # Redis hangs (SIGSTOP): answers come after command_timeout, as 503
    kill 'STOP', $R1->pid;
    my $hung = $B->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-down' });
    kill 'CONT', $R1->pid;
    is_status($hung, 503, 'Redis hung -> 503');
    is($hung->{json}{error}, 'store_unavailable', '... store_unavailable');
    ok($hung->{elapsed} >= 0.8 && $hung->{elapsed} < 3,
       sprintf('... after about command_timeout=1s (%.2fs)', $hung->{elapsed}));

    ($res, $took) = wait_resume($B, 'pc-env-down', 15);
    is_status($res, 200, sprintf('recovered after the hang (%.1fs)', $took));

    is_status($B->api(DELETE => '/leases/pc-env-down'), 200, 'DELETE');
    is(scalar containers('t060r:'), 0, 'no container with prefix t060r: left');
};

$B->stop;
$R1->destroy;

# ------------------------------------------------------------ expiry, reaper
my $D = nginx(name => 't060e', prefix => 't060e:', http_extra => 'sandbox_reaper_interval 1s;');

subtest 'expiry (sleepAfter 2s), D2 activity, reaper' => sub {
    my $ks = key_of('t060e:', 'pc-env-short');
    my $kl = key_of('t060e:', 'pc-env-long');

    my $r = $D->api(POST => '/leases/acquire',
                    acquire_body('long', keepAlive => \1, sleepAfter => '2s'));
    is_status($r, 200, 'acquire keepAlive:true sleepAfter 2s');
    is(pttl($Shared, $kl), -1, 'keepAlive:true: no TTL');

    $r = $D->api(POST => '/leases/acquire',
                 acquire_body('short', keepAlive => \0, sleepAfter => '2s'));
    my $got = time;
    is_status($r, 200, 'acquire keepAlive:false sleepAfter 2s');
    is($r->{json}{metadata}{sleepAfter}, '2s', 'sleepAfter echoed');
    my $t = pttl($Shared, $ks);
    my $since = int((time - $got) * 1000);
    # the idle time starts when the lease is handed out, not when the
    # acquire began (its setup takes a few hundred ms): TTL left plus the
    # time since the response arrived ~ sleepAfter (150 ms slack)
    ok($t <= 2000 && $t + $since >= 1850,
       "TTL counted from the hand-out: $t ms left, $since ms after the response");

    sleep 0.5;
    my $sent = time;
    $r = $D->exec_cmd('pc-env-short', 'true');
    is_status($r, 200, 'exec on the short lease');
    $t = pttl($Shared, $ks);
    $since = int((time - $sent) * 1000);
    ok($t > 0 && $t <= 2000 && $t + $since >= 1950,
       "exec is activity: TTL back to sleepAfter, not 10m (D2) ($t ms left, $since ms after the exec began)");
    $r = $D->exec_cmd('pc-env-long', 'true');
    is_status($r, 200, 'exec on the keepAlive lease');
    is(pttl($Shared, $kl), -1, 'exec keeps keepAlive:true (D2): still no TTL');

    ok(wait_until(sub { !exists_key($Shared, $ks) }, 4, 0.1), 'the short lease record expires');
    $r = $D->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-short' });
    is_status($r, 409, 'resume of the expired lease -> 409');
    is($r->{body}, $LostBody, '... sandbox_state_lost');
    $r = $D->exec_cmd('pc-env-short', 'true');
    is_status($r, 409, 'exec on the expired lease -> 409 (D3)');

    my $t1 = time;
    ok(wait_until(sub { !containers('t060e:', 'pc-env-short') }, 8, 0.2),
       'the reaper removes the expired lease container')
        or diag(docker_cmd('ps', '-a'));
    note(sprintf 'reaped after %.1fs', time - $t1);

    is(scalar containers('t060e:', 'pc-env-long'), 1, 'the keepAlive lease container stays');
    $r = $D->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-long',
                                             keepAlive => \1, sleepAfter => '2s' });
    is_status($r, 200, 'the keepAlive lease can be resumed');

    # a ready record whose container vanished is forgotten by the reaper
    my ($c) = containers('t060e:', 'pc-env-long');
    docker_cmd('rm', '-f', $c);
    ok(wait_until(sub { !exists_key($Shared, $kl) }, 8, 0.2),
       'the reaper forgets a record whose container is gone');
    $r = $D->api(POST => '/leases/resume', { providerLeaseId => 'pc-env-long' });
    is_status($r, 409, 'resume -> 409 after the container vanished');
    is(scalar containers('t060e:', 'pc-env-long'), 0, 'resume created nothing (D3)');

    # a sleepAfter shorter than the setup must not lose the lease before
    # it is handed out
    $r = $D->api(POST => '/leases/acquire',
                 acquire_body('tiny', keepAlive => \0, sleepAfter => '300ms'));
    is_status($r, 200, 'acquire with sleepAfter 300ms -> 200');

    for my $id (qw(pc-env-short pc-env-long pc-env-tiny)) {
        is_status($D->api(DELETE => "/leases/$id"), 200, "DELETE $id");
        is(scalar containers('t060e:', $id), 0, "no container for $id");
    }
};

$D->stop;

# ------------------------------------------------------------ Docker down
my $R2 = SandboxBridge::Scenario::Redis->new;
my $nodock = tempdir('psb-t060-nodocker-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $G = nginx(name => 't060g', prefix => 't060d:', redis => '127.0.0.1:' . $R2->port,
              docker_socket => "$nodock/docker.sock",
              http_extra => 'sandbox_reaper_interval 10m;');

subtest 'Docker unreachable: 5xx with a clear message' => sub {
    my @calls = (
        [POST => '/leases/acquire', { environmentId => 'e', runId => 'nodocker' }],
        [POST => '/leases/acquire', acquire_body('nodocker')],
        [POST => '/probe', {}],
    );
    for my $c (@calls) {
        my $res = $G->api(@$c);
        is_status($res, 503, "$c->[0] $c->[1] with Docker down -> 503");
        is($res->{json}{error}, 'driver_unavailable', '... driver_unavailable')
            or diag(show($res));
        like($res->{json}{message} // '', qr/docker/i, '... the message names Docker')
            or diag(show($res));
        ok($res->{elapsed} < 3, sprintf('... fast (%.2fs)', $res->{elapsed}));
    }
    my @keys = grep { !/^t060d:lease:\{pc-env-nodocker\}$/ } $R2->scan_keys('t060d:lease:*');
    is_deeply(\@keys, [], 'no lease record left by the failed probe/acquire')
        or diag("@keys");
    ok($G->alive, 'nginx is still running');
    unlike($G->error_log, qr/\[(?:alert|emerg)\]/, 'no [alert]/[emerg] in the error log');
};

$G->stop;
$R2->destroy;

# ------------------------------------------------------------ leftovers
subtest 'nothing left behind by this file' => sub {
    for my $p (qw(t060: t060r: t060e: t060d:)) {
        my @c = containers($p);
        is(scalar @c, 0, "no container labelled prefix $p") or diag("@c");
    }
    my @k = redis_keys($Shared, 't060*:lease:*');
    is_deeply(\@k, [], 'no t060 lease keys in the shared redis') or diag("@k");
};

note(sprintf 'total %.1fs', time - $T0);
done_testing();
