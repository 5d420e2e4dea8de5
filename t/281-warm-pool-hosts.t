# The warm pool with several Docker hosts (README "Warm pool"): each host
# name gets its own pool (two names on the same dockerd here: the pools
# are told apart by their paperclip.bridge.pool-host label, not by the
# engine); an acquire placed on a host claims from that host's pool;
# /health lists the pool per host; without the directive both are
# cleared away.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;

use SandboxBridge::Scenario qw(docker_cmd docker_ids redis_keys
                               wait_until json_decode);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $port   = $ENV{TEST_NGINX_REDIS_PORT};
my $prefix = 't281:';
my $sock   = $ENV{TEST_NGINX_DOCKER_SOCKET};

sub docker_loc {
    my ($loc) = @_;
    return <<"EOC";
        location $loc/ {
            internal;
            proxy_pass http://unix:$sock:/v1.41/;
            proxy_read_timeout 1d;
        }
EOC
}

my %conf = (
    prefix => $prefix,
    http_extra => 'sandbox_reaper_interval 1s;',
    docker_conf => "        sandbox_docker_location /_d1 name=h1;\n"
                   . "        sandbox_docker_location /_d2 name=h2;\n"
                   . "        sandbox_warm_pool 1;\n"
                   . docker_loc('/_d1') . docker_loc('/_d2'));
my $ng = SandboxBridge::Scenario::Nginx->new(name => 't281', %conf);
$ng->start;

# unclaimed pool containers: id => host label
sub pool {
    my ($rc, $out) = docker_cmd('ps', '-a', '--no-trunc',
                                '--filter', "label=paperclip.bridge.prefix=$prefix",
                                '--filter', 'label=paperclip.bridge.pool',
                                '--format', '{{.ID}} {{.Names}} {{.Label "paperclip.bridge.pool-host"}}');
    die "docker ps: $out" if $rc;
    my %p;
    for (split /\n/, $out) {
        my ($id, $name, $host) = split / /;
        $p{$id} = $host if $name =~ /^t281-pool_/;
    }
    return \%p;
}

my $p;
ok(wait_until(sub { $p = pool(); my @h = sort values %$p; "@h" eq 'h1 h2' },
              60, 0.2), 'one pool container per host name') or diag explain $p;
my %before = %$p;
sleep 3;    # several refills of both hosts
is_deeply(pool(), \%before, 'each host keeps its one pool container over refills');

my $health;
ok(wait_until(sub {
       $health = $ng->api(GET => '/health')->{json};
       my @r = map { $_->{ready} // -1 } @{$health->{warmPool} || []};
       "@r" eq '1 1' }, 30, 0.2), '/health: warmPool per host')
    or diag explain $health;
is_deeply([map { $_->{host} } @{$health->{warmPool}}], ['h1', 'h2'], 'h1, h2');

my %got;
for my $env ('t281-a', 't281-b') {
    my $r = $ng->api(POST => '/leases/acquire',
                     { environmentId => $env, runId => 'r', reuseLease => \1,
                       keepAlive => \1, timeoutMs => 20000 });
    is($r->{status}, 200, "acquire $env") or diag explain $r;
    my ($rc, $out) = docker_cmd('inspect', "t281-pc-env-$env");
    my $c = $rc ? {} : json_decode($out)->[0];
    $got{$env} = $before{$c->{Id} // ''} // 'none';
}
my @hosts = sort values %got;
is("@hosts", 'h1 h2', 'the two leases (one per host) claimed their own host\'s pool containers')
    or diag explain \%got;

for my $env ('t281-a', 't281-b') {
    is($ng->api(DELETE => "/leases/pc-env-$env")->{status}, 200, "DELETE $env");
}

$ng->reload(docker_conf => "        sandbox_docker_location /_d1 name=h1;\n"
                           . "        sandbox_docker_location /_d2 name=h2;\n"
                           . docker_loc('/_d1') . docker_loc('/_d2'));
ok(wait_until(sub { !docker_ids("paperclip.bridge.prefix=$prefix") }, 60, 0.2),
   'without the pool both hosts are cleared');
ok(wait_until(sub { !grep { !/:lock:/ } redis_keys($port, "${prefix}pool:*") },
              30, 0.2), 'and the Redis keys')
    or diag explain [redis_keys($port, "${prefix}pool:*")];

unlike($ng->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert in the error log');
$ng->cleanup;

done_testing();
