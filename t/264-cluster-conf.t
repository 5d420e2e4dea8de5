# conf-examples/cluster.conf (README "Local cluster"): the template of a
# cluster node for real hosts (Sentinel with password files and wait=,
# Docker Engines over TLS with client certificates) passes `nginx -t` once
# rendered with the certificates util/cluster.sh made.  With several
# sandbox_docker_location lines (a build that has them) both Docker hosts
# are listed; a build with one location per bridge rejects that (no name=,
# no second line) and make run-cluster uses the first alone.  t/263 runs the same file for real.
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use File::Temp qw(tempdir);

use SandboxBridge::Scenario ();

plan skip_all => 'needs util/cluster.sh (make test-cluster)'
    unless $ENV{CLUSTER_SENTINELS};

my $root = "$FindBin::Bin/..";
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my ($so) = grep { /\.so$/ } split /\s+/, $ENV{TEST_NGINX_LOAD_MODULES} // '';

sub render {
    my ($multi) = @_;
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/$_" for qw(conf logs);
    open my $fh, '>', "$dir/token" or die $!;
    print $fh "t264-token\n";
    close $fh;
    local %ENV = (%ENV,
        BRIDGE_MODULE => $so, BRIDGE_USER => scalar getpwuid($<),
        BRIDGE_PREFIX => $dir, BRIDGE_LISTEN => '127.0.0.1:1',
        BRIDGE_TOKEN_FILE => "$dir/token",
        BRIDGE_SENTINELS => $ENV{CLUSTER_SENTINELS},
        BRIDGE_REDIS_MASTER => $ENV{CLUSTER_MASTER},
        BRIDGE_REDIS_PASSWORD_FILE => $ENV{CLUSTER_REDIS_PASSWORD_FILE},
        BRIDGE_SENTINEL_PASSWORD_FILE => $ENV{CLUSTER_SENTINEL_PASSWORD_FILE},
        BRIDGE_DOCKER_A => $ENV{CLUSTER_DOCKER1_TLS},
        BRIDGE_DOCKER_B => $ENV{CLUSTER_DOCKER2_TLS},
        BRIDGE_DOCKER_A_NAME => 'localhost', BRIDGE_DOCKER_B_NAME => 'localhost',
        BRIDGE_TLS_DIR => $ENV{CLUSTER_TLS_DIR},
        BRIDGE_IMAGE => $ENV{TEST_NGINX_SANDBOX_IMAGE},
        BRIDGE_MULTIHOST => $multi ? 1 : '',
        BRIDGE_DOCKER_A_OPTS => $multi ? ' name=docker-a' : '');
    my ($rc, $out) = SandboxBridge::Scenario::run_cmd("$root/util/render-conf",
        "$root/conf-examples/cluster.conf", "$dir/conf/nginx.conf");
    die "render-conf: $out" if $rc;
    open $fh, '<', "$dir/conf/nginx.conf" or die $!;
    my $conf = do { local $/; <$fh> };
    ($rc, $out) = SandboxBridge::Scenario::nginx_t($nginx, '-p', "$dir/", '-c',
        'conf/nginx.conf', '-g', 'daemon off;', '-t');
    return ($rc, $out, $conf);
}

my ($rc, $out, $conf) = render(0);
is($rc, 0, 'cluster.conf with one Docker location per bridge: nginx -t ok') or diag($out);
like($conf, qr/sandbox_redis sentinel=127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+ master=\S+\n/,
     'Sentinel with three sentinels');
like($conf, qr{proxy_pass https://127\.0\.0\.1:\d+/v1\.41/;\n\s+proxy_ssl_certificate \S+client-cert\.pem;}, 'Docker over TLS');
like($conf, qr/proxy_ssl_verify on;/, 'the Docker host is verified');
unlike($conf, qr/\$\{BRIDGE_[A-Z0-9_]+\}/, 'every placeholder filled in');

($rc, $out) = render(1);
if ($rc == 0) {
    pass('cluster.conf with both Docker hosts per bridge: nginx -t ok');
} else {
    like($out, qr/(?:"sandbox_docker_location" directive is duplicate|invalid number of arguments in "sandbox_docker_location" directive)/,
         'this build takes one Docker location per bridge, without name=');
}

done_testing();
