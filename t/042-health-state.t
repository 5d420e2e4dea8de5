# GET /health from the worker's state (README "Health"): while the Redis
# link is alive a /health costs no Redis command (the module's
# redis_commands_total and Redis's own INFO commandstats do not move),
# the worker PINGs an idle link itself, and the answers stay truthful: a
# stopped Redis, or one that stops answering (SIGSTOP: the connection
# stays open, the PING gets no reply within command_timeout), turns
# /health into 503 store_unavailable, and it is 200 with the same body
# again once Redis is back. A private redis-server, so it can be stopped.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep);

use SandboxBridge::Prom ();
use SandboxBridge::Scenario qw(wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;
plan skip_all => 'python3-prometheus-client is not installed'
    unless SandboxBridge::Prom::available();

my $Health = '{"ok":true,"provider":"docker","bridgeVersion":"0.1.0",'
    . '"capabilities":{"reuseLease":true,"namedSessions":true,"previewUrls":false},'
    . '"store":{"backend":"redis","reachable":true},'
    . '"driver":{"name":"docker","reachable":true}}';
my $Store = qr/^\{"error":"store_unavailable","message":"[^"]*"\}$/;

my $redis = SandboxBridge::Scenario::Redis->new;
my $stopped = 0;

# a SIGSTOPped Redis would hang every redis-cli and the clean-up
END { kill 'CONT', $redis->pid if $stopped && $redis && $redis->pid }

# no background job talks to Redis during the counts: no reaper pass
# and no lease recount within the test
my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't042', prefix => 't042:', redis => '127.0.0.1:' . $redis->port,
    redis_opts => 'command_timeout=2s connect_timeout=1s',
    http_extra => 'sandbox_metrics_zone t042 1m refresh=1h;
    sandbox_reaper_interval 1h;',
    server_extra => 'location = /metrics { sandbox_metrics; }');
$ng->start;

sub scrape {
    my $r = $ng->request(GET => '/metrics', undef, auth => 0);
    die "scrape: $r->{status}\n$r->{body}" unless $r->{status} == 200;
    return SandboxBridge::Prom::parse($r->{body});
}

sub commands { SandboxBridge::Prom::sum(scrape(),
                                        'sandbox_bridge_redis_commands_total') }

# Redis's own count of each command it ran
sub cmdstats {
    my %n;
    my $out = $redis->cli('INFO', 'commandstats');
    $n{$1} = $2 while $out =~ /cmdstat_([\w|]+):calls=(\d+)/g;
    return \%n;
}

sub health { $ng->api(GET => '/health') }

# ---------------------------------------------------------------- quiet

ok(wait_until(sub { my $r = health(); $r->{status} == 200
                    && $r->{body} eq $Health }, 20, 0.1),
   'health: 200 with the exact body');

# the start-up work (handshake, a first reaper pass, a first recount) is
# over once the count stays put for a second
my $c0;
ok(wait_until(sub { my $a = commands(); sleep 1; $c0 = commands();
                    $a == $c0 }, 30, 0),
   'the worker is quiet: redis_commands_total stays put');

my $s0 = cmdstats();
my $n = 300;
my ($ok, $same) = (0, 0);
for (1 .. $n) {
    my $r = health();
    $ok++ if $r->{status} == 200;
    $same++ if $r->{body} eq $Health;
}
is($ok, $n, "$n health requests: all 200");
is($same, $n, '... all with the exact body');
is(commands() - $c0, 0,
   "... and redis_commands_total did not move (no Redis command)");

my $s1 = cmdstats();
my @moved = grep { $_ ne 'ping' && $_ ne 'info'
                   && ($s1->{$_} // 0) != ($s0->{$_} // 0) }
            sort keys %$s1;
is("@moved", '', 'Redis ran no command but PING (and our INFO) meanwhile')
    or diag explain [$s0, $s1];
cmp_ok($s1->{ping} // 0, '<', ($s0->{ping} // 0) + $n,
       'fewer PINGs than health requests: they are the worker\'s own')
    or diag explain [$s0, $s1];

# the idle link is PINGed by the worker, and those PINGs are not counted
{
    my $p0 = cmdstats()->{ping} // 0;
    ok(wait_until(sub { (cmdstats()->{ping} // 0) >= $p0 + 2 }, 30, 0.2),
       'the worker PINGs the idle link again and again');
    is(commands() - $c0, 0, '... outside redis_commands_total');
}

# ---------------------------------------------------------------- stopped

$redis->stop;
ok(wait_until(sub { my $r = health(); $r->{status} == 503
                    && $r->{body} =~ $Store }, 30, 0.2),
   'Redis stopped: health 503 store_unavailable');
is(health()->{status}, 503, '... and stays 503 while Redis is away');

$redis->start;
ok(wait_until(sub { my $r = health(); $r->{status} == 200
                    && $r->{body} eq $Health }, 30, 0.2),
   'Redis back: health 200 with the exact body again');

# ---------------------------------------------------------------- silent

# SIGSTOP: the connection stays open, nothing answers; the worker's PING
# times out after command_timeout and the link is reset
kill 'STOP', $redis->pid;
$stopped = 1;
ok(wait_until(sub { my $r = health(); $r->{status} == 503
                    && $r->{body} =~ $Store }, 30, 0.2),
   'Redis silent (SIGSTOP): health 503 store_unavailable');
like($ng->error_log, qr/redis "[^"]*" command timed out/,
     '... after the PING timed out');

kill 'CONT', $redis->pid;
$stopped = 0;
ok(wait_until(sub { my $r = health(); $r->{status} == 200
                    && $r->{body} eq $Health }, 30, 0.2),
   'Redis answers again: health 200 with the exact body');

unlike($ng->error_log, qr/\[(?:alert|emerg)\]/, 'no alert in the error log');

$ng->stop;
$redis->stop;
$ng->cleanup if Test::More->builder->is_passing;

done_testing();
