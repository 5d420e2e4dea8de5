# README's log_format example (README "Variables"), taken from README
# itself, on one access log line per route: health, probe, acquire,
# resume, exec (JSON and SSE), release, delete, the admin routes, the
# OpenAPI route and errors; each line shows route, lease, credential, exit
# code, exec ms, Docker host and error code as README describes them.
# Plain Test::More with t/helpers/SandboxBridge/Scenario.pm; Redis prefix
# t212:.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Digest::SHA qw(sha256 sha256_hex);
use File::Temp ();
use JSON::PP ();
use Test::More;

use SandboxBridge::Scenario qw(redis_cli redis_keys docker_ids wait_until);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Prefix = 't212:';
my $Redis = $ENV{TEST_NGINX_REDIS_PORT};
my $Admin = 't212-admin-token';
my $Tok = 'tok-' . substr(sha256_hex(sha256(SandboxBridge::Scenario::TOKEN)), 0, 16);
my $AdmTok = 'tok-' . substr(sha256_hex(sha256($Admin)), 0, 16);

sub slurp { local (@ARGV, $/) = @_; return scalar <> }

# ------------------------------------------------ README's example

my ($vars) = slurp("$FindBin::Bin/../README.md") =~ /^## Variables\n(.*?)^## /ms;
my ($format) = ($vars // '') =~ /^ *(log_format sandbox .*?;)$/ms;
ok(defined $format, 'README has a log_format sandbox example');
$format //= 'log_format sandbox "";';
my ($example) = ($vars // '') =~ /^```\n(\d+\.\d+\.\d+\.\d+ \[.*)\n```$/m;
ok(defined $example, 'README shows a line of it');

# the line's shape, from the format: every $variable is one field
my ($quoted) = join '', $format =~ /'([^']*)'/g;
my @fields = $quoted =~ /\$(\w+)/g;
my $shape = quotemeta $quoted;
$shape =~ s/\\\$time_local/(.+?)/;
$shape =~ s/\\\$request(?!_)/(.+?)/;
$shape =~ s/\\\$\w+/(\\S+)/g;
my $line_re = qr/\A$shape\z/;

sub parse {
    my $line = shift;
    my @v = $line =~ $line_re or return undef;
    my %h;
    @h{@fields} = @v;
    return \%h;
}

my $ex = parse($example // '');
ok($ex, "README's example line has the format's shape");
is($ex->{sandbox_route}, 'exec', 'the example is an exec') if $ex;

# ------------------------------------------------ one line per request

my $Dir = File::Temp::tempdir('psb-t212-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    open my $fh, '>', "$Dir/admin-tokens" or die $!;
    print $fh "$Admin\n";
}

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't212', prefix => $Prefix,
    http_extra => "sandbox_reaper_interval 1h;\n    $format",
    server_extra => "sandbox_auth_admin_token_file $Dir/admin-tokens;\n"
                  . "        access_log $Dir/sandbox.log sandbox;");

sub cleanup {
    redis_cli($Redis, 'DEL', $_) for redis_keys($Redis, "$Prefix*");
    SandboxBridge::Scenario::docker_cmd('rm', '-f', $_)
        for docker_ids("paperclip.bridge.prefix=$Prefix");
}

cleanup();
$ng->start;

my @AdminH = (headers => [Authorization => "Bearer $Admin"]);
my $L = 'pc-env-t212';
my @want;

# want(request, expected status, expected fields)
sub want {
    my ($method, $path, $body, $opt, $status, %f) = @_;
    my $res = $ng->api($method, $path, $body, @{ $opt || [] });
    is($res->{status}, $status, "$method $path: $status")
        or diag $res->{body};
    push @want, [ "$method $path", { status => $status, %f } ];
    return $res;
}

my %none = (sandbox_lease_id => '-', sandbox_exit_code => '-',
            sandbox_exec_ms => '-', sandbox_error => '-');

want(GET => '/health', undef, undef, 200, %none, sandbox_route => 'health',
     sandbox_credential => $Tok, sandbox_docker_host => '/_docker');
want(POST => '/probe', {}, undef, 200, %none, sandbox_route => 'probe',
     sandbox_lease_id => qr/^pc-probe-/, sandbox_credential => $Tok,
     sandbox_docker_host => '/_docker');
want(POST => '/leases/acquire', { environmentId => 't212', runId => 'r',
     reuseLease => JSON::PP::true(), keepAlive => JSON::PP::true() }, undef,
     200, %none, sandbox_route => 'acquire', sandbox_lease_id => $L,
     sandbox_credential => $Tok, sandbox_docker_host => '/_docker');
