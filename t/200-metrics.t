# Issue 11 "Operators", item 1: Prometheus metrics (README "Metrics").
# Two workers share one sandbox_metrics_zone: a scripted sequence of
# requests (an auth failure, health, acquire, exec json and sse, a
# timeout, a client that leaves, release, DELETE, errors) moves every
# counter by exactly what it did, whichever worker answers the scrape;
# the numbers survive `nginx -s reload`; the location's allow/deny decide
# who may scrape. The exposition is parsed by prometheus_client's parser.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep);

use SandboxBridge::Prom ();
use SandboxBridge::Scenario qw(docker_ids wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;
plan skip_all => 'python3-prometheus-client is not installed'
    unless SandboxBridge::Prom::available();

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't200', prefix => 't200:', workers => 2,
    http_extra => 'sandbox_metrics_zone t200 1m refresh=1s;
    sandbox_reaper_interval 10m;',
    server_extra => 'add_header X-Worker $pid always;
        location = /metrics { sandbox_metrics; allow 127.0.0.1; deny all; }
        location = /metrics-closed { sandbox_metrics; deny all; }');
$ng->start;

my %seen;    # worker pids that answered a scrape

sub scrape {
    my $r = $ng->request(GET => '/metrics', undef, auth => 0);
    die "scrape: $r->{status}\n$r->{body}" unless $r->{status} == 200;
    $seen{ $r->{headers}{'x-worker'} // '?' }++;
    return SandboxBridge::Prom::parse($r->{body});
}

sub v   { SandboxBridge::Prom::value(@_) }
sub sum { SandboxBridge::Prom::sum(@_) }

# ---------------------------------------------------------------- format

my $r = $ng->request(GET => '/metrics', undef, auth => 0);
is($r->{status}, 200, 'GET /metrics without any bridge credential: 200');
like($r->{headers}{'content-type'} // '',
     qr{^text/plain; version=0\.0\.4; charset=utf-8$},
     'Content-Type of the text exposition format 0.0.4');

my $m0 = scrape();

my %types = (
    sandbox_bridge_requests                      => 'counter',
    sandbox_bridge_request_duration_seconds      => 'histogram',
    sandbox_bridge_leases                        => 'gauge',
    sandbox_bridge_leases_refreshes              => 'counter',
    sandbox_bridge_leases_acquired               => 'counter',
    sandbox_bridge_leases_released               => 'counter',
    sandbox_bridge_leases_reaped                 => 'counter',
    sandbox_bridge_exec                          => 'counter',
    sandbox_bridge_exec_duration_seconds         => 'histogram',
    sandbox_bridge_streams_active                => 'gauge',
    sandbox_bridge_docker_requests               => 'counter',
    sandbox_bridge_docker_request_duration_seconds => 'histogram',
    sandbox_bridge_redis_commands                => 'counter',
    sandbox_bridge_redis_reconnects              => 'counter',
    sandbox_bridge_auth_failures                 => 'counter',
);

for my $f (sort keys %types) {
    my $fam = $m0->{families}{$f};
    is($fam && $fam->{type}, $types{$f}, "$f: TYPE $types{$f}");
    ok($fam && length $fam->{help}, "$f: HELP");
}

is(join(',', sort map { $_->[1]{state} }
                  grep { $_->[0] eq 'sandbox_bridge_leases' }
                  @{ $m0->{samples} }),
   'creating,other,ready', 'leases: one series per state');
is(scalar(grep { $_->[0] eq 'sandbox_bridge_exec_total' }
           @{ $m0->{samples} }), 8,
   'exec_total: every mode x outcome, fixed at start');

# ---------------------------------------------------------------- sequence

my $h;
my %n;    # requests sent, by "route status"

$r = $ng->api(GET => '/health', undef,
              headers => [Authorization => 'Bearer wrong-token']);
is($r->{status}, 401, 'a wrong token: 401');
$n{'none 401'}++;

# health until both workers have answered at least once (bounded)
my %bridge_pids;
for my $i (1 .. 200) {
    $r = $ng->api(GET => '/health');
    is($r->{status}, 200, 'health') if $i == 1;
    $n{'health 200'}++;
    $bridge_pids{ $r->{headers}{'x-worker'} // '?' }++;
    last if keys %bridge_pids >= 2 && $i >= 2;
}
is(scalar keys %bridge_pids, 2, 'both workers served bridge requests');

$r = $ng->api(POST => '/leases/acquire',
              { environmentId => 't200a', runId => 'r', keepAlive => \1 });
is($r->{status}, 200, 'acquire A') or diag explain $r;
$n{'acquire 200'}++;
my $a = $r->{json}{providerLeaseId} // 'none';

$r = $ng->api(POST => '/leases/acquire',
              { environmentId => 't200b', runId => 'r', keepAlive => \1,
                reuseLease => \1 });
is($r->{status}, 200, 'acquire B') or diag explain $r;
$n{'acquire 200'}++;
my $b = $r->{json}{providerLeaseId} // 'none';

my $m = scrape();
ok(wait_until(sub { v(scrape(), 'sandbox_bridge_leases', state => 'ready')
                    == 2 }, 30, 0.2),
   'leases{state="ready"} is 2 within a few refreshes');

$r = $ng->api(POST => '/exec', { providerLeaseId => $a, command => 'sh',
                                 args => ['-c', 'exit 3'] });
is($r->{json}{exitCode}, 3, 'exec json: exit 3');
$n{'exec 200'}++;

$r = $ng->api(POST => '/exec', { providerLeaseId => $a, command => 'echo',
                                 args => ['hi'], streamOutput => \1 });
like($r->{body}, qr/event: complete\n/, 'exec sse: complete');
$n{'exec 200'}++;

$r = $ng->api(POST => '/exec', { providerLeaseId => $a, command => 'sleep',
                                 args => ['5'], timeoutMs => 300 });
is($r->{json}{timedOut} ? 1 : 0, 1, 'exec json: timed out');
$n{'exec 200'}++;

# a stream whose client leaves: streams_active is 1 while it runs
$h = $ng->api_send(POST => '/exec', { providerLeaseId => $b,
                                      command => 'sleep', args => ['30'],
                                      streamOutput => \1 });
ok(wait_until(sub { v(scrape(), 'sandbox_bridge_streams_active') == 1 },
              20, 0.1),
   'streams_active is 1 during a stream');
close $h->{sock};
ok(wait_until(sub { v(scrape(), 'sandbox_bridge_exec_total',
                      mode => 'sse', outcome => 'disconnect')
                    - v($m0, 'sandbox_bridge_exec_total',
                        mode => 'sse', outcome => 'disconnect') == 1 },
              20, 0.1),
   'the client that left: exec_total{mode="sse",outcome="disconnect"} +1');
$n{'exec 200'}++;    # its stream had started: 200 was sent

$r = $ng->api(POST => '/exec', { providerLeaseId => 'pc-env-t200-none',
                                 command => 'true' });
is($r->{status}, 409, 'exec on a lost lease: 409');
$n{'exec 409'}++;

$r = $ng->api(POST => '/leases/release', { providerLeaseId => $a });
is($r->{status}, 200, 'release A');
$n{'release 200'}++;

$r = $ng->api(DELETE => "/leases/$b");
is($r->{status}, 200, 'DELETE B');
$n{'delete 200'}++;

$r = $ng->api(GET => '/nope');
is($r->{status}, 404, 'an unknown route: 404');
$n{'none 404'}++;

ok(wait_until(sub { v(scrape(), 'sandbox_bridge_streams_active') == 0
                    && v(scrape(), 'sandbox_bridge_leases',
                         state => 'ready') == 0 }, 30, 0.2),
   'streams_active and leases{state="ready"} are 0 again');

# ---------------------------------------------------------------- deltas

$m = scrape();

sub delta {
    my ($name, %l) = @_;
    return v($m, $name, %l) - v($m0, $name, %l);
}

sub delta_sum {
    my ($name, %l) = @_;
    return sum($m, $name, %l) - sum($m0, $name, %l);
}

for my $k (sort keys %n) {
    my ($route, $status) = split / /, $k;
    is(delta('sandbox_bridge_requests_total', route => $route,
             status => $status), $n{$k},
       "requests_total{route=\"$route\",status=\"$status\"} +$n{$k}");
}

my %per_route;
for my $k (keys %n) {
    my ($route) = split / /, $k;
    $per_route{$route} += $n{$k};
}
for my $route (sort keys %per_route) {
    is(delta_sum('sandbox_bridge_requests_total', route => $route),
       $per_route{$route}, "requests_total{route=\"$route\"} +$per_route{$route} in all");
    is(delta('sandbox_bridge_request_duration_seconds_count',
             route => $route), $per_route{$route},
       "request_duration_seconds_count{route=\"$route\"} +$per_route{$route}");
}
is(delta_sum('sandbox_bridge_requests_total'), 0 + eval { my $t = 0; $t += $_ for values %n; $t },
   'no other request was counted');

is(delta('sandbox_bridge_auth_failures_total', reason => 'token'), 1,
   'auth_failures_total{reason="token"} +1');
is(delta_sum('sandbox_bridge_auth_failures_total'), 1,
   'auth_failures_total: no other reason moved');

is(delta('sandbox_bridge_leases_acquired_total'), 2, 'leases_acquired_total +2');
is(delta('sandbox_bridge_leases_released_total'), 2,
   'leases_released_total +2 (a release, a DELETE)');
is(delta('sandbox_bridge_leases_reaped_total'), 0, 'leases_reaped_total +0');

my %exec = ('json exit' => 1, 'sse exit' => 1, 'json timeout' => 1,
            'sse disconnect' => 1);
for my $mode (qw(json sse)) {
    for my $o (qw(exit timeout disconnect error)) {
        my $want = $exec{"$mode $o"} // 0;
        is(delta('sandbox_bridge_exec_total', mode => $mode, outcome => $o),
           $want, "exec_total{mode=\"$mode\",outcome=\"$o\"} +$want");
    }
}
is(delta('sandbox_bridge_exec_duration_seconds_count'), 4,
   'exec_duration_seconds_count +4 (the lost lease never ran)');
ok(delta('sandbox_bridge_exec_duration_seconds_sum') >= 0.3,
   'exec_duration_seconds_sum holds the timed-out 0.3 s');
is(delta('sandbox_bridge_exec_duration_seconds_bucket', le => '+Inf'), 4,
   'exec_duration_seconds_bucket{le="+Inf"} equals the count');

my $docker = delta_sum('sandbox_bridge_docker_requests_total',
                       host => '/_docker');
cmp_ok($docker, '>=', $per_route{health} + 2 * 3,
       "docker_requests_total{host=\"/_docker\"} moved ($docker calls)");
is(delta('sandbox_bridge_docker_request_duration_seconds_count',
         host => '/_docker'), $docker,
   'docker_request_duration_seconds_count moved by as much');
is(delta_sum('sandbox_bridge_docker_requests_total', host => '/_docker',
             status => 'none'), 0, 'every Docker call had an answer');
cmp_ok(delta('sandbox_bridge_redis_commands_total', outcome => 'ok'), '>', 0,
       'redis_commands_total{outcome="ok"} moved');
is(delta('sandbox_bridge_redis_commands_total', outcome => 'failed'), 0,
   'no Redis command failed');

is(scalar keys %seen, 2, 'scrapes were answered by both workers');

# ---------------------------------------------------------------- census

# two workers tick several times per refresh (1s); the zone lets one
# recount per interval: never more than the elapsed seconds + 1
{
    my $t0 = Time::HiRes::time();
    my $c0 = v(scrape(), 'sandbox_bridge_leases_refreshes_total');
    ok(wait_until(sub { v(scrape(), 'sandbox_bridge_leases_refreshes_total')
                        >= $c0 + 2 }, 30, 0.2),
       'the lease gauge is recounted again and again');
    my $c1 = v(scrape(), 'sandbox_bridge_leases_refreshes_total');
    my $dt = Time::HiRes::time() - $t0;
    cmp_ok($c1 - $c0, '<=', int($dt) + 1,
           sprintf('at most one recount per second across both workers '
                   . '(%d in %.1f s)', $c1 - $c0, $dt));
}

# ---------------------------------------------------------------- access

$r = $ng->request(GET => '/metrics-closed', undef, auth => 0);
is($r->{status}, 403, 'a location that denies all: 403');
unlike($r->{body}, qr/sandbox_bridge_/, '... and no metrics');

$r = $ng->request(POST => '/metrics', 'x', auth => 0);
is($r->{status}, 405, 'POST /metrics: 405');

# ---------------------------------------------------------------- reload

my @stable = qw(sandbox_bridge_requests_total
                sandbox_bridge_request_duration_seconds_count
                sandbox_bridge_leases_acquired_total
                sandbox_bridge_leases_released_total
                sandbox_bridge_exec_total
                sandbox_bridge_exec_duration_seconds_count
                sandbox_bridge_docker_requests_total
                sandbox_bridge_auth_failures_total);

my $before = scrape();
my @old = $ng->worker_pids;
$ng->reload;
my %now = map { $_ => 1 } $ng->worker_pids;
ok(!grep({ $now{$_} } @old), 'reload: new workers');
my $after = scrape();

for my $name (@stable) {
    is(sum($after, $name), sum($before, $name), "$name survives the reload");
}
cmp_ok(sum($after, 'sandbox_bridge_requests_total'), '>=',
       $per_route{health}, 'and holds the numbers of before');

$r = $ng->api(GET => '/health');
is(v(scrape(), 'sandbox_bridge_requests_total', route => 'health',
     status => '200') - v($after, 'sandbox_bridge_requests_total',
                          route => 'health', status => '200'),
   1, 'the new workers count on from there');

is(scalar docker_ids('paperclip.bridge.prefix=t200:'), 0, 'no container left');
is(scalar SandboxBridge::Scenario::redis_keys($ENV{TEST_NGINX_REDIS_PORT},
                                             't200:lease:*'),
   0, 'no lease record left');

$ng->stop;
$ng->cleanup if Test::More->builder->is_passing;

done_testing();
