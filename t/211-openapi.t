# The OpenAPI 3.1 document (docs/openapi.json, README "OpenAPI"):
#   * GET <prefix>/openapi.json answers it without auth, byte for byte;
#   * the document itself: OpenAPI 3.1 structure, every $ref resolves, every
#     schema is valid JSON Schema 2020-12, info.version is the module's
#     version, every route of the router table is in it (and no other),
#     its error codes are those of README's "Errors" table;
#   * real responses of every route, successes and error envelopes, and the
#     events of SSE streams validate against the document's schemas
#     (t/helpers/openapi_check.py with Debian's python3-jsonschema).
# Plain Test::More with t/helpers/SandboxBridge/Scenario.pm; Redis prefix
# t211:.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use File::Temp ();
use JSON::PP ();
use Test::More;

use SandboxBridge::Scenario qw(redis_cli redis_keys docker_ids free_port);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Root = "$FindBin::Bin/..";
my $Python = '/usr/bin/python3';
my $Check = "$FindBin::Bin/helpers/openapi_check.py";
my $DocFile = "$Root/docs/openapi.json";
my $Prefix = 't211:';
my $Redis = $ENV{TEST_NGINX_REDIS_PORT};
my $Admin = 't211-admin-token';

sub slurp { local (@ARGV, $/) = @_; return scalar <> }

my $Doc = JSON::PP->new->decode(slurp($DocFile));

# ------------------------------------------------ python checks

sub python_checks {
    my @args = @_;
    open my $ph, '-|', $Python, $Check, @args or die "$Python: $!";
    my $n = 0;
    while (my $line = <$ph>) {
        chomp $line;
        $n++;
        if ($line =~ /^ok (.*)/) {
            pass($1);
        } elsif ($line =~ /^not ok (.*)/) {
            fail($1);
        } else {
            fail("openapi_check.py: $line");
        }
    }
    close $ph;
    is($?, 0, "openapi_check.py $args[0] exited 0");
    ok($n > 0, "openapi_check.py $args[0] checked something");
}

python_checks('doc', $DocFile);

# ------------------------------------------------ the document and the code

my ($version) = slurp("$Root/src/ngx_http_sandbox_bridge_module.h")
    =~ /#define\s+NGX_HTTP_SANDBOX_BRIDGE_VERSION\s+"([^"]+)"/;
is($Doc->{info}{version}, $version, "info.version is the module's $version");

my $router = slurp("$Root/src/ngx_http_sandbox_bridge_router.c");
my %code_routes;
while ($router =~ /\{\s*ngx_string\("\w+"\),\s*NGX_HTTP_(\w+),\s*ngx_string\("([^"]+)"\)/g) {
    my ($m, $p) = (lc $1, $2);
    $p =~ s{/$}{/{providerLeaseId}};
    $code_routes{"$m $p"} = 1;
}
my %doc_routes;
for my $p (keys %{ $Doc->{paths} }) {
    for my $m (grep { /^(get|post|delete|put|patch)$/ } keys %{ $Doc->{paths}{$p} }) {
        $doc_routes{"$m $p"} = 1;
    }
}
ok(keys %code_routes >= 10, 'the router table is found');
is_deeply([sort keys %doc_routes], [sort keys %code_routes],
          'the document has exactly the routes of the router table');

my ($errors) = slurp("$Root/README.md") =~ /^## Errors\n(.*?)^## /ms;
my %readme_codes = map { $_ => 1 } ($errors // '') =~ /^\| \d{3} \| `(\w+)` \|/mg;
is_deeply([sort @{ $Doc->{components}{schemas}{Error}{properties}{error}{enum} }],
          [sort keys %readme_codes],
          'the error codes are those of README\'s Errors table');

# ------------------------------------------------ real responses

my $Dir = File::Temp::tempdir('psb-t211-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    open my $fh, '>', "$Dir/admin-tokens" or die $!;
    print $fh "$Admin\n";
}

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't211', prefix => $Prefix,
    http_extra => 'sandbox_reaper_interval 1h;',
    server_extra => "sandbox_auth_admin_token_file $Dir/admin-tokens;\n"
                  . "        sandbox_max_body_size 64k;");

