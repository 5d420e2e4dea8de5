# Regression tests (issue 8, review findings 2 and 7): the reaper never
# forgets a lease on an incomplete view of Docker, and background requests
# against an unreachable Docker socket leave no [alert] / bad [crit] lines.
#
#   2a. the Docker location answers the reaper's container listing with
#       something that is not JSON: after several passes
#       (sandbox_reaper_interval 1s) the lease record is still there, exec
#       on the lease still works, and the error log has a [warn] from the
#       reaper about the listing.
#   2b. the same with a listing cut short (a valid JSON prefix).
#   2c. two bridges (locations) of one nginx share one Redis prefix; bridge
#       B's Docker location answers the listing with a valid, empty "[]"
#       (every other path goes to the real Docker).  A lease acquired
#       through bridge A (real Docker) survives several reaper passes: B's
#       listing does not cover A's leases.  Run twice, with B's location
#       first and with A's first in the configuration (the reaper used the
#       first bridge's Docker location only).
#   2d. control: a lease whose container is removed out-of-band is forgotten
#       within a few passes (polled up to 10 s).
#   7.  a bridge whose reaper (interval 1s) talks to a Docker location that
#       proxies to a unix socket that does not exist: after ~4.5 s the error
#       log has no [alert] and no [crit] "close() ... failed" / "-1" line,
#       and GET /health still answers (the worker is alive).
#
# The replacement listings are nested exact-match locations inside the
# internal Docker location; everything else proxies to the private dockerd.
# Redis prefixes t161a: .. t161n: (one per scenario); the last block checks
# that nothing is left and removes what is (containers, lease records,
# reaper locks).  The blocks run in order.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_cli redis_keys docker_cmd docker_ids wait_until);
use JSON::PP ();
use Time::HiRes ();

no_shuffle();

our $API    = '/api/paperclip-sandbox/v1';
our $Shared = $ENV{TEST_NGINX_REDIS_PORT};
our @Prefixes = qw(t161a: t161b: t161c: t161d: t161e: t161n:);

our $STATE_LOST = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $NONE       = qr/\A\[\]\s*\z/;
our $ALIVE      = '{"exitCode":0,"signal":null,"timedOut":false,"stdout":"alive\n","stderr":""}';

sub x { my $s = shift; qr/\A\Q$s\E\z/ }

