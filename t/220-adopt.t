# Issue 14 item 4: a Redis that comes back empty destroys no sandbox.
# Three leases (two owners, different policies) are acquired; once the
# reaper (interval 1 s) has set the deployment marker, Redis is flushed.
# The next passes remove no container, log an [alert], and rebuild each
# lease record from its container's labels (in the second pass: the
# first may see a release in progress): the leases work again for
# their owners only, with their cwd. Control: with the marker intact, a
# container whose record is deleted is removed (after two passes).
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

use SandboxBridge::Ready;
use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_cli redis_keys docker_ids wait_until);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $Port  = $ENV{TEST_NGINX_REDIS_PORT};
our @Mine  = qw(pc-env-t220-a pc-env-t220-b);
our $Other = 'pc-env-t220-c';

sub acq {
    my ($env, %o) = @_;
    "POST $API/leases/acquire\n" . json_encode({ environmentId => $env,
        runId => 'r', reuseLease => JSON::PP::true(), %o });
}
sub ex { "POST $API/exec\n" . json_encode({ providerLeaseId => $_[0],
    command => 'echo', args => [$_[0]], timeoutMs => 20000 }) }

sub containers { scalar(() = docker_ids('paperclip.bridge.prefix=t220:')) }

sub records {
    scalar grep { redis_cli($::Port, 'EXISTS', "t220:lease:{$_}") =~ /1/ }
        @::Mine, $::Other;
}

sub marks {
    scalar grep { redis_cli($::Port, 'EXISTS', "t220:orphan:{$_}") =~ /1/ }
        @::Mine, $::Other;
}

sub error_log_text {
    my $f = ($ENV{TEST_NGINX_SERVROOT} || "$FindBin::Bin/servroot")
            . '/logs/error.log';
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

# block time: the marker is set, then Redis loses everything
sub lose_redis {
    main::wait_store_ready();
    Test::More::ok(wait_until(sub {
        redis_cli($::Port, 'EXISTS', 't220:deployment:{/_docker}') =~ /1/
    }, 20, 0.2), 'a reaper pass set the deployment marker');
    Test::More::is(containers(), 3, 'three containers before the flush');
    redis_cli($::Port, 'FLUSHALL');
    # a container without a record may be one a release is removing: the
    # first pass only marks it, the next one rebuilds its record
    Test::More::ok(wait_until(sub {
        marks() == 3 && records() == 0
    }, 20, 0.05), 'the first pass after the loss marks the three containers');
    Test::More::ok(wait_until(sub { records() == 3 }, 20, 0.2),
                   'the next pass rebuilt the three lease records');
    Test::More::is(marks(), 0, 'their marks are gone');
    Test::More::is(redis_cli($::Port, 'SCARD', 't220:hostleases:/_docker'),
                   '(integer) 0', 'one plain location: no host lease set');
    Test::More::ok(wait_until(sub {
        redis_cli($::Port, 'EXISTS', 't220:deployment:{/_docker}') =~ /1/
    }, 20, 0.2), 'the marker is set again');
    Time::HiRes::sleep(3);    # more passes: still nothing removed
    Test::More::is(containers(), 3, 'no container was removed');
    Test::More::is(redis_cli($::Port, 'HGET', 't220:lease:{pc-env-t220-a}', 'cwd'),
                   '"/workspace/a"', 'the rebuilt record has the cwd of the acquire');
    Test::More::is(redis_cli($::Port, 'PTTL', 't220:lease:{pc-env-t220-a}'),
                   '(integer) -1', 'keepAlive: the rebuilt record does not expire');
    Test::More::like(redis_cli($::Port, 'PTTL', 't220:lease:{pc-env-t220-b}'),
                     qr/^\(integer\) (\d+)$/, 'sleepAfter: the rebuilt record expires');
    Test::More::like(error_log_text(),
        qr/\[alert\] .*deployment marker of "\/_docker" is gone from Redis and lease records are missing/,
        'an [alert] names the lost marker');
    main::wait_store_ready();
}

# block time: with the marker intact, lease b's record is deleted
sub drop_record {
    main::wait_store_ready();
    redis_cli($::Port, 'DEL', 't220:lease:{pc-env-t220-b}');
    Test::More::ok(wait_until(sub {
        !docker_ids('paperclip.bridge.lease=pc-env-t220-b')
    }, 20, 0.2), 'the container of a deleted record is removed');
    Test::More::is(containers(), 2, 'the other two containers stay');
}

bridge_blocks(prefix => 't220', timeout => 30);
cleanup_prefix('t220');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    sandbox_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t220: command_timeout=1s;
    sandbox_reaper_interval 1s;
_EOC_
    $block->set_value('user_files', ">>> tokens\nsecret-token\nother-token\n")
        unless defined $block->user_files;
});

