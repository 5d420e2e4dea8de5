# Issue 11 "Operators", item 1: the metrics of what goes wrong (README
# "Metrics"): the reaper's work (leases_reaped_total), Redis going away
# and coming back (redis_reconnects_total), and each reason of a refused
# signed request (auth_failures_total{reason}). A private redis-server,
# so it can be stopped; sandbox_reaper_interval 1s.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep);

use SandboxBridge::Prom ();
use SandboxBridge::Scenario qw(docker_ids wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;
plan skip_all => 'python3-prometheus-client is not installed'
    unless SandboxBridge::Prom::available();

my $redis = SandboxBridge::Scenario::Redis->new;

my $tmp = tempdir('psb-t202-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    open my $fh, '>', "$tmp/keys" or die "$tmp/keys: $!";
    print $fh "k1 t202-secret-0123456789abcdef\n";
    close $fh;
}

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't202', prefix => 't202:', redis => '127.0.0.1:' . $redis->port,
    http_extra => 'sandbox_metrics_zone t202 1m refresh=1s;
    sandbox_reaper_interval 1s;',
    server_extra => "location = /metrics { sandbox_metrics; }
        location /signed {
            sandbox_auth hmac;
            sandbox_auth_hmac_key_file $tmp/keys;
            sandbox_bridge /signed;
        }");
$ng->start;

sub scrape {
    my $r = $ng->request(GET => '/metrics', undef, auth => 0);
    die "scrape: $r->{status}\n$r->{body}" unless $r->{status} == 200;
    return SandboxBridge::Prom::parse($r->{body});
}

sub v { SandboxBridge::Prom::value(@_) }

my $m0 = scrape();

# ---------------------------------------------------------------- reaper

my $r = $ng->api(POST => '/leases/acquire',
                 { environmentId => 't202', runId => 'r', keepAlive => \1 });
is($r->{status}, 200, 'acquire') or diag explain $r;
my $id = $r->{json}{providerLeaseId} // 'none';
is(scalar docker_ids('paperclip.bridge.prefix=t202:'), 1, 'its container runs');

# once a reaper pass has set the host's deployment marker (before it, a
# container without a record is adopted back, README "Lease records and
# the reaper"), the record goes as when a lease expires: two passes later
# the reaper removes the container
ok(wait_until(sub { $redis->cli('EXISTS', 't202:deployment:{/_docker}') =~ /1/ },
              30, 0.2),
   'a reaper pass set the deployment marker');
$redis->cli('DEL', "t202:lease:{$id}");
ok(wait_until(sub { !docker_ids('paperclip.bridge.prefix=t202:') }, 60, 0.2),
   'the reaper removed the container');
ok(wait_until(sub { v(scrape(), 'sandbox_bridge_leases_reaped_total')
                    - v($m0, 'sandbox_bridge_leases_reaped_total') == 1 },
              10, 0.2),
   'leases_reaped_total +1');

my $m = scrape();
is(v($m, 'sandbox_bridge_leases_acquired_total')
   - v($m0, 'sandbox_bridge_leases_acquired_total'), 1,
   'leases_acquired_total +1');
is(v($m, 'sandbox_bridge_leases_released_total')
   - v($m0, 'sandbox_bridge_leases_released_total'), 0,
   'leases_released_total +0: nobody released it');
cmp_ok(SandboxBridge::Prom::sum($m, 'sandbox_bridge_docker_requests_total',
                                host => '/_docker', status => '204'),
       '>=', 1, 'the reaper\'s DELETE is a Docker call with status 204');

# ---------------------------------------------------------------- signed

my $now = time;
my %bad = (
    unsigned  => 'Bearer secret-token',
    signature => "PSB-HMAC-SHA256 keyId=k1, ts=$now, nonce=t202nonce0000001, sig="
                 . ('0' x 64),
    timestamp => 'PSB-HMAC-SHA256 keyId=k1, ts=1000, nonce=t202nonce0000002, sig='
                 . ('0' x 64),
);

for my $reason (sort keys %bad) {
    $r = $ng->request(GET => '/signed/health', undef,
                      headers => [Authorization => $bad{$reason}]);
    is($r->{status}, 401, "signed location, $reason: 401");
}

$m = scrape();
for my $reason (qw(token signature unsigned timestamp host nonce other)) {
    my $want = $bad{$reason} ? 1 : 0;
    is(v($m, 'sandbox_bridge_auth_failures_total', reason => $reason)
       - v($m0, 'sandbox_bridge_auth_failures_total', reason => $reason),
       $want, "auth_failures_total{reason=\"$reason\"} +$want");
}
is(v($m, 'sandbox_bridge_requests_total', route => 'none', status => '401')
   - v($m0, 'sandbox_bridge_requests_total', route => 'none',
       status => '401'), 3, 'requests_total{route="none",status="401"} +3');

# ---------------------------------------------------------------- Redis

my $m1 = scrape();
$redis->stop;
ok(wait_until(sub { $ng->api(GET => '/health')->{status} == 503 }, 20, 0.2),
   'Redis stopped: health 503');
ok(wait_until(sub { v(scrape(), 'sandbox_bridge_redis_reconnects_total')
                    > v($m1, 'sandbox_bridge_redis_reconnects_total') },
              30, 0.2),
   'redis_reconnects_total moves while Redis is away');
$redis->start;
ok(wait_until(sub { $ng->api(GET => '/health')->{status} == 200 }, 30, 0.2),
   'Redis back: health 200');
$m = scrape();
cmp_ok(v($m, 'sandbox_bridge_requests_total', route => 'health',
         status => '503')
       - v($m1, 'sandbox_bridge_requests_total', route => 'health',
           status => '503'), '>=', 1,
       'requests_total{route="health",status="503"} counted the outage');
cmp_ok(v($m, 'sandbox_bridge_redis_commands_total', outcome => 'ok'), '>',
       v($m1, 'sandbox_bridge_redis_commands_total', outcome => 'ok'),
       'redis_commands_total{outcome="ok"} moves again');

is(scalar docker_ids('paperclip.bridge.prefix=t202:'), 0, 'no container left');

$ng->stop;
$redis->stop;
$ng->cleanup if Test::More->builder->is_passing;

done_testing();