want(POST => '/leases/resume', { providerLeaseId => $L }, undef, 200, %none,
     sandbox_route => 'resume', sandbox_lease_id => $L,
     sandbox_credential => $Tok, sandbox_docker_host => '/_docker');
want(POST => '/exec', { providerLeaseId => $L, command => 'sh',
     args => ['-c', 'exit 3'] }, undef, 200, %none, sandbox_route => 'exec',
     sandbox_lease_id => $L, sandbox_credential => $Tok,
     sandbox_exit_code => 3, sandbox_exec_ms => qr/^\d+$/,
     sandbox_docker_host => '/_docker');
my $res = want(POST => '/exec', { providerLeaseId => $L, command => 'sh',
     args => ['-c', 'echo hi; exit 4'], streamOutput => JSON::PP::true() },
     undef, 200, %none, sandbox_route => 'exec', sandbox_lease_id => $L,
     sandbox_credential => $Tok, sandbox_exit_code => 4,
     sandbox_exec_ms => qr/^\d+$/, sandbox_docker_host => '/_docker');
like($res->{body}, qr/event: complete\ndata: \{"exitCode":4,/, 'the SSE exec completed');
want(GET => "/leases/$L", undef, \@AdminH, 200, %none, sandbox_route => 'lease',
     sandbox_lease_id => $L, sandbox_credential => $AdmTok,
     sandbox_docker_host => '-');
want(GET => '/leases', undef, \@AdminH, 200, %none, sandbox_route => 'leases',
     sandbox_credential => $AdmTok, sandbox_docker_host => '-');
want(GET => '/openapi.json', undef, [auth => 0], 200, %none,
     sandbox_route => 'openapi', sandbox_credential => '-',
     sandbox_docker_host => '-');
want(POST => '/exec', { providerLeaseId => 'pc-env-t212-none', command => 'true' },
     undef, 409, %none, sandbox_route => 'exec',
     sandbox_lease_id => 'pc-env-t212-none', sandbox_credential => $Tok,
     sandbox_docker_host => '/_docker', sandbox_error => 'sandbox_state_lost');
want(POST => '/leases/acquire', {}, undef, 400, %none,
     sandbox_route => 'acquire', sandbox_credential => $Tok,
     sandbox_docker_host => '/_docker', sandbox_error => 'invalid_request');
want(GET => '/health', undef, [auth => 0], 401, %none, sandbox_route => '-',
     sandbox_credential => '-', sandbox_docker_host => '-',
     sandbox_error => 'unauthorized');
want(GET => '/leases', undef, undef, 404, %none, sandbox_route => '-',
     sandbox_credential => $Tok, sandbox_docker_host => '-',
     sandbox_error => 'not_found');
want(POST => '/leases/release', { providerLeaseId => $L }, undef, 200, %none,
     sandbox_route => 'release', sandbox_lease_id => $L,
     sandbox_credential => $Tok, sandbox_docker_host => '/_docker');
want(DELETE => "/leases/$L", undef, undef, 200, %none, sandbox_route => 'delete',
     sandbox_lease_id => $L, sandbox_credential => $Tok,
     sandbox_docker_host => '/_docker');

# the access log is written when a request ends
# (the lines of the bridge's prefix: Scenario.pm's start asks /_generation)
sub api_lines {
    return grep { m{"\w+ /api/paperclip-sandbox/v1/} }
           split /\n/, (eval { slurp("$Dir/sandbox.log") } // '');
}
ok(wait_until(sub { my @l = api_lines(); @l >= @want }, 10),
   'one access log line per request');
my @lines = api_lines();
is(scalar @lines, scalar @want, 'no more lines than requests');

for my $i (0 .. $#want) {
    my ($name, $f) = @{ $want[$i] };
    my $got = parse($lines[$i] // '');
    ok($got, "$name: the line has README's format") or diag $lines[$i];
    $got ||= {};
    for my $k (sort keys %$f) {
        my $v = $k eq 'status' ? $got->{status} : $got->{$k};
        if (ref $f->{$k}) {
            like($v // '', $f->{$k}, "$name: $k");
        } else {
            is($v, $f->{$k}, "$name: $k");
        }
    }
}

unlike(join("\n", @lines), qr/\Q${\ SandboxBridge::Scenario::TOKEN }\E|\Q$Admin\E/,
       'no token in the access log');

$ng->stop;
$ng->cleanup;
cleanup();

done_testing();
