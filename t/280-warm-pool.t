# The warm pool (README "Warm pool"): sandbox_warm_pool 2 keeps two
# started pool containers on the Docker host; an acquire claims one (its
# id was in the pool before), renames it to the lease's container and
# prepares it, and the pool is refilled. Exec runs in it with the lease's
# cwd; DELETE removes it. The reaper leaves unclaimed pool containers
# alone and removes a claimed one whose record is gone. Concurrent
# acquires on two nginx nodes sharing the Redis prefix never get the same
# container. A configuration change (memory limit, on reload) replaces
# the old pool containers instead of handing them out; sandbox_warm_pool
# 0 clears the pool away.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(docker_cmd docker_ids redis_cli redis_keys
                               wait_until json_decode);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $port   = $ENV{TEST_NGINX_REDIS_PORT};
my $prefix = 't280:';

my $metrics = "\n        location = /metrics { sandbox_metrics; }";
my %conf = (prefix => $prefix,
            http_extra => "sandbox_reaper_interval 1s;\n"
                          . '    sandbox_metrics_zone t280 1m;',
            server_extra => "sandbox_warm_pool 2;$metrics");
my $ng = SandboxBridge::Scenario::Nginx->new(name => 't280', %conf);
$ng->start;

# unclaimed pool containers: id => pool hash
sub pool {
    my ($rc, $out) = docker_cmd('ps', '-a', '--no-trunc',
                                '--filter', "label=paperclip.bridge.prefix=$prefix",
                                '--filter', 'label=paperclip.bridge.pool',
                                '--format', '{{.ID}} {{.Names}} {{.Label "paperclip.bridge.pool"}} {{.State}}');
    die "docker ps: $out" if $rc;
    my %p;
    for (split /\n/, $out) {
        my ($id, $name, $hash, $state) = split / /;
        $p{$id} = $hash if $name =~ /^t280-pool_/ && $state eq 'running';
    }
    return \%p;
}

sub registered {
    my @keys = grep { !/:(?:live|lock|any):/ } redis_keys($port, "${prefix}pool:*");
    my %m;
    for my $k (@keys) {
        my $out = redis_cli($port, 'SMEMBERS', $k);
        $m{$1} = $k while $out =~ /"([0-9a-f]{64})"/g;
    }
    return \%m;
}

sub inspect {
    my ($name) = @_;
    my ($rc, $out) = docker_cmd('inspect', $name);
    return $rc ? undef : json_decode($out)->[0];
}

sub acquire {
    my ($node, $env) = @_;
    return $node->api(POST => '/leases/acquire',
                      { environmentId => $env, runId => 'r', reuseLease => \1,
                        keepAlive => \1, timeoutMs => 20000 });
}

# ---------------------------------------------------------------- filled

# at once: before the first refill pass (the cached body must follow)
my $h0 = $ng->api(GET => '/health')->{json};
ok($h0->{warmPool}, '/health has warmPool from the start')
    or diag explain $h0;