run_tests();

__DATA__

=== TEST 1: two leases of the first credential, different policies
--- request eval
[ ::acq('t220-a', keepAlive => JSON::PP::true(), requestedCwd => '/workspace/a'),
  ::acq('t220-b', keepAlive => JSON::PP::false(), sleepAfter => '1h') ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/"providerLeaseId":"pc-env-t220-a"/, qr/"providerLeaseId":"pc-env-t220-b"/ ]
--- no_error_log
[alert]



=== TEST 2: one lease of another credential
--- more_headers
Authorization: Bearer other-token
--- request eval
::acq('t220-c', keepAlive => JSON::PP::true(), requestedCwd => '/workspace/c')
--- error_code: 200
--- response_body_like: "providerLeaseId":"pc-env-t220-c"
--- no_error_log
[alert]



=== TEST 3: Redis flushed: nothing removed, records rebuilt, an [alert]; the lease works for its owner
--- init
main::lose_redis();
--- request eval
::ex('pc-env-t220-a')
--- error_code: 200
--- response_body eval
qq{{"exitCode":0,"signal":null,"timedOut":false,"stdout":"pc-env-t220-a\\n","stderr":""}}
--- error_log eval
qr/\[alert\] .*deployment marker of "\/_docker" is gone from Redis/



=== TEST 4: the other rebuilt leases: b works for its owner, c is another credential's
--- request eval
[ ::ex('pc-env-t220-b'), ::ex('pc-env-t220-c') ]
--- error_code eval
[200, 404]
--- response_body eval
[ qq{{"exitCode":0,"signal":null,"timedOut":false,"stdout":"pc-env-t220-b\\n","stderr":""}},
  qq{{"error":"not_found","message":"No lease pc-env-t220-c for this credential."}} ]
--- no_error_log
[alert]



=== TEST 5: the other credential's lease works for it, resume too
--- more_headers
Authorization: Bearer other-token
--- request eval
[ ::ex('pc-env-t220-c'),
  "POST $::API/leases/resume\n" . SandboxBridge::Stream::json_encode({ providerLeaseId => 'pc-env-t220-c', keepAlive => JSON::PP::true(), requestedCwd => '/workspace/c' }) ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/"stdout":"pc-env-t220-c\\n"/, qr/"providerLeaseId":"pc-env-t220-c".*"resumedLease":true/ ]
--- no_error_log
[emerg]



=== TEST 6: control: with the marker intact, a container without a record is removed
--- init
main::drop_record();
--- request eval
::ex('pc-env-t220-a')
--- error_code: 200
--- response_body_like: "stdout":"pc-env-t220-a\\n"
--- no_error_log
[alert]



=== TEST 7: release what is left
--- request eval
[ "DELETE $::API/leases/pc-env-t220-a", "DELETE $::API/leases/pc-env-t220-b" ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/"ok":true/, qr/"ok":true/ ]
--- no_error_log
[alert]



=== TEST 8: release the other credential's lease
--- more_headers
Authorization: Bearer other-token
--- request eval
"DELETE $::API/leases/pc-env-t220-c"
--- error_code: 200
--- response_body_like: "ok":true
--- no_error_log
[alert]
