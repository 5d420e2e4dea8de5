# Several Docker hosts (README "Docker hosts"), on real processes: the
# private dockerd of make test is host h1, a second private dockerd
# (util/services.sh, instance t250, same Redis) is host h2. Two nginx nodes
# share the test Redis (prefix t250:):
#
#   node A  /api/...       h1 weight=2, h2 weight=1
#           /full/api/...  h1 max_leases=8, h2 max_leases=4 (same hosts)
#   node B  /api/...       h2 only
#
# Both reap every second. Checked: 12 acquires on A spread 8/4 over h1/h2
# (leases/weight); /full refuses a 13th with 503 until a lease ends; a lease
# placed on h2 through A is resumed, exec'd (JSON and SSE) and released
# through B; B answers 503 naming h1 for a lease on h1 and leaves it as it
# was; several reaper passes of both nodes over both hosts forget and
# remove nothing; records of h1 lost with its deployment marker are rebuilt,
# with h1's lease set; with h2's dockerd stopped its leases answer 503 and
# stay, acquires go to h1, B has no host left, and after the restart (live-
# restore) everything works again.
# Plain Test::More: this file starts and stops its own nginx nodes and the
# second dockerd.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use SandboxBridge::Scenario qw(env_or_skip redis_cli redis_keys wait_until);

sub run_cmd { SandboxBridge::Scenario::run_cmd(@_) }

my @missing = env_or_skip();
plan skip_all => "@missing not set; run through make test" if @missing;

my $Root   = "$FindBin::Bin/..";
my $Port   = $ENV{TEST_NGINX_REDIS_PORT};
my $Prefix = 't250:';
my $Sock1  = $ENV{TEST_NGINX_DOCKER_SOCKET};

# ------------------------------------------------------------ second dockerd

# util/services.sh for the second dockerd: its own instance, no Redis of
# its own (make test's PSB_RUNTIME names the first one's runtime dir)
sub services {
    my @args = @_;
    delete local $ENV{PSB_RUNTIME};
    delete local $ENV{BRIDGE_DOCKER_SOCKET};
    local $ENV{PSB_INSTANCE} = 't250';
    local $ENV{BRIDGE_REDIS} = "127.0.0.1:$Port";
    return run_cmd("$Root/util/services.sh", @args);
}

my ($rc, $out) = services('start');
is($rc, 0, 'a second private dockerd starts (services instance t250)')
    or BAIL_OUT("services.sh start: $out");
my ($envrc, $envfile) = services('env');
chomp $envfile;
my %Env2 = slurp($envfile) =~ /^export (\w+)=(\S*)$/mg;
my $Sock2 = $Env2{TEST_NGINX_DOCKER_SOCKET};
ok($Sock2 && -S $Sock2 && $Sock2 ne $Sock1, "its socket is there ($Sock2)")
    or BAIL_OUT("no second dockerd");

END {
    local ($?, $!);
    services('stop') if $Sock2;
}