diag('ready at start: ' . ($h0->{warmPool}[0]{ready} // 'null'));

my $p;
ok(wait_until(sub { $p = pool(); keys %$p == 2 && keys %{registered()} == 2 },
              60, 0.2), 'the pool is filled to 2 started containers')
    or diag explain [pool(), registered()];
my %before = %$p;
my ($hash) = values %before;
like($hash, qr/^[0-9a-f]{16}$/, "labelled paperclip.bridge.pool=<hash> ($hash)");

my $health;
ok(wait_until(sub {
       $health = $ng->api(GET => '/health')->{json};
       ($health->{warmPool}[0]{ready} // -1) == 2 }, 30, 0.2),
   '/health shows the pool per host') or diag explain $health;
is_deeply($health->{warmPool}, [{ host => '/_docker', target => 2, ready => 2 }],
          'warmPool: host, target, ready');
{
    # the answer fits docs/openapi.json (t/helpers/openapi_check.py)
    my $res = $ng->api(GET => '/health');
    my $cases = "$FindBin::Bin/servroot-t280/openapi-cases.json";
    open my $fh, '>', $cases or die "$cases: $!";
    print $fh JSON::PP->new->encode([{ name => 'health with a pool',
        method => 'GET', path => '/health', status => $res->{status},
        type => $res->{headers}{'content-type'} // '', body => $res->{body} }]);
    close $fh;
    my $out = `/usr/bin/python3 $FindBin::Bin/helpers/openapi_check.py responses $FindBin::Bin/../docs/openapi.json $cases 2>&1`;
    like($out, qr/^ok GET \/health 200 \(health with a pool\)/m, '/health with warmPool fits the OpenAPI document')
        or diag($out);
    unlike($out, qr/^not ok/m, 'every check of it passes') or diag($out);
}
like($ng->request(GET => '/metrics')->{body},
     qr/^sandbox_bridge_warm_pool\{host="\/_docker"\} 2$/m,
     'and /metrics the sandbox_bridge_warm_pool gauge');

# ---------------------------------------------------------------- claim

my $r = acquire($ng, 't280-a');
is($r->{status}, 200, 'acquire') or diag explain $r;
my $cwd = $r->{json}{metadata}{remoteCwd};
my $c = inspect('t280-pc-env-t280-a');
ok($c && $before{$c->{Id}}, 'the lease container is a pool container claimed '
   . 'and renamed (its id was in the pool)') or diag explain [$c && $c->{Id}, \%before];
is($c->{Config}{Labels}{'paperclip.bridge.pool'}, $hash, 'of this configuration');
SKIP: {
    my $rt = $ENV{TEST_NGINX_SANDBOX_RUNTIME};
    skip 'no sandbox_runtime (make test-runsc sets one)', 1 unless $rt;
    is($c->{HostConfig}{Runtime}, $rt, "under the configured runtime ($rt)");
}
ok(!registered()->{$c->{Id}}, 'it is no longer in the Redis pool set');

ok(wait_until(sub { $p = pool(); keys %$p == 2 && !$p->{$c->{Id}} }, 60, 0.2),
   'the pool is refilled to 2') or diag explain $p;

# the workspace was made: a missing cwd would fail the exec
$r = $ng->api(POST => '/exec', { providerLeaseId => 'pc-env-t280-a',
                                 command => 'sh', cwd => $cwd,
                                 args => ['-c', 'pwd && echo hi > f && cat f'],
                                 timeoutMs => 20000 });
is($r->{status}, 200, 'exec in the claimed container') or diag explain $r;
is($r->{json}{stdout}, "$cwd\nhi\n",
   "in the lease's workspace ($cwd), which is writable");
$r = $ng->api(POST => '/exec', { providerLeaseId => 'pc-env-t280-a',
                                 command => 'cat', cwd => $cwd,
                                 args => ['.paperclip-lease.json'],
                                 timeoutMs => 20000 });
like($r->{json}{stdout} // '',
     qr/\A\{\n  "provider": "docker",\n  "providerLeaseId": "pc-env-t280-a",\n.*"resumedLease": false,/s,
     'the sentinel, uploaded while the container was renamed, names the lease')
    or diag explain $r;

# the refill's lock is its own: a refill that finds its lock taken over
# (it expired, another refill took it) leaves that lock alone
{
    my $lock = "${prefix}pool:lock:{/_docker}:$hash";
    $r = acquire($ng, 't280-l');
    is($r->{status}, 200, 'a claim starts a refill') or diag explain $r;
    my $taken = wait_until(sub {
        redis_cli($port, 'SET', $lock, 'other', 'XX', 'PX', 60000) =~ /OK/
    }, 30, 0.005);
    ok($taken, 'caught the refill holding its lock; replaced its token');
    ok(wait_until(sub { keys %{registered()} == 2 }, 60, 0.2),
       'the refill still fills the pool');
    sleep 0.5;
    is(redis_cli($port, 'GET', $lock), '"other"',
       'and, done, did not delete the lock it no longer holds');
    redis_cli($port, 'DEL', $lock);
    is($ng->api(DELETE => '/leases/pc-env-t280-l')->{status}, 200,
       'DELETE that lease');
}

# a reused lease keeps its container: the pool is not touched
my %pool_now = %{registered()};
$r = acquire($ng, 't280-a');
is($r->{status}, 200, 'the same reusable lease again') or diag explain $r;
is(inspect('t280-pc-env-t280-a')->{Id}, $c->{Id}, 'keeps its container');
is_deeply(registered(), \%pool_now, 'and claims nothing from the pool');

# ---------------------------------------------------------------- reaper

my %unclaimed = %{pool()};
sleep 3.5;    # three reaper passes and refills at 1 s
is_deeply([sort keys %{pool()}], [sort keys %unclaimed],
          'reaper passes and refills leave the unclaimed pool containers alone');
ok(inspect('t280-pc-env-t280-a'), 'and the claimed one whose lease lives');

$r = acquire($ng, 't280-b');
is($r->{status}, 200, 'a second acquire') or diag explain $r;
my $b = inspect('t280-pc-env-t280-b');
ok($b && $unclaimed{$b->{Id}}, 'claims a pool container too');
redis_cli($port, 'DEL', "${prefix}lease:{pc-env-t280-b}");
ok(wait_until(sub { !inspect('t280-pc-env-t280-b') }, 30, 0.2),
   'the reaper removes a claimed pool container whose record was deleted');

$r = $ng->api(DELETE => '/leases/pc-env-t280-a');
is($r->{status}, 200, 'DELETE') or diag explain $r;
ok(!inspect('t280-pc-env-t280-a'), 'removes the claimed container');

# ---------------------------------------------------------------- race

my $ng2 = SandboxBridge::Scenario::Nginx->new(name => 't280b', %conf);
$ng2->start;
ok(wait_until(sub { keys %{pool()} == 2 }, 60, 0.2), 'pool full again');

my @envs = map { "t280-r$_" } 1 .. 6;
my %pool_then = %{pool()};
my @h = map { ($_ % 2 ? $ng : $ng2)->api_send(POST => '/leases/acquire',
              { environmentId => $envs[$_], runId => 'r', reuseLease => \1,
                keepAlive => \1, timeoutMs => 20000 }) } 0 .. $#envs;
my @res = map { ($_ % 2 ? $ng : $ng2)->finish($h[$_]) } 0 .. $#envs;
is(scalar(grep { $_->{status} == 200 } @res), 6,
   '6 concurrent acquires on two nodes succeed')
    or diag explain [map { $_->{body} } @res];
my %ids;
my $claimed = 0;
for my $e (@envs) {
    my $x = inspect("t280-pc-env-$e");
    ok($x, "lease $e has its container") or next;
    $ids{$x->{Id}}++;
    $claimed++ if $pool_then{$x->{Id}};
}
is(scalar(keys %ids), 6, 'six distinct containers: none shared');
cmp_ok($claimed, '>=', 1, "pool containers were claimed ($claimed)");
for my $e (@envs) {
    is($ng->api(DELETE => "/leases/pc-env-$e")->{status}, 200, "release $e");
}
$ng2->stop;

# ---------------------------------------------------------------- config

ok(wait_until(sub { keys %{pool()} == 2 }, 60, 0.2), 'pool full again');
my %old = %{pool()};
$ng->reload(server_extra => "sandbox_warm_pool 2;\n        sandbox_memory 300m;$metrics");
ok(wait_until(sub { $p = pool(); keys %$p == 2 && !grep { $old{$_} } keys %$p },
              60, 0.2),
   'after a memory limit change the old pool containers are replaced')
    or diag explain $p;
my ($hash2) = values %$p;
isnt($hash2, $hash, "under a new hash ($hash2)");
$r = acquire($ng, 't280-c');
is($r->{status}, 200, 'acquire') or diag explain $r;
$c = inspect('t280-pc-env-t280-c');
ok($c && !$old{$c->{Id}}, 'never gets a container of the old configuration');
is($c->{HostConfig}{Memory}, 300 * 1024 * 1024, 'it has the new memory limit');
is($ng->api(DELETE => '/leases/pc-env-t280-c')->{status}, 200, 'release');

# ---------------------------------------------------------------- lost

# Redis loses this deployment's data: a claimed pool container's labels
# do not name its owner, so its record cannot be rebuilt; it is removed
# once the deployment marker is back, and the pool is rebuilt.
$r = acquire($ng, 't280-d');
is($r->{status}, 200, 'acquire') or diag explain $r;
$c = inspect('t280-pc-env-t280-d');
ok($c && $c->{Config}{Labels}{'paperclip.bridge.pool'}, 'from the pool');
redis_cli($port, 'DEL', $_) for redis_keys($port, "${prefix}*");
ok(wait_until(sub { !inspect('t280-pc-env-t280-d') }, 60, 0.2),
   'after the data loss the claimed pool container is removed, not adopted');
is(redis_cli($port, 'EXISTS', "${prefix}lease:{pc-env-t280-d}"), '(integer) 0',
   'no record was rebuilt for it');
# (the unregistered ones left from before are strays, removed at 60 s)
ok(wait_until(sub { my ($u, $m) = (pool(), registered());
                    keys %$m == 2 && !grep { !$u->{$_} } keys %$m }, 60, 0.2),
   'the pool is registered and full again') or diag explain [pool(), registered()];

# ---------------------------------------------------------------- off

$ng->reload(server_extra => $metrics);
ok(wait_until(sub { !docker_ids("paperclip.bridge.prefix=$prefix") }, 60, 0.2),
   'sandbox_warm_pool 0 clears the pool away');
ok(wait_until(sub { !grep { !/:lock:/ } redis_keys($port, "${prefix}pool:*") },
              30, 0.2), 'and its Redis keys')
    or diag explain [redis_keys($port, "${prefix}pool:*")];

ok(!exists $ng->api(GET => '/health')->{json}{warmPool},
   '/health has no warmPool without a pool');
unlike($ng->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert in the error log');
$ng->cleanup;
$ng2->cleanup;

# ---------------------------------------------------------------- conf

for my $bad ('1001', '-1', 'two') {
    my $t = SandboxBridge::Scenario::Nginx->new(name => 't280c', %conf,
                server_extra => "sandbox_warm_pool $bad;");
    $t->write_conf;
    my ($rc, $out) = SandboxBridge::Scenario::nginx_t($t->nginx_cmd('-t'));
    isnt($rc, 0, "nginx -t refuses sandbox_warm_pool $bad");
    like($out, qr/"sandbox_warm_pool" directive/, 'naming the directive')
        or diag($out);
    $t->cleanup;
}

done_testing();