sub post { my ($route, $body, %o) = @_; "POST " . ($o{base} // '') . "$API$route\n" . json_encode($body) }

sub acquire {
    my ($env, %o) = @_;
    return post('/leases/acquire', { environmentId => $env, runId => 'r', reuseLease => JSON::PP::true,
                                     keepAlive => JSON::PP::true, sleepAfter => '1h' }, %o);
}

sub run_in {
    my ($lease, %o) = @_;
    return post('/exec', { providerLeaseId => $lease, command => 'echo', args => ['alive'],
                           timeoutMs => 20000 }, %o);
}

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub containers {
    my ($prefix, $lease) = @_;
    my @l = ("paperclip.bridge.prefix=$prefix");
    push @l, "paperclip.bridge.lease=$lease" if defined $lease;
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":[' . join(',', map { JSON::PP->new->allow_nonref->encode($_) } @l) . ']}');
}

# the Docker container name of a lease (":" of the prefix -> "-")
sub cname { my ($prefix, $lease) = @_; (my $n = "$prefix$lease") =~ s/[^A-Za-z0-9_.-]/-/g; $n }

# ------------------------------------------------------------ block-time helpers

sub lease_exists {
    my ($prefix, $lease) = @_;
    my $v = redis_cli($Shared, 'EXISTS', "${prefix}lease:{$lease}");
    $v =~ s/^\(integer\)\s*//;
    return $v;
}

# sleep $secs (reaper passes happen meanwhile), then assert the record is there
sub survives {
    my ($secs, $prefix, $lease) = @_;
    Time::HiRes::sleep($secs);
    Test::More::is(lease_exists($prefix, $lease), 1,
                   "after ${secs}s of reaper passes the record ${prefix}lease:{$lease} is still there");
    return 1;
}

# poll up to $secs for the record to be forgotten
sub forgotten {
    my ($secs, $prefix, $lease) = @_;
    my $t0 = Time::HiRes::time();
    my $ok = wait_until(sub { !lease_exists($prefix, $lease) }, $secs, 0.2);
    Test::More::ok($ok, sprintf("the record ${prefix}lease:{$lease} of a lease whose container "
                                . "is gone is forgotten (%.1fs, limit ${secs}s)", Time::HiRes::time() - $t0));
    return 1;
}

# what this file left: containers labelled with its prefixes, lease records
sub leftovers {
    my @c = map { my $p = $_; map { "container $p $_" } docker_ids("paperclip.bridge.prefix=$p") } @Prefixes;
    my @k = map { redis_keys($Shared, "${_}lease:*") } @Prefixes;
    return (@c, @k);
}

# remove everything of this file (containers, every key of its prefixes)
sub sweep {
    for my $p (@Prefixes) {
        my @ids = docker_ids("paperclip.bridge.prefix=$p");
        docker_cmd('rm', '-f', @ids) if @ids;
        my @k = redis_keys($Shared, "$p*");
        redis_cli($Shared, 'DEL', @k) if @k;
    }
    return 1;
}

# ------------------------------------------------------------ configurations

sub http_config {
    my ($prefix) = @_;
    return <<"_EOC_";
    sandbox_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT prefix=$prefix command_timeout=1s;
    sandbox_reaper_interval 1s;
_EOC_
}

# an internal Docker location at $loc (e.g. /_docker) proxying to $sock;
# with $listing (a name), the container listing goes instead to the
# test-only location /_listing/<name> of this server, through proxy_pass,
# so the bridge sees an ordinary upstream answer (status 200)
sub docker_location {
    my ($loc, $sock, $listing) = @_;
    my $inner = defined $listing ? <<"_EOL_" : '';
        location = $loc/containers/json {
            internal;
            proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_listing/$listing;
        }
_EOL_
    return <<"_EOC_";
    location $loc/ {
        internal;
        proxy_pass http://unix:$sock:/v1.41/;
        proxy_read_timeout 1d;
$inner    }
_EOC_
}

our $Common = <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    # test only: straight to Docker
    location /_inspect/ {
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
    # test only: replacement container listings (see docker_location)
    location = /_listing/notjson {
        default_type application/json;
        return 200 'not json';
    }
    location = /_listing/cut {
        default_type application/json;
        return 200 '[{"Id":"x","Names":["/x"],"Labels":{';
    }
    location = /_listing/empty {
        default_type application/json;
        return 200 '[]';
    }
_EOC_

our $Bridge  = "    location /api/paperclip-sandbox/v1 { sandbox_docker_location /_docker; sandbox_bridge; }\n";
our $BridgeB = "    location /b/api/paperclip-sandbox/v1 { sandbox_docker_location /_dockerb; sandbox_bridge; }\n";
our $Sock    = '$TEST_NGINX_DOCKER_SOCKET';

# one bridge whose Docker location answers the listing with $listing
sub one_bridge {
    my ($listing) = @_;
    return $Common . $Bridge . docker_location('/_docker', $Sock, $listing);
}

our $NotJson   = one_bridge('notjson');
our $Truncated = one_bridge('cut');
our $Normal    = one_bridge(undef);
# two bridges, one prefix: B (empty listing) configured first / last
our $TwoBFirst = $Common . $BridgeB . $Bridge . docker_location('/_dockerb', $Sock, 'empty')
               . docker_location('/_docker', $Sock, undef);
our $TwoAFirst = $Common . $Bridge . $BridgeB . docker_location('/_docker', $Sock, undef)
               . docker_location('/_dockerb', $Sock, 'empty');
# Docker unreachable: a socket that does not exist
our $NoSocket  = $Common . $Bridge . docker_location('/_docker', '/nonexistent/docker.sock', undef);

our %Http = map { $_ => http_config("$_:") } qw(t161a t161b t161c t161d t161e t161n);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('init', 'main::wait_store_ready();') unless defined $block->init;
    $block->set_value('user_files', ">>> tokens\nsecret-token\n")
        unless defined $block->user_files;
    $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
        unless defined $block->more_headers;
    $block->set_value('timeout', '30') unless defined $block->timeout;
    $block->set_value('no_error_log', "[alert]\n")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: (2a) listing answered with non-JSON: acquire a keepAlive lease
--- http_config eval: $::Http{t161a}
--- config eval: $::NotJson
--- request eval
::acquire('t161-nj')
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t161-nj","metadata":\{.*"keepAlive":true,.*\}\}\z/



=== TEST 2: (2a) ... after several reaper passes the record is there, exec works, a [warn] names the listing
--- http_config eval: $::Http{t161a}
--- config eval: $::NotJson
--- init
main::wait_store_ready();
main::survives(4.5, 't161a:', 'pc-env-t161-nj');
--- request eval
::run_in('pc-env-t161-nj')
--- error_code: 200
--- response_body_like eval
::x($::ALIVE)
--- error_log eval
[ qr/\[warn\].*reaper.*(?:list|listing)/i ]
--- no_error_log
[alert]



=== TEST 3: (2a) clean-up
--- http_config eval: $::Http{t161a}
--- config eval: $::NotJson
--- request eval
"DELETE $::API/leases/pc-env-t161-nj"
--- response_body_like eval
::x('{"ok":true}')



=== TEST 4: (2b) listing cut short (valid JSON prefix): acquire a keepAlive lease
--- http_config eval: $::Http{t161b}
--- config eval: $::Truncated
--- request eval
::acquire('t161-cut')
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t161-cut","metadata":\{.*"keepAlive":true,.*\}\}\z/



=== TEST 5: (2b) ... after several reaper passes the record is there and exec works
--- http_config eval: $::Http{t161b}
--- config eval: $::Truncated
--- init
main::wait_store_ready();
main::survives(4.5, 't161b:', 'pc-env-t161-cut');
--- request eval
::run_in('pc-env-t161-cut')
--- error_code: 200
--- response_body_like eval
::x($::ALIVE)



=== TEST 6: (2b) clean-up
--- http_config eval: $::Http{t161b}
--- config eval: $::Truncated
--- request eval
"DELETE $::API/leases/pc-env-t161-cut"
--- response_body_like eval
::x('{"ok":true}')



=== TEST 7: (2c) two bridges, one prefix, B (empty listing) configured first: acquire through A
--- http_config eval: $::Http{t161c}
--- config eval: $::TwoBFirst
--- request eval
::acquire('t161-two')
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t161-two","metadata":\{.*"keepAlive":true,.*\}\}\z/



=== TEST 8: (2c) ... after 5 s of reaper passes A's lease record is there and exec through A works
--- http_config eval: $::Http{t161c}
--- config eval: $::TwoBFirst
--- init
main::wait_store_ready();
main::survives(5, 't161c:', 'pc-env-t161-two');
--- request eval
::run_in('pc-env-t161-two')
--- error_code: 200
--- response_body_like eval
::x($::ALIVE)



=== TEST 9: (2c) clean-up
--- http_config eval: $::Http{t161c}
--- config eval: $::TwoBFirst
--- request eval
"DELETE $::API/leases/pc-env-t161-two"
--- response_body_like eval
::x('{"ok":true}')



=== TEST 10: (2c) two bridges, one prefix, A configured first: acquire through A
--- http_config eval: $::Http{t161d}
--- config eval: $::TwoAFirst
--- request eval
::acquire('t161-two')
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t161-two","metadata":\{.*"keepAlive":true,.*\}\}\z/



=== TEST 11: (2c) ... after 5 s of reaper passes A's lease record is there and exec through A works
--- http_config eval: $::Http{t161d}
--- config eval: $::TwoAFirst
--- init
main::wait_store_ready();
main::survives(5, 't161d:', 'pc-env-t161-two');
--- request eval
::run_in('pc-env-t161-two')
--- error_code: 200
--- response_body_like eval
::x($::ALIVE)



=== TEST 12: (2c) clean-up
--- http_config eval: $::Http{t161d}
--- config eval: $::TwoAFirst
--- request eval
"DELETE $::API/leases/pc-env-t161-two"
--- response_body_like eval
::x('{"ok":true}')



=== TEST 13: (2d) control: acquire, then remove the container out-of-band
--- http_config eval: $::Http{t161e}
--- config eval: $::Normal
--- request eval
[ ::acquire('t161-gone'),
  "DELETE /_inspect/containers/" . ::cname('t161e:', 'pc-env-t161-gone') . "?force=true" ]
--- error_code eval
[200, 204]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t161-gone","metadata":\{.*"keepAlive":true,.*\}\}\z/, qr/\A\z/ ]



=== TEST 14: (2d) ... the reaper forgets the record within 10 s; resume -> 409, nothing re-created
--- http_config eval: $::Http{t161e}
--- config eval: $::Normal
--- init
main::wait_store_ready();
main::forgotten(10, 't161e:', 'pc-env-t161-gone');
--- request eval
[ ::post('/leases/resume', { providerLeaseId => 'pc-env-t161-gone' }),
  ::containers('t161e:', 'pc-env-t161-gone') ]
--- error_code eval
[409, 200]
--- response_body_like eval
[ ::x($::STATE_LOST), $::NONE ]



=== TEST 15: (7) reaper against a Docker socket that does not exist: after 4.5 s no [alert], no bad [crit]; /health answers
The [crit] "connect() to unix:/nonexistent/docker.sock failed (2: No such
file or directory)" line of nginx's upstream module is expected and fine.
--- http_config eval: $::Http{t161n}
--- config eval: $::NoSocket
--- init
main::wait_store_ready();
Time::HiRes::sleep(4.5);
--- request eval
"GET $::API/health"
--- error_code_like: ^[1-5][0-9][0-9]$
--- response_body_like: ^\{
--- no_error_log eval
[ '[alert]', qr/\[crit\].*close\(\).*failed/, qr/\[crit\].*(?<![0-9])-1(?![0-9])/ ]



=== TEST 16: (7) ... the worker still serves
--- http_config eval: $::Http{t161n}
--- config eval: $::NoSocket
--- init
main::wait_store_ready();
Time::HiRes::sleep(1.5);
--- request eval
[ "GET $::API/health", "GET $::API/health" ]
--- error_code_like eval
[ qr/\A[1-5][0-9][0-9]\z/, qr/\A[1-5][0-9][0-9]\z/ ]
--- no_error_log eval
[ '[alert]', qr/\[crit\].*close\(\).*failed/, qr/\[crit\].*(?<![0-9])-1(?![0-9])/ ]



=== TEST 17: nothing of this file is left (containers, lease records); whatever is, is removed
--- http_config eval: $::Http{t161e}
--- config eval: $::Normal
--- init
main::wait_store_ready();
my @left;
main::wait_until(sub { @left = main::leftovers(); !@left }, 3, 0.2);
Test::More::is(join("\n", @left), '', 'no container or lease record of t161*: is left');
main::sweep();
--- request eval
[ map { ::containers($_) } @::Prefixes ]
--- response_body_like eval
[ ($::NONE) x 6 ]
