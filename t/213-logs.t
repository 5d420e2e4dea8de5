# Logs an operator can follow (README "Logs"): one [info] line per lease
# event and exec end, each with lease id, credential id and host, here for
# what other tests do not cover: a signing key's credential (hmac:<keyId>)
# through acquire, resume, exec exit/timeout/disconnect, release and DELETE;
# the reaper's "reaped" (a container whose record is gone) and "forgotten"
# (a record whose container is gone) lines.  The error log runs at debug
# level: no secret (the signing key's secret, the tokens' digests) appears
# in it, and a bearer token only where nginx itself logs request headers.
# Plain Test::More with t/helpers/SandboxBridge/Scenario.pm; Redis prefix
# t213:.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Digest::SHA qw(sha256 sha256_hex);
use File::Temp ();
use IO::Select ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);

use SandboxBridge::Scenario qw(redis_cli redis_keys docker_ids docker_cmd
                               wait_until);
use SandboxBridge::Sign ();

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Prefix = 't213:';
my $Redis = $ENV{TEST_NGINX_REDIS_PORT};
my $Secret = 't213-signing-secret-0123456789';
my $Token = SandboxBridge::Scenario::TOKEN;
my $Tok = 'tok-' . substr(sha256_hex(sha256($Token)), 0, 16);
my $Sign = SandboxBridge::Sign->new(keys => "k213 $Secret\n");

# the Scenario nginx, with signed requests and a debug error log
package T213::Nginx {
    our @ISA = ('SandboxBridge::Scenario::Nginx');
    sub conf_text {
        my $t = shift->SUPER::conf_text(@_);
        $t =~ s/sandbox_auth bearer;/sandbox_auth any;/;
        $t =~ s{(error_log \S+) info;}{$1 debug;};
        return $t;
    }
}

my $ng = T213::Nginx->new(
    name => 't213', prefix => $Prefix,
    http_extra => 'sandbox_reaper_interval 1s;',
    server_extra => 'sandbox_auth_hmac_key_file ' . $Sign->key_file . ';');

sub cleanup {
    redis_cli($Redis, 'DEL', $_) for redis_keys($Redis, "$Prefix*");
    docker_cmd('rm', '-f', $_) for docker_ids("paperclip.bridge.prefix=$Prefix");
}

cleanup();
$ng->start;

my $Base = 'http://localhost/api/paperclip-sandbox/v1';

