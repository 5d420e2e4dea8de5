# A Docker Engine over TCP with TLS client certificates (README "Docker
# over TLS"): the second dockerd of util/cluster.sh listens with
# --tlsverify on a loopback port, with a CA, server and client certificate
# made by openssl at start.  The bridge reaches it through
# `proxy_pass https://...` with proxy_ssl_certificate(_key),
# proxy_ssl_trusted_certificate and proxy_ssl_verify on; Redis is the
# Sentinel-managed primary.  acquire, exec (JSON and SSE), release work; a
# location without the client certificate is refused by dockerd.
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;

use SandboxBridge::Scenario ();

plan skip_all => 'needs util/cluster.sh (make test-cluster)'
    unless $ENV{CLUSTER_DOCKER2_TLS};

my $tls = $ENV{CLUSTER_TLS_DIR};
my $docker = <<"EOC";
        sandbox_docker_location /_docker;
        location /_docker/ {
            internal;
            proxy_pass https://$ENV{CLUSTER_DOCKER2_TLS}/v1.41/;
            proxy_ssl_certificate $tls/client-cert.pem;
            proxy_ssl_certificate_key $tls/client-key.pem;
            proxy_ssl_trusted_certificate $tls/ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            # a worker keeps the last upstream TLS session until it exits
            # and never frees it (nginx core): LSan would report it
            proxy_ssl_session_reuse off;
            proxy_read_timeout 1d;
        }
EOC

my %common = (
    redis => "sentinel=$ENV{CLUSTER_SENTINELS}",
    redis_opts => "master=$ENV{CLUSTER_MASTER}"
        . " password_file=$ENV{CLUSTER_REDIS_PASSWORD_FILE}"
        . " sentinel_password_file=$ENV{CLUSTER_SENTINEL_PASSWORD_FILE}",
    http_extra => 'sandbox_reaper_interval 10m;', timeout => 60);

my $ng = SandboxBridge::Scenario::Nginx->new(name => 't261', prefix => 't261:',
                                             docker_conf => $docker, %common);
$ng->start;

my $r = $ng->api(GET => '/health');
is($r->{status}, 200, 'health: Redis (Sentinel) and Docker (TLS) reachable')
    or diag($r->{body});

$r = $ng->api(POST => '/leases/acquire',
              { environmentId => 't261-tls', runId => 'r', reuseLease => \0,
                keepAlive => \1, sleepAfter => '1h' });
is($r->{status}, 200, 'acquire on the TLS Docker host') or diag($r->{body});
my $id = $r->{json}{providerLeaseId} // '';
like($id, qr/\Apc-r-[0-9a-f]+\z/, 'lease id');

my $ids = `docker -H unix://$ENV{CLUSTER_DOCKER2_SOCKET} ps -q --filter label=paperclip.bridge.prefix=t261:`;
is(scalar(split /\n/, $ids), 1, 'its container runs on the TLS dockerd');

$r = $ng->exec_cmd($id, 'sh', '-c', 'echo over-tls; echo err >&2; exit 3');
is($r->{status}, 200, 'exec (JSON)');
is($r->{body}, '{"exitCode":3,"signal":null,"timedOut":false,'
               . '"stdout":"over-tls\n","stderr":"err\n"}', 'exec result');

$r = $ng->api(POST => '/exec', { providerLeaseId => $id, command => 'echo',
                                 args => ['streamed'], streamOutput => \1 });
is($r->{status}, 200, 'exec (SSE)');
like($r->{body}, qr/\Aevent: stdout\ndata: \{"data":"streamed\\n"\}\n\n.*event: complete\ndata: \{"exitCode":0,/s,
     'SSE frames, then complete');

$r = $ng->api(POST => '/leases/release', { providerLeaseId => $id, reuseLease => \0 });
is($r->{status}, 200, 'release') or diag($r->{body});
$ids = `docker -H unix://$ENV{CLUSTER_DOCKER2_SOCKET} ps -aq --filter label=paperclip.bridge.prefix=t261:`;
is($ids, '', 'the container is gone');

# the same dockerd without a client certificate: the TLS handshake fails
(my $nocert = $docker) =~ s/^\s*proxy_ssl_certificate(?:_key)? .*\n//mg;
my $bad = SandboxBridge::Scenario::Nginx->new(name => 't261b', prefix => 't261:',
                                              docker_conf => $nocert, %common);
$bad->start;
$r = $bad->api(GET => '/health');
is($r->{status}, 503, 'without a client certificate: health 503');
is($r->{body}, '{"error":"driver_unavailable","message":"Docker API unreachable (nginx 502)"}',
   'Docker unreachable');
like($bad->error_log, qr/SSL/, 'the error log tells of the TLS failure');

if (Test::More->builder->is_passing) { $_->cleanup for $ng, $bad }
else { $_->stop for $ng, $bad }

done_testing();
