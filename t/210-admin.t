# The admin view of leases (README "Admin view of leases"):
#   GET <prefix>/leases[?cursor=&limit=], GET <prefix>/leases/<id>
# only for admin credentials (sandbox_auth_admin_token_file); any other
# credential gets the 404 of an unknown route, so the routes do not show.
# Real leases (acquired through the bridge) are checked field by field,
# activeExecs counts a running exec; 30 more records written into Redis
# make the listing take several pages of SCAN (plain Test::More with
# t/helpers/SandboxBridge/Scenario.pm; Redis prefix t210:).
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Digest::SHA qw(sha256 sha256_hex);
use File::Temp ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use SandboxBridge::Scenario qw(redis_cli redis_keys wait_until docker_ids);

my @missing = SandboxBridge::Scenario::env_or_skip();
plan skip_all => "environment incomplete (@missing); run through make test"
    if @missing;

my $Prefix = 't210:';
my $Redis = $ENV{TEST_NGINX_REDIS_PORT};
my $Admin = 't210-admin-token';
my $Tok = 'tok-' . substr(sha256_hex(sha256(SandboxBridge::Scenario::TOKEN)), 0, 16);
my $Iso = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/;

my $Dir = File::Temp::tempdir('psb-t210-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    open my $fh, '>', "$Dir/admin-tokens" or die $!;
    print $fh "$Admin\n";
}

my $ng = SandboxBridge::Scenario::Nginx->new(
    name => 't210', prefix => $Prefix,
    http_extra => 'sandbox_reaper_interval 1h;',
    server_extra => "sandbox_auth_admin_token_file $Dir/admin-tokens;");
$ng->start;

my @AdminH = (headers => [Authorization => "Bearer $Admin"]);

sub admin { $ng->api(GET => $_[0], undef, @AdminH) }

sub cleanup {
    for my $k (redis_keys($Redis, "$Prefix*")) {
        redis_cli($Redis, 'DEL', $k);
    }
    for my $id (docker_ids("paperclip.bridge.prefix=$Prefix")) {
        SandboxBridge::Scenario::docker_cmd('rm', '-f', $id);
    }
}

cleanup();

# ------------------------------------------------ not there for others

my $NotFound = sub {
    my $p = shift;
    return qq({"error":"not_found","message":"No bridge route matched GET /api/paperclip-sandbox/v1$p."});
};

for my $p ('/leases', '/leases/pc-env-t210-a', '/leases?limit=5') {
    my $res = $ng->api(GET => $p);
    is($res->{status}, 404, "GET $p with a plain token: 404");
    (my $path = $p) =~ s/\?.*//;
    is($res->{body}, $NotFound->($path),
       "GET $p with a plain token: the unknown-route answer");
}

my $res = $ng->api(GET => '/leases', undef, auth => 0);
is($res->{status}, 401, 'GET /leases without a credential: 401');

# ------------------------------------------------ real leases

my $t0 = int(time * 1000);

$res = $ng->api(POST => '/leases/acquire',
                { environmentId => 't210-a', runId => 'r1',
                  reuseLease => JSON::PP::true(), keepAlive => JSON::PP::true() });
is($res->{status}, 200, 'acquire a reusable keepAlive lease') or diag $res->{body};
my $A = $res->{json}{providerLeaseId} // '';

$res = $ng->api(POST => '/leases/acquire',
                { environmentId => 't210-b', runId => 'r2', sleepAfter => '10m' });
is($res->{status}, 200, 'acquire a lease that expires') or diag $res->{body};
my $B = $res->{json}{providerLeaseId} // '';