# one nginx whose Docker is not there, one whose Redis is not there
my $no_docker = SandboxBridge::Scenario::Nginx->new(
    name => 't211-nodocker', prefix => $Prefix,
    docker_socket => "$Dir/no-docker.sock");
# one whose Docker host has a name: /health lists the hosts
package T211::Named {
    our @ISA = ('SandboxBridge::Scenario::Nginx');
    sub conf_text {
        my $t = shift->SUPER::conf_text(@_);
        $t =~ s{sandbox_docker_location /_docker;}{sandbox_docker_location /_docker name=t211-host;};
        return $t;
    }
}
my $named = T211::Named->new(name => 't211-named', prefix => $Prefix,
                             http_extra => 'sandbox_reaper_interval 1h;');
my $no_redis = SandboxBridge::Scenario::Nginx->new(
    name => 't211-noredis', prefix => $Prefix,
    redis => '127.0.0.1:' . free_port(),
    server_extra => "sandbox_auth_admin_token_file $Dir/admin-tokens;");

sub cleanup {
    redis_cli($Redis, 'DEL', $_) for redis_keys($Redis, "$Prefix*");
    SandboxBridge::Scenario::docker_cmd('rm', '-f', $_)
        for docker_ids("paperclip.bridge.prefix=$Prefix");
}

cleanup();
$_->start for $ng, $no_docker, $no_redis, $named;

my @cases;

# record(name, doc path, nginx, method, path, body, options)
sub record {
    my ($name, $docpath, $n, $method, $path, $body, %opt) = @_;
    my $res = $n->api($method, $path, $body, %opt);
    push @cases, { name => $name, method => $method, path => $docpath,
                   status => $res->{status},
                   type => $res->{headers}{'content-type'} // '',
                   body => $res->{body} };
    return $res;
}

my @AdminH = (headers => [Authorization => "Bearer $Admin"]);