sub slurp { my $f = shift; open my $in, '<', $f or return ''; local $/; <$in> // '' }

sub docker_at {
    my ($sock, @args) = @_;
    return run_cmd('docker', '-H', "unix://$sock", @args);
}

# lease ids with a container on a dockerd
sub containers_on {
    my $sock = shift;
    my ($rc, $out) = docker_at($sock, 'ps', '-a', '--filter',
                               "label=paperclip.bridge.prefix=$Prefix",
                               '--format', '{{.Label "paperclip.bridge.lease"}}');
    my @ids = grep { length } split /\n/, $out;
    return sort @ids;
}

sub hget {
    my ($id, $field) = @_;
    my $v = redis_cli($Port, 'HGET', "${Prefix}lease:{$id}", $field);
    $v =~ s/^"(.*)"$/$1/;
    return $v eq '(nil)' ? undef : $v;
}

# the time of a host's last complete reaper listing (README "Lease records
# and the reaper"); passes are counted as changes of it
sub pass_time {
    my $v = redis_cli($Port, 'GET', "${Prefix}reaper:pass:{$_[0]}");
    $v =~ s/^"(.*)"$/$1/;
    return $v =~ /^\d+$/ ? $v : 0;
}

# waits until each host has had $n more complete passes (or $timeout s);
# returns { host => passes seen }
sub watch_passes {
    my ($n, $timeout, @hosts) = @_;
    my %last = map { $_ => pass_time($_) } @hosts;
    my %seen = map { $_ => 0 } @hosts;
    wait_until(sub {
        for my $h (@hosts) {
            my $t = pass_time($h);
            if ($t ne $last{$h}) { $seen{$h}++; $last{$h} = $t }
        }
        return !grep { $seen{$_} < $n } @hosts;
    }, $timeout, 0.1);
    return \%seen;
}

# ------------------------------------------------------------ nodes

sub docker_loc {
    my ($uri, $sock) = @_;
    return <<"EOC";
        location $uri/ {
            internal;
            proxy_pass http://unix:$sock:/v1.41/;
            proxy_read_timeout 1d;
        }
EOC
}

my $NodeA = SandboxBridge::Scenario::Nginx->new(
    name => 't250-a', prefix => $Prefix,
    http_extra => 'sandbox_reaper_interval 1s;',
    docker_conf => <<"EOC" . docker_loc('/_d1', $Sock1) . docker_loc('/_d2', $Sock2));
        sandbox_docker_location /_d1 name=h1 weight=2;
        sandbox_docker_location /_d2 name=h2 weight=1;

        location /full/api/paperclip-sandbox/v1 {
            sandbox_docker_location /_d1 name=h1 max_leases=8;
            sandbox_docker_location /_d2 name=h2 max_leases=4;
            sandbox_bridge;
        }
EOC

my $NodeB = SandboxBridge::Scenario::Nginx->new(
    name => 't250-b', prefix => $Prefix,
    http_extra => 'sandbox_reaper_interval 1s;',
    docker_conf => "        sandbox_docker_location /_d2 name=h2;\n"
                   . docker_loc('/_d2', $Sock2));

$NodeA->start;
$NodeB->start;

my @All;    # every lease acquired here, for the clean-up

sub acquire {
    my ($node, $env, %o) = @_;
    my $res = $node->request(POST => ($o{base} // '') . '/api/paperclip-sandbox/v1/leases/acquire',
                             { environmentId => $env, runId => 'r',
                               reuseLease => JSON::PP::true(),
                               keepAlive => JSON::PP::true(), sleepAfter => '1h' });
    my $id = $res->{json} && $res->{json}{providerLeaseId};
    push @All, $id if $id;
    return ($res, $id);
}

sub exec_on {
    my ($node, $id, %o) = @_;
    return $node->api(POST => '/exec', { providerLeaseId => $id,
                                         command => 'echo', args => ['alive'], %o });
}

my $ALIVE = '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"alive\n","stderr":""}';

# ------------------------------------------------------------ health

{
    my $h = $NodeA->api(GET => '/health');
    is($h->{status}, 200, 'node A: health 200');
    is_deeply($h->{json}{hosts},
              [ { name => 'h1', reachable => JSON::PP::true(), leases => 0 },
                { name => 'h2', reachable => JSON::PP::true(), leases => 0 } ],
              'node A: health lists both hosts, reachable, no lease')
        or diag($h->{body});
    ok($h->{json}{driver}{reachable} && $h->{json}{store}{reachable},
       'the existing fields are kept');
}

# ------------------------------------------------------------ spread

my (%on, @ids);
for my $i (1 .. 12) {
    my ($res, $id) = acquire($NodeA, "t250-s$i");
    is($res->{status}, 200, "acquire $i answers 200") or diag($res->{body});
    push @ids, $id;
    $on{hget($id, 'docker') // 'none'}++;
}
diag("placement of 12 acquires (weights 2:1): h1=" . ($on{h1} // 0)
     . " h2=" . ($on{h2} // 0));
is($on{h1}, 8, '8 of 12 leases are on h1 (weight 2)');
is($on{h2}, 4, '4 of 12 leases are on h2 (weight 1)');

my @on1 = grep { hget($_, 'docker') eq 'h1' } @ids;
my @on2 = grep { hget($_, 'docker') eq 'h2' } @ids;
is_deeply([containers_on($Sock1)], [sort @on1], "h1's dockerd has exactly h1's containers");
is_deeply([containers_on($Sock2)], [sort @on2], "h2's dockerd has exactly h2's containers");

{
    my $h = $NodeA->api(GET => '/health');
    is_deeply([ map { "$_->{name}=$_->{leases}" } @{ $h->{json}{hosts} || [] } ],
              [ 'h1=8', 'h2=4' ], 'health counts the leases per host');
}

# ------------------------------------------------------------ max_leases

my $FULL = '{"error":"driver_unavailable","message":"Every reachable Docker host has reached its max_leases."}';
{
    my ($res, $id) = acquire($NodeA, 't250-full', base => '/full');
    is($res->{status}, 503, 'every host at its max_leases: acquire answers 503');
    is($res->{body}, $FULL, '... driver_unavailable, naming max_leases');
    like(redis_cli($Port, 'EXISTS', "${Prefix}lease:{pc-env-t250-full}"), qr/\b0\b/,
       '... and no record is made');

    my $gone = shift @on2;
    is($NodeA->api(DELETE => "/leases/$gone")->{status}, 200, 'a lease on h2 ends');
    @ids = grep { $_ ne $gone } @ids;

    ($res, $id) = acquire($NodeA, 't250-full', base => '/full');
    is($res->{status}, 200, 'then /full places one more') or diag($res->{body});
    is(hget($id, 'docker'), 'h2', '... on h2, the host with room');
    push @on2, $id;
    push @ids, $id;
}

# ------------------------------------------------------------ another node

my $OnB = $on2[0];
{
    my $r = $NodeB->api(POST => '/leases/resume',
                        { providerLeaseId => $OnB, keepAlive => JSON::PP::true() });
    is($r->{status}, 200, 'node B (h2 only) resumes a lease placed on h2 by node A')
        or diag($r->{body});
    $r = exec_on($NodeB, $OnB);
    is($r->{body}, $ALIVE, 'node B execs on it (JSON)');
    $r = exec_on($NodeB, $OnB, streamOutput => JSON::PP::true());
    like($r->{body}, qr/^event: stdout\ndata: \{"data":"alive\\n"\}/m,
         'node B execs on it (SSE stdout)');
    like($r->{body}, qr/^event: complete\ndata: \{"exitCode":0,/m, '... and its complete event');
}

my $OnA = $on1[0];
{
    my $before = hget($OnA, 'last_used');
    my $msg = qq{{"error":"driver_unavailable","message":"Lease $OnA is placed on Docker host \\"h1\\", which this bridge does not know."}};
    my @r = (exec_on($NodeB, $OnA),
             $NodeB->api(POST => '/leases/resume', { providerLeaseId => $OnA }),
             $NodeB->api(DELETE => "/leases/$OnA"),
             $NodeB->api(POST => '/leases/release', { providerLeaseId => $OnA }),
             acquire($NodeB, $OnA =~ s/^pc-env-//r));
    is_deeply([ map { $_->{status} } grep { ref } @r ], [ (503) x 5 ],
              'node B answers exec, resume, DELETE, release, acquire of a lease on h1 with 503');
    is($r[0]{body}, $msg, '... driver_unavailable naming h1');
    is($r[2]{body}, $msg, '... the same for DELETE');
    is(hget($OnA, 'last_used'), $before, 'the lease on h1 is untouched');
    is(exec_on($NodeA, $OnA)->{body}, $ALIVE, 'node A still execs on it');
}

# ------------------------------------------------------------ reapers

{
    my $seen = watch_passes(4, 60, qw(h1 h2));
    ok($seen->{h1} >= 4 && $seen->{h2} >= 4, 'both hosts were reaped several times');
    diag("complete reaper passes watched: h1 $seen->{h1}, h2 $seen->{h2}");
    is(scalar(grep { defined hget($_, 'docker') } @ids), scalar(@ids),
       'no lease record was forgotten');
    is_deeply([containers_on($Sock1)], [sort @on1], 'no container was removed from h1');
    is_deeply([containers_on($Sock2)], [sort @on2], 'no container was removed from h2');
}

# ------------------------------------------------------------ h1's records lost

# README "Lease records and the reaper": without the host's deployment
# marker the reaper rebuilds missing records, and with them the host's
# lease set that placement counts
sub members {
    my $out = redis_cli($Port, 'SMEMBERS', "${Prefix}hostleases:$_[0]");
    return sort map { /"(.*)"/ ? $1 : () } split /\n/, $out;
}

{
    my @h1 = sort grep { (hget($_, 'docker') // '') eq 'h1' } @ids;
    is_deeply([members('h1')], \@h1, "h1's lease set has h1's leases");
    redis_cli($Port, 'DEL', "${Prefix}deployment:{h1}",
              "${Prefix}hostleases:h1", map { "${Prefix}lease:{$_}" } @h1);
    ok(wait_until(sub {
        !grep { (hget($_, 'docker') // '') ne 'h1' } @h1
    }, 30, 0.2), "h1's records lost with its marker are rebuilt");
    is(scalar(grep { defined hget($_, 'adopted') } @h1), scalar(@h1),
       '... by adoption');
    is_deeply([members('h1')], \@h1, "... and h1's lease set with them");
    is_deeply([containers_on($Sock1)], [sort @on1], 'no container was removed from h1');
}

# ------------------------------------------------------------ h2 down

($rc, $out) = services('stop-dockerd');
is($rc, 0, "h2's dockerd is stopped") or diag($out);

{
    my $r = exec_on($NodeA, $OnB);
    is($r->{status}, 503, 'an exec on a lease on h2 answers 503');
    like($r->{body}, qr/^\{"error":"driver_unavailable",/, '... driver_unavailable');

    # the ping cache may still say "up" for a second
    my $d;
    wait_until(sub { $d = $NodeA->api(DELETE => "/leases/$OnB"); $d->{status} == 503 }, 10, 0.5);
    is($d->{body}, qq{{"error":"driver_unavailable","message":"Docker host \\"h2\\" of lease $OnB is unreachable; the lease is kept."}},
       'a DELETE of a lease on h2 answers 503 and keeps it');
    is(hget($OnB, 'docker'), 'h2', '... its record is there');

    my (%down, $res, $id);
    for my $i (1 .. 3) {
        ($res, $id) = acquire($NodeA, "t250-d$i");
        is($res->{status}, 200, "acquire $i with h2 down answers 200") or diag($res->{body});
        $down{hget($id, 'docker') // 'none'}++ if $id;
    }
    is_deeply(\%down, { h1 => 3 }, 'acquires go to h1');

    ($res) = acquire($NodeB, 't250-nohost');
    is($res->{body}, '{"error":"driver_unavailable","message":"No Docker host is reachable."}',
       'node B, whose only host is down, answers acquire with 503');

    my $h = $NodeA->api(GET => '/health');
    is($h->{status}, 200, 'node A: health 200 while one host is up');
    is_deeply([ map { "$_->{name}=" . ($_->{reachable} ? 'up' : 'down') } @{ $h->{json}{hosts} || [] } ],
              [ 'h1=up', 'h2=down' ], '... h2 is listed unreachable');
    is($NodeB->api(GET => '/health')->{status}, 503, 'node B: health 503');

    my $t2 = pass_time('h2');
    my $seen = watch_passes(3, 30, 'h1');
    ok($seen->{h1} >= 3, 'h1 was reaped several times while h2 was down');
    is(pass_time('h2'), $t2, '... and h2 had no complete pass');
    diag("complete reaper passes watched with h2 down: h1 $seen->{h1}");
    is(scalar(grep { defined hget($_, 'docker') } @on2), scalar(@on2),
       "h2's leases survive the reapers while h2 is down");
}

($rc, $out) = services('start-dockerd');
is($rc, 0, "h2's dockerd is started again") or diag($out);

{
    my $ok = wait_until(sub { exec_on($NodeA, $OnB)->{body} eq $ALIVE }, 30, 0.5);
    ok($ok, 'after the restart the lease on h2 execs again (live-restore)');
    is(exec_on($NodeB, $OnB)->{body}, $ALIVE, '... through node B too');
    my $h = $NodeA->api(GET => '/health');
    is_deeply([ map { $_->{reachable} ? 1 : 0 } @{ $h->{json}{hosts} || [] } ], [1, 1],
              'health: both hosts reachable');
    my ($res, $id) = acquire($NodeB, 't250-back');
    is($res->{status}, 200, 'node B acquires again');
    is(hget($id, 'docker'), 'h2', '... on h2');
    is($NodeB->api(POST => '/leases/release', { providerLeaseId => $id })->{status}, 200,
       'node B releases it');
    is(hget($id, 'docker'), undef, '... its record is gone');
}

# ------------------------------------------------------------ clean-up

my %seen;
for my $id (grep { !$seen{$_}++ } @All) {
    my $r = $NodeA->api(DELETE => "/leases/$id");
    is($r->{status}, 200, "DELETE $id") or diag($r->{body});
}
is_deeply([containers_on($Sock1)], [], 'no container is left on h1');
is_deeply([containers_on($Sock2)], [], 'no container is left on h2');
is_deeply([redis_keys($Port, "${Prefix}lease:*")], [], 'no lease record is left');

# the servroots stay for a look when something failed
if (Test::More->builder->is_passing) {
    $NodeA->cleanup;
    $NodeB->cleanup;
} else {
    $NodeA->stop;
    $NodeB->stop;
}
redis_cli($Port, 'DEL', $_) for redis_keys($Port, "$Prefix*");

done_testing();