$res = admin("/leases/$A");
is($res->{status}, 200, "admin GET /leases/$A") or diag $res->{body};
my $v = $res->{json} || {};
is($v->{id}, $A, 'id');
is($v->{state}, 'ready', 'state');
is($v->{kind}, 'lease', 'kind');
is($v->{host}, '/_docker', 'host: the Docker location');
is($v->{credential}, $Tok, 'credential: the owner\'s id, not the token');
like($v->{container} // '', qr/^t210-\Q$A\E\z/, 'container');
like($v->{createdAt} // '', $Iso, 'createdAt is an ISO time');
like($v->{lastUsedAt} // '', $Iso, 'lastUsedAt is an ISO time');
ok(!defined $v->{expiresAt}, 'expiresAt: null for keepAlive');
is($v->{reusable}, JSON::PP::true(), 'reusable');
is($v->{keepAlive}, JSON::PP::true(), 'keepAlive');
is($v->{activeExecs}, 0, 'activeExecs: none');
unlike($res->{body}, qr/\Q${\ SandboxBridge::Scenario::TOKEN }\E|\Q$Admin\E/,
       'no token in the answer');

$res = admin("/leases/$B");
$v = $res->{json} || {};
is($v->{reusable}, JSON::PP::false(), "$B: not reusable");
is($v->{keepAlive}, JSON::PP::false(), "$B: not keepAlive");
is($v->{sleepAfter}, '10m', "$B: sleepAfter");

sub iso_ms {
    my ($y, $mo, $d, $h, $mi, $s, $ms) = ($_[0] // '') =~
        /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/ or return 0;
    require Time::Local;
    return Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;
}

my $exp = iso_ms($v->{expiresAt});
my $used = iso_ms($v->{lastUsedAt});
ok($exp >= $used + 590_000 && $exp <= $used + 610_000,
   "$B: expiresAt is lastUsedAt + sleepAfter") or diag "$v->{lastUsedAt} $v->{expiresAt}";
ok(iso_ms($v->{createdAt}) >= $t0 - 1000, "$B: createdAt is now");

# a running exec is counted, and uncounted when it ends: a JSON exec, and
# a streaming one whose client goes away
my $h = $ng->api_send(POST => '/exec', { providerLeaseId => $A,
                                         command => 'sleep', args => ['3'] });
ok(wait_until(sub { (admin("/leases/$A")->{json}{activeExecs} // -1) == 1 }, 10),
   'activeExecs: 1 while an exec runs');
my $done = $ng->finish($h);
is($done->{status}, 200, 'the exec ended');
ok(wait_until(sub { (admin("/leases/$A")->{json}{activeExecs} // -1) == 0 }, 10),
   'activeExecs: 0 once it ended');

$h = $ng->api_send(POST => '/exec', { providerLeaseId => $A, command => 'sleep',
                                      args => ['30'],
                                      streamOutput => JSON::PP::true() });
ok(wait_until(sub { (admin("/leases/$A")->{json}{activeExecs} // -1) == 1 }, 30),
   'activeExecs: 1 while a streaming exec runs');
close $h->{sock};
ok(wait_until(sub { (admin("/leases/$A")->{json}{activeExecs} // -1) == 0 }, 30),
   'activeExecs: 0 once its client went away');

# ------------------------------------------------ unknown and bad ids

$res = admin('/leases/pc-env-t210-none');
is($res->{status}, 404, 'unknown id: 404');
is($res->{body}, '{"error":"not_found","message":"No lease pc-env-t210-none."}',
   'unknown id: its message');

$res = admin('/leases/Bad_Id');
is($res->{status}, 400, 'an invalid id: 400');
like($res->{body}, qr/\A\{"error":"invalid_request","message":"Lease ids must be/,
     'an invalid id: the id rule');

# ------------------------------------------------ pages

# 30 more records, written as the bridge writes them
my @planted = map { sprintf 'pc-run-t210-%02d', $_ } 1 .. 30;
for my $id (@planted) {
    redis_cli($Redis, 'HSET', "${Prefix}lease:{$id}", id => $id,
              state => 'ready', kind => 'lease', docker => '/_docker',
              cred => 'hmac:k1', container => "t210-$id", created => $t0,
              last_used => $t0, reuse => 0, keepalive => 0,
              sleep_after => '1h');
    redis_cli($Redis, 'PEXPIRE', "${Prefix}lease:{$id}", 600_000);
}
my %want = map { $_ => 1 } @planted, $A, $B;

my (%seen, $pages, $cursor, $bad);
do {
    my $q = '/leases?limit=5' . (defined $cursor ? "&cursor=$cursor" : '');
    $res = admin($q);
    $pages++;
    $bad++ unless $res->{status} == 200 && ref $res->{json}{leases} eq 'ARRAY';
    for my $l (@{ $res->{json}{leases} || [] }) {
        $seen{$l->{id}}++;
    }
    $cursor = $res->{json}{nextCursor};
} while (defined $cursor && !$bad && $pages < 1000);

ok(!$bad, 'every page: 200 with a leases list');
ok($pages > 1, "the listing took $pages pages of limit=5");
is_deeply([sort keys %seen], [sort keys %want],
          'the pages hold every lease of this prefix, and nothing else');

my ($p) = grep { $_->{id} eq $planted[0] }
          @{ admin('/leases?limit=1000')->{json}{leases} || [] };
$p //= {};
is($p->{credential}, 'hmac:k1', 'a planted record: credential');
is($p->{reusable}, JSON::PP::false(), 'a planted record: reusable false');

$res = admin('/leases?limit=1000');
ok(!defined $res->{json}{nextCursor}
   || grep({ $_->{id} eq $A } @{ $res->{json}{leases} }) ,
   'a big page');

for my $q ('limit=0', 'limit=1001', 'limit=x', 'cursor=-1', 'cursor=abc') {
    $res = admin("/leases?$q");
    is($res->{status}, 400, "?$q: 400");
    like($res->{body}, $q =~ /limit/
         ? qr/\A\{"error":"invalid_request","message":"limit must be an integer from 1 to 1000\."\}\z/
         : qr/\A\{"error":"invalid_request","message":"cursor must be the nextCursor of a previous page\."\}\z/,
         "?$q: its message");
}

# ------------------------------------------------ the end

for my $id ($A, $B) {
    $res = $ng->api(DELETE => "/leases/$id");
    is($res->{status}, 200, "DELETE $id");
}
is(admin("/leases/$A")->{status}, 404, 'a deleted lease is gone from the view');

unlike($ng->error_log,
       qr/\[(?:alert|crit|emerg)\]/, 'no alert in the error log');

$ng->stop;
cleanup();
$ng->cleanup;

done_testing();
