# Issue 11 "Operators": the $sandbox_* variables in a log_format, and the
# info lines of lease lifecycle events and exec ends (README "Variables",
# "Logs"). One block runs every route against one reusable lease
# (pc-env-t171-vars) and a location that is not a bridge; its access log
# (logs/t171.log) and error log are read after run_tests (plain Perl, the
# logs of the last block stay in the server root). Redis prefix t171:.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t171-vars';

sub post { "POST $API$_[0]\n$_[1]" }

sub ex { ::post('/exec', json_encode({ providerLeaseId => $LEASE, %{ $_[0] } })) }

bridge_blocks(prefix => 't171', timeout => 30, locations => <<'_EOC_');
    access_log logs/t171.log t171;
    location = /plain { return 200 "plain\n"; }
_EOC_

cleanup_prefix('t171');

run_tests();

# ------------------------------------------------------------------------
# the logs of the block above

sub slurp {
    my $path = shift;
    open my $fh, '<', $path or return '';
    local $/;
    return <$fh>;
}

my $logs = server_root() . '/logs';
my @lines = split /\n/, slurp("$logs/t171.log");
my $err = slurp("$logs/error.log");

my $tok = qr/tok-[0-9a-f]{16}/;
my $L = quotemeta $LEASE;

# one access log line per request, in order
my @want = (
    [ health  => qr/\Aroute=health lease=- cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ probe   => qr/\Aroute=probe lease=\S+ cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ acquire => qr/\Aroute=acquire lease=$L cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ resume  => qr/\Aroute=resume lease=$L cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ 'exec exit 3' => qr/\Aroute=exec lease=$L cred=$tok exit=3 ms=\d+ host=\/_docker error=- status=200\z/ ],
    [ 'exec timeout' => qr/\Aroute=exec lease=$L cred=$tok exit=- ms=\d+ host=\/_docker error=- status=200\z/ ],
    [ 'exec without command' => qr/\Aroute=exec lease=- cred=$tok exit=- ms=- host=- error=invalid_request status=400\z/ ],
    [ 'exec on a lost lease' => qr/\Aroute=exec lease=pc-env-t171-none cred=$tok exit=- ms=- host=\/_docker error=sandbox_state_lost status=409\z/ ],
    [ release => qr/\Aroute=release lease=$L cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ delete  => qr/\Aroute=delete lease=$L cred=$tok exit=- ms=- host=\/_docker error=- status=200\z/ ],
    [ 'unknown route' => qr/\Aroute=- lease=- cred=$tok exit=- ms=- host=- error=not_found status=404\z/ ],
    [ 'not a bridge' => qr/\Aroute=- lease=- cred=- exit=- ms=- host=- error=- status=200\z/ ],
);

is(scalar @lines, scalar @want, 'access log: one line per request');

for my $i (0 .. $#want) {
    like($lines[$i] // '', $want[$i][1], "access log: $want[$i][0]");
}

my ($cred) = ($lines[0] // '') =~ /cred=(\S+)/;
$cred //= 'none';
is(scalar(grep { !/ cred=(?:\Q$cred\E|-) / } @lines), 0,
   'access log: one credential id throughout');

my ($ms) = ($lines[5] // '') =~ / ms=(\d+) /;
ok(defined $ms && $ms >= 250, 'access log: the timed-out exec ran ~300 ms');

unlike("$err\n" . join("\n", @lines), qr/secret-token/,
       'no secret in the logs');

# the info lines an operator follows
for my $re (
    qr/\[info\] .*sandbox bridge: lease acquired id=$L credential=$tok host=\/_docker\b/,
    qr/\[info\] .*sandbox bridge: lease resumed id=$L credential=$tok host=\/_docker\b/,
    qr/\[info\] .*sandbox bridge: exec exit id=$L credential=$tok host=\/_docker exit=3 ms=\d+\b/,
    qr/\[info\] .*sandbox bridge: exec timeout id=$L credential=$tok host=\/_docker exit=- ms=\d+\b/,
    qr/\[info\] .*sandbox bridge: lease released id=$L credential=$tok host=\/_docker\b/,
    qr/\[info\] .*sandbox bridge: lease deleted id=$L credential=$tok host=\/_docker\b/,
) {
    like($err, $re, "error log: $re");
}

unlike($err, qr/sandbox bridge: exec \S+ id=pc-env-t171-none/,
       'error log: no exec line for an exec that never ran');

__DATA__

=== TEST 1: every route, then a location that is not a bridge
--- http_config
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t171: command_timeout=1s;
    sandbox_reaper_interval 30s;
    log_format t171 'route=$sandbox_route lease=$sandbox_lease_id '
                    'cred=$sandbox_credential exit=$sandbox_exit_code '
                    'ms=$sandbox_exec_ms host=$sandbox_docker_host '
                    'error=$sandbox_error status=$status';
--- log_level: info
--- request eval
[ "GET $::API/health",
  ::post('/probe', '{}'),
  ::post('/leases/acquire', '{"environmentId":"t171-vars","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-t171-vars"}'),
  ::ex({ command => 'sh', args => ['-c', 'exit 3'] }),
  ::ex({ command => 'sleep', args => ['5'], timeoutMs => 300 }),
  ::post('/exec', '{"providerLeaseId":"pc-env-t171-vars"}'),
  ::post('/exec', '{"providerLeaseId":"pc-env-t171-none","command":"true"}'),
  ::post('/leases/release', '{"providerLeaseId":"pc-env-t171-vars"}'),
  "DELETE $::API/leases/pc-env-t171-vars",
  "GET $::API/nope",
  "GET /plain" ]
--- error_code eval
[200, 200, 200, 200, 200, 200, 400, 409, 200, 200, 404, 200]
--- response_body_like eval
[ qr/\A\{"ok":true,/,
  qr/\A\{"ok":true,"summary":/,
  qr/\A\{"providerLeaseId":"pc-env-t171-vars",/,
  qr/\A\{"providerLeaseId":"pc-env-t171-vars",.*"resumedLease":true/,
  qr/\A\{"exitCode":3,"signal":null,"timedOut":false,/,
  qr/\A\{"exitCode":null,"signal":null,"timedOut":true,/,
  qr/\A\{"error":"invalid_request","message":"providerLeaseId and command are required\."\}\z/,
  qr/\A\{"error":"sandbox_state_lost",/,
  qr/\A\{"ok":true\}\z/,
  qr/\A\{"ok":true\}\z/,
  qr/\A\{"error":"not_found",/,
  qr/\Aplain\n\z/ ]
--- no_error_log
[alert]