my $res = $ng->api(GET => '/openapi.json', undef, auth => 0);
is($res->{status}, 200, 'GET /openapi.json without a credential: 200');
like($res->{headers}{'content-type'} // '', qr{^application/json}, 'as application/json');
ok($res->{body} eq slurp($DocFile), 'the served document is docs/openapi.json');
record('with a bad token', '/openapi.json', $ng, GET => '/openapi.json', undef,
       headers => [Authorization => 'Bearer wrong']);

record('ok', '/health', $ng, GET => '/health');
record('no credential', '/health', $ng, GET => '/health', undef, auth => 0);
record('Docker down', '/health', $no_docker, GET => '/health');
record('Redis down', '/health', $no_redis, GET => '/health');
record('unknown route', '/health', $ng, GET => '/nope');
$res = record('a named Docker host', '/health', $named, GET => '/health');
like($res->{body}, qr/"hosts":\[\{"name":"t211-host","reachable":true,"leases":\d+\}\]/,
     '/health of a named host lists it');

record('ok', '/probe', $ng, POST => '/probe', {});
record('not JSON', '/probe', $ng, POST => '/probe', '[1');

$res = record('ok', '/leases/acquire', $ng, POST => '/leases/acquire',
              { environmentId => 't211', runId => 'r', reuseLease => JSON::PP::true(),
                keepAlive => JSON::PP::true() });
my $A = $res->{json}{providerLeaseId} // 'pc-env-t211';
$res = record('not reusable', '/leases/acquire', $ng, POST => '/leases/acquire',
              { environmentId => 't211', runId => 'r2' });
my $B = $res->{json}{providerLeaseId} // 'none';
record('missing ids', '/leases/acquire', $ng, POST => '/leases/acquire', {});
record('too large', '/leases/acquire', $ng, POST => '/leases/acquire',
       '{"environmentId":"' . ('x' x (100 * 1024)) . '"}');
record('Docker down', '/leases/acquire', $no_docker, POST => '/leases/acquire',
       { environmentId => 't211-x', runId => 'r' });

record('ok', '/leases/resume', $ng, POST => '/leases/resume', { providerLeaseId => $A });
record('lost', '/leases/resume', $ng, POST => '/leases/resume',
       { providerLeaseId => 'pc-env-t211-none' });
record('bad id', '/leases/resume', $ng, POST => '/leases/resume',
       { providerLeaseId => 'Bad Id', normalizeId => JSON::PP::false() });

my %ex = (providerLeaseId => $A, timeoutMs => 20000);
record('exit 3', '/exec', $ng, POST => '/exec',
       { %ex, command => 'sh', args => ['-c', 'echo out; echo err >&2; exit 3'] });
record('timeout', '/exec', $ng, POST => '/exec',
       { %ex, command => 'sleep', args => ['5'], timeoutMs => 300 });
record('bad env key', '/exec', $ng, POST => '/exec',
       { %ex, command => 'true', env => { 'A-B' => 'x' } });
record('stream', '/exec', $ng, POST => '/exec',
       { %ex, command => 'sh', args => ['-c', 'echo out; echo err >&2'],
         streamOutput => JSON::PP::true() });
record('stream, bad env key', '/exec', $ng, POST => '/exec',
       { %ex, command => 'true', env => { 'A-B' => 'x' },
         streamOutput => JSON::PP::true() });
record('lost', '/exec', $ng, POST => '/exec',
       { providerLeaseId => 'pc-env-t211-none', command => 'true' });
record('no command', '/exec', $ng, POST => '/exec', { providerLeaseId => $A });

record('page', '/leases', $ng, GET => '/leases?limit=100', undef, @AdminH);
record('bad limit', '/leases', $ng, GET => '/leases?limit=0', undef, @AdminH);
record('not an admin', '/leases', $ng, GET => '/leases');
record('Redis down', '/leases', $no_redis, GET => '/leases', undef, @AdminH);
record('Redis down', '/leases/{providerLeaseId}', $no_redis, GET => "/leases/$A",
       undef, @AdminH);
record('ok', '/leases/{providerLeaseId}', $ng, GET => "/leases/$A", undef, @AdminH);
record('unknown', '/leases/{providerLeaseId}', $ng, GET => '/leases/pc-env-t211-none',
       undef, @AdminH);
record('bad id', '/leases/{providerLeaseId}', $ng, GET => '/leases/A_B', undef, @AdminH);

record('ok', '/leases/release', $ng, POST => '/leases/release', { providerLeaseId => $B });
record('not an object', '/leases/release', $ng, POST => '/leases/release', 'null');
record('ok', '/leases/{providerLeaseId}', $ng, DELETE => "/leases/$A");
record('bad id', '/leases/{providerLeaseId}', $ng, DELETE => '/leases/A_B');
record('too deep', '/leases/{providerLeaseId}', $ng, DELETE => '/leases/a/b');

my %statuses;
$statuses{$_->{status}}++ for @cases;
is_deeply([sort keys %statuses], [qw(200 400 401 404 409 413 500 503)],
          'the responses cover every status but nginx\'s 408')
    or diag explain \%statuses;
ok((grep { $_->{type} =~ m{^text/event-stream} } @cases) == 2,
   'two SSE streams among them');

my $cases_file = "$Dir/cases.json";
{
    open my $fh, '>', $cases_file or die $!;
    print $fh JSON::PP->new->encode(\@cases);
}
python_checks('responses', $DocFile, $cases_file);

for my $n ($ng, $no_docker, $no_redis, $named) {
    # ([crit] is nginx's own line for a Docker socket that is not there)
    unlike($n->error_log, qr/\[(?:alert|emerg)\]/, $n->servroot . ': no alert');
    $n->stop;
    $n->cleanup;
}
cleanup();

done_testing();