sub signed {
    my ($method, $path, $body) = @_;
    my $json = defined $body ? JSON::PP->new->canonical->encode($body) : undef;
    my $auth = $Sign->sign('k213', $method, "$Base$path", $json // '');
    return $ng->api($method, $path, $json,
                    headers => [Authorization => $auth]);
}

sub line_like {
    my ($re, $name) = @_;
    ok(wait_until(sub { $ng->error_log =~ $re }, 30), $name)
        or diag "no line matches $re";
}

my $H = 'pc-env-t213-h';
my $C = 'credential=hmac:k213 host=/_docker';

# ------------------------------------------------ a signing key's lease

my $res = signed(POST => '/leases/acquire', { environmentId => 't213-h',
                 runId => 'r', reuseLease => JSON::PP::true(),
                 keepAlive => JSON::PP::true() });
is($res->{status}, 200, 'signed acquire') or diag $res->{body};
line_like(qr/\[info\] .*sandbox bridge: lease acquired id=$H $C\b/,
          'info: lease acquired, hmac credential');

$res = signed(POST => '/leases/resume', { providerLeaseId => $H });
is($res->{status}, 200, 'signed resume') or diag $res->{body};
line_like(qr/\[info\] .*sandbox bridge: lease resumed id=$H $C\b/,
          'info: lease resumed');

$res = signed(POST => '/exec', { providerLeaseId => $H, command => 'sh',
              args => ['-c', 'exit 5'] });
is($res->{status}, 200, 'signed exec');
line_like(qr/\[info\] .*sandbox bridge: exec exit id=$H $C exit=5 ms=\d+/,
          'info: exec exit');

$res = signed(POST => '/exec', { providerLeaseId => $H, command => 'sleep',
              args => ['5'], timeoutMs => 300 });
like($res->{body}, qr/"timedOut":true/, 'signed exec that times out');
line_like(qr/\[info\] .*sandbox bridge: exec timeout id=$H $C exit=- ms=\d+/,
          'info: exec timeout');

# a streaming exec whose client goes away once the stream has started
{
    my $body = JSON::PP->new->canonical->encode({ providerLeaseId => $H,
                command => 'sleep', args => ['30'],
                streamOutput => JSON::PP::true() });
    my $auth = $Sign->sign('k213', 'POST', "$Base/exec", $body);
    my $h = $ng->api_send(POST => '/exec', $body,
                          headers => [Authorization => $auth]);
    my $got = '';
    my $sel = IO::Select->new($h->{sock});
    for (1 .. 100) {
        last unless $sel->can_read(0.2) || $got eq '';
        sysread($h->{sock}, my $buf, 4096) or last;
        $got .= $buf;
        last if $got =~ /\r\n\r\n/;
    }
    like($got, qr{\AHTTP/1\.1 200 .*text/event-stream}s, 'the stream started');
    close $h->{sock};
}
line_like(qr/\[info\] .*sandbox bridge: exec disconnect id=$H $C exit=- ms=(?:\d+|-)/,
          'info: exec disconnect');

$res = signed(DELETE => "/leases/$H");
is($res->{status}, 200, 'signed DELETE');
line_like(qr/\[info\] .*sandbox bridge: lease deleted id=$H $C\b/,
          'info: lease deleted');

$res = signed(POST => '/leases/acquire', { environmentId => 't213', runId => 'rel' });
my $R = $res->{json}{providerLeaseId} // 'none';
$res = signed(POST => '/leases/release', { providerLeaseId => $R });
is($res->{status}, 200, 'signed release');
line_like(qr/\[info\] .*sandbox bridge: lease released id=\Q$R\E $C\b/,
          'info: lease released');

# ------------------------------------------------ the reaper

# a container whose record is gone: reaped
$res = $ng->api(POST => '/leases/acquire', { environmentId => 't213-r',
                runId => 'r', reuseLease => JSON::PP::true(),
                keepAlive => JSON::PP::true() });
is($res->{status}, 200, 'acquire pc-env-t213-r');
# a missing record is reaped only once a pass has set the deployment
# marker; before that it reads as Redis data loss (README "Lease records and the reaper")
ok(wait_until(sub {
       redis_cli($Redis, 'EXISTS', "${Prefix}deployment:{/_docker}") =~ /1/
   }, 30), 'a reaper pass has set the deployment marker');
redis_cli($Redis, 'DEL', "${Prefix}lease:{pc-env-t213-r}");
line_like(qr/\[info\] .*sandbox bridge: lease reaped id=pc-env-t213-r credential=- host=\/_docker\b/,
          'info: lease reaped, no credential');
ok(wait_until(sub { !docker_ids("paperclip.bridge.prefix=$Prefix",
                                "paperclip.bridge.lease=pc-env-t213-r") }, 30),
   'its container is gone');

# a record whose container is gone: forgotten
$res = $ng->api(POST => '/leases/acquire', { environmentId => 't213-f',
                runId => 'r', reuseLease => JSON::PP::true(),
                keepAlive => JSON::PP::true() });
is($res->{status}, 200, 'acquire pc-env-t213-f');
docker_cmd('rm', '-f', $_)
    for docker_ids("paperclip.bridge.prefix=$Prefix",
                   "paperclip.bridge.lease=pc-env-t213-f");
line_like(qr/\[info\] .*sandbox bridge: lease forgotten id=pc-env-t213-f credential=- host=\/_docker\b/,
          'info: lease forgotten, no credential');
is(redis_cli($Redis, 'EXISTS', "${Prefix}lease:{pc-env-t213-f}") =~ /(\d+)/ && $1, 0,
   'its record is gone');

# ------------------------------------------------ no secret

my $log = $ng->error_log;
like($log, qr/\[debug\]/, 'the error log is at debug level');
unlike($log, qr/\Q$Secret\E/, 'the signing key\'s secret never appears');
my $digest = sha256_hex($Token);
unlike($log, qr/\Q$digest\E/i, 'the token\'s digest never appears');
my @tok_lines = grep { /\Q$Token\E/ } split /\n/, $log;
ok(@tok_lines, 'nginx itself logs the bearer header at debug level');
is(scalar(grep { !/\[debug\] .*http header: "Authorization: Bearer \Q$Token\E"/ }
                   @tok_lines), 0,
   'the token appears only in nginx\'s own request header lines')
    or diag join "\n", grep { !/http header:/ } @tok_lines;
is(scalar(grep { /sandbox bridge/ && /\Q$Token\E/ } split /\n/, $log), 0,
   'no line of the bridge has the token');

unlike($log, qr/\[(?:alert|emerg)\]/, 'no alert');

$ng->stop;
$ng->cleanup;
cleanup();

done_testing();
