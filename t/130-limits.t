# D9 limits (GitHub issue "Security"): sandbox_max_body_size,
# sandbox_max_json_depth, sandbox_max_args, sandbox_max_arg_size,
# sandbox_max_env, sandbox_max_stdin_size, sandbox_max_command_size, and
# nginx's own error pages in a bridge location (README "Directives").
#
# For every limit: a request exactly at the limit (and one just under it)
# passes and really runs; one just over it is refused with a clear 4xx JSON
# error (413 payload_too_large for the body, 400 invalid_request naming the
# limit otherwise) and has no side effect: a refused exec runs nothing
# (marker files its command would create stay absent), stages no stdin file
# in /tmp and -- checked in Docker's event stream of the lease container --
# makes no exec and no archive upload at all, and is no lease activity (the
# idle TTL of a keepAlive:false lease is not refreshed); a refused
# acquire/probe creates no container and no lease record.
#
# Each small limit lives in its own location (only that limit lowered), so
# a request is refused by exactly the limit under test.  The documented
# defaults are checked at their boundaries in the plain location.
#
# One reusable lease (pc-env-t130-limits, container t130-pc-env-t130-limits)
# is acquired by the first block and deleted by the last one; the blocks run
# in order.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_keys redis_cli);
use Time::HiRes ();

no_shuffle();

our $API       = '/api/paperclip-sandbox/v1';
our $LEASE     = 'pc-env-t130-limits';
our $CONTAINER = 't130-pc-env-t130-limits';

# "POST <base><API>/exec\n<json>" for an exec on our lease
sub ex {
    my ($body, %o) = @_;
    my $json = ref $body ? json_encode({ providerLeaseId => $LEASE, %$body }) : $body;
    return "POST " . ($o{base} // '') . "$API/exec\n$json";
}

# an exec body of exactly $size bytes (an ignored "pad" field fills it up)
sub sized {
    my ($size, $obj) = @_;
    my %o = (providerLeaseId => $LEASE, %$obj);
    my $n = $size - length json_encode({ %o, pad => '' });
    die "sized(): $size bytes is too small for the body" if $n < 0;
    my $json = json_encode({ %o, pad => 'p' x $n });
    die "sized(): got " . length($json) . " bytes, not $size" if length $json != $size;
    return $json;
}

# JSON string literal as the bridge writes it
sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

# the exact exec result object (README "Exec")
sub res {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err) . '}';
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

# 400 invalid_request whose message names the limit: a word for the field
# and the configured number
sub limit_re {
    my ($word, @nums) = @_;
    my $n = join '|', @nums;
    return qr/\A\{"error":"invalid_request","message":"(?=(?:[^"\\]|\\.)*\b(?:$word))(?=(?:[^"\\]|\\.)*(?<![0-9])(?:$n)(?![0-9]))(?:[^"\\]|\\.)*"\}\z/;
}

our $TOO_LARGE = qr/\A\{"error":"payload_too_large","message":"(?:[^"\\]|\\.)+"\}\z/;
our $STATE_LOST = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';

# markers the refused requests would create if their command ran
our @MARKERS = map { "/tmp/t130-ran-$_" }
    qw(body chunked badchunk depth depth-obj args args-stream argsize argsize-utf8 env
       stdin stdin-utf8 stdin-stream mark017 d-args d-argsize d-env d-stdin d-body);

# prints one line per marker that exists, then "checked"
our $MARKER_CHECK = { command => 'sh', args => ['-c',
    'for f in "$@"; do [ -e "$f" ] && echo "exists: $f"; done; echo checked', 'sh', @MARKERS] };

# prints the number of staged stdin files left in /tmp, waiting up to 3 s for
# the asynchronous removal after an accepted exec
our $STDIN_FILES = { command => 'sh', args => ['-c',
    'i=0; while [ $i -lt 30 ]; do n=$(ls -a /tmp | grep -c "^\.paperclip-bridge-stdin-"); '
    . '[ "$n" = 0 ] && break; i=$((i+1)); sleep 0.1; done; echo "staged: $n"'] };

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# containers of this file's prefix (and lease id, if given)
sub containers {
    my $lease = shift;
    my @l = ('paperclip.bridge.prefix=t130:');
    push @l, "paperclip.bridge.lease=$lease" if defined $lease;
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":[' . join(',', map { js($_) } @l) . ']}');
}

# Docker events of our container between two points in time
sub events {
    my ($since, $until) = @_;
    return sprintf "GET /_inspect/events?since=%.6f&until=%.6f&filters=%s",
        $since, $until, uri_escape('{"container":["' . $CONTAINER . '"]}');
}

# a chunked request body split into two chunks
sub chunked {
    my $body = shift;
    my $h = int(length($body) / 2);
    my @c = (substr($body, 0, $h), substr($body, $h));
    return join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @c) . "0\r\n\r\n";
}

# this file's lease records in Redis (<prefix>lease:{<id>})
sub lease_keys { my @k = redis_keys($ENV{TEST_NGINX_REDIS_PORT}, 't130:lease:*'); return sort @k }

# asserts (as a test of its own) that no lease record of this file is left,
# waiting up to 2 s for asynchronous clean-up
sub no_lease_keys_left {
    my @k;
    for (1 .. 20) { @k = lease_keys(); last unless @k; select undef, undef, undef, 0.1 }
    Test::More::is("@k", '', 'no t130:lease:* key is left in Redis');
}

# the idle TTL (ms) of the keepAlive:false lease pc-env-t130-idle
sub idle_pttl {
    my $v = redis_cli($ENV{TEST_NGINX_REDIS_PORT}, 'PTTL', 't130:lease:{pc-env-t130-idle}');
    $v =~ s/^\(integer\)\s*//;
    return $v;
}


bridge_blocks(prefix => 't130', timeout => 20, no_error_log => "[alert]\n",
              locations => <<'_EOC_');
    location /body/api/paperclip-sandbox/v1 {
        sandbox_max_body_size 2k;
        sandbox_bridge;
    }
    location /depth/api/paperclip-sandbox/v1 {
        sandbox_max_json_depth 4;
        sandbox_bridge;
    }
    location /args/api/paperclip-sandbox/v1 {
        sandbox_max_args 3;
        sandbox_bridge;
    }
    location /argsize/api/paperclip-sandbox/v1 {
        sandbox_max_arg_size 8;
        sandbox_bridge;
    }
    location /env/api/paperclip-sandbox/v1 {
        sandbox_max_env 2;
        sandbox_bridge;
    }
    location /stdin/api/paperclip-sandbox/v1 {
        sandbox_max_stdin_size 16;
        sandbox_bridge;
    }
    location /cmd/api/paperclip-sandbox/v1 {
        sandbox_max_command_size 16;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire the reusable lease; install the 16- and 17-byte commands used by the command limit
--- request eval
[ "POST $::API/leases/acquire\n"
  . '{"environmentId":"t130-limits","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}',
  ::ex({ command => 'sh', args => ['-c', q{mkdir -p /tmp/t130 && for f in mark16 mark017; do printf '#!/bin/sh\ntouch "/tmp/t130-ran-${0##*/}"\necho ran\n' > /tmp/t130/$f && chmod +x /tmp/t130/$f || exit 1; done; rm -f /tmp/t130-ran-*; echo installed}] }) ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t130-limits","metadata":\{"provider":"docker",.*"resumedLease":false\}\}\z/,
  ::exact(::res(0, "installed\n", '')) ]



=== TEST 2: sandbox_max_body_size 2k: 2048 and 2047 bytes run; 2049 -> 413 payload_too_large on exec, acquire, resume and probe
--- request eval
my $over = { command => 'sh', args => ['-c', 'touch /tmp/t130-ran-body; echo ran'] };
[ ::ex(::sized(2048, { command => 'echo', args => ['at-limit'] }), base => '/body'),
  ::ex(::sized(2047, { command => 'echo', args => ['under'] }), base => '/body'),
  ::ex(::sized(2049, $over), base => '/body'),
  "POST /body$::API/leases/acquire\n" . ::sized(2049, { environmentId => 't130-refused', runId => 'r', reuseLease => JSON::PP::true }),
  "POST /body$::API/leases/resume\n" . ::sized(2049, { providerLeaseId => $::LEASE }),
  "POST /body$::API/probe\n" . ::sized(2049, { requestedCwd => '/workspace/t130-probe' }) ]
--- error_code eval
[200, 200, 413, 413, 413, 413]
--- response_headers eval
[ ("Content-Type: application/json") x 6 ]
--- response_body_like eval
[ ::exact(::res(0, "at-limit\n", '')), ::exact(::res(0, "under\n", '')), ($::TOO_LARGE) x 4 ]



=== TEST 3a: chunked bodies (no Content-Length): 2048 bytes run ...
--- more_headers
Authorization: Bearer secret-token
Transfer-Encoding: chunked
--- request eval
::ex(::chunked(::sized(2048, { command => 'echo', args => ['chunked-at-limit'] })), base => '/body')
--- response_headers
Content-Type: application/json
--- response_body_like eval
::exact(::res(0, "chunked-at-limit\n", ''))



=== TEST 3b: ... 2049 -> nginx's own 413 as JSON ...
(One request per block: each block checks the error log lines of its own
request.)
--- more_headers
Authorization: Bearer secret-token
Transfer-Encoding: chunked
--- request eval
::ex(::chunked(::sized(2049, { command => 'sh', args => ['-c', 'touch /tmp/t130-ran-chunked'] })), base => '/body')
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body_like eval
$::TOO_LARGE
--- response_body_unlike eval
qr/<html|nginx/i
--- error_log
client intended to send too large chunked body



=== TEST 3c: ... a malformed chunk -> nginx's own 400 as JSON
--- more_headers
Authorization: Bearer secret-token
Transfer-Encoding: chunked
--- request eval
::ex("zz\r\n" . ::json_encode({ providerLeaseId => $::LEASE, command => 'sh', args => ['-c', 'touch /tmp/t130-ran-badchunk'] }) . "\r\n0\r\n\r\n", base => '/body')
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/\A\{"error":"invalid_request","message":"(?:[^"\\]|\\.)+"\}\z/
--- response_body_unlike eval
qr/<html|nginx/i
--- error_log
client sent invalid chunked body



=== TEST 4: sandbox_max_json_depth 4: depth 4 runs (brackets in strings do not count); depth 5 -> 400 naming the limit, on exec, acquire and probe
--- request eval
[ ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"printf","args":["%s|","\\\\","[[[[[[","{{{{{{","\\"[[[[[[","]]]]]]"],"pad":[[["x"]]]}', base => '/depth'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"echo","args":["objects"],"pad":{"a":{"b":{"c":1}}}}', base => '/depth'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","touch /tmp/t130-ran-depth"],"pad":[[[["x"]]]]}', base => '/depth'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","touch /tmp/t130-ran-depth-obj"],"pad":{"a":{"b":{"c":{"d":1}}}}}', base => '/depth'),
  "POST /depth$::API/leases/acquire\n" . '{"environmentId":"t130-refused","runId":"r","reuseLease":true,"pad":[[[[1]]]]}',
  "POST /depth$::API/probe\n" . '{"requestedCwd":"/workspace/t130-probe","pad":[[[[1]]]]}' ]
--- error_code eval
[200, 200, 400, 400, 400, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 6 ]
--- response_body_like eval
[ ::exact(::res(0, '\\|[[[[[[|{{{{{{|"[[[[[[|]]]]]]|', '')),
  ::exact(::res(0, "objects\n", '')),
  (::limit_re('depth|deep|nest', 4)) x 4 ]



=== TEST 5: the default JSON depth is 32: depth 32 runs, 33 -> 400 naming 32
--- request eval
[ ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"echo","args":["depth-32"],"pad":' . ('[' x 31) . '1' . (']' x 31) . '}'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","touch /tmp/t130-ran-depth"],"pad":' . ('[' x 32) . '1' . (']' x 32) . '}') ]
--- error_code eval
[200, 400]
--- response_body_like eval
[ ::exact(::res(0, "depth-32\n", '')), ::limit_re('depth|deep|nest', 32) ]



=== TEST 6: sandbox_max_args 3: 3 strings run (non-strings are dropped, not counted); 4 -> 400 naming the limit, also with streamOutput
--- request eval
[ ::ex({ command => 'printf', args => ['%s|', 'a', 'b'] }, base => '/args'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"printf","args":["%s|",1,"a",null,true,"b"]}', base => '/args'),
  ::ex({ command => 'printf', args => ['%s|', 'a'] }, base => '/args'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-args', 'sh', 'x'] }, base => '/args'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-args-stream', 'sh', 'x'], streamOutput => JSON::PP::true }, base => '/args') ]
--- error_code eval
[200, 200, 200, 400, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 5 ]
--- response_body_like eval
[ ::exact(::res(0, 'a|b|', '')), ::exact(::res(0, 'a|b|', '')), ::exact(::res(0, 'a|', '')),
  (::limit_re('args|arguments', 3)) x 2 ]



=== TEST 7: sandbox_max_arg_size 8 (bytes): 8 bytes run, also 4 two-byte characters; 9 bytes or 5 two-byte characters -> 400 naming the limit
--- request eval
use utf8;
[ ::ex({ command => 'printf', args => ['%s|', '12345678', 'éééé', '1234567'] }, base => '/argsize'),
  ::ex({ command => 'printf', args => ['%s|', '123456789'] }, base => '/argsize'),
  ::ex({ command => 'printf', args => ['%s|', 'ééééé'] }, base => '/argsize'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-argsize'] }, base => '/argsize') ]
--- error_code eval
[200, 400, 400, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 4 ]
--- response_body_like eval
use utf8;
[ ::exact(::res(0, "12345678|\x{e9}\x{e9}\x{e9}\x{e9}|1234567|", '')),
  (::limit_re('args?|arguments?', 8)) x 3 ]



=== TEST 8: sandbox_max_env 2: 2 entries run, 1 too; 3 -> 400 naming the limit
--- request eval
[ ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","echo \"$A|$B\""],"env":{"A":"1","B":"2"}}', base => '/env'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","echo \"$A\""],"env":{"A":"one"}}', base => '/env'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","touch /tmp/t130-ran-env"],"env":{"A":"1","B":"2","C":"3"}}', base => '/env') ]
--- error_code eval
[200, 200, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 3 ]
--- response_body_like eval
[ ::exact(::res(0, "1|2\n", '')), ::exact(::res(0, "one\n", '')), ::limit_re('env|environment', 2) ]



=== TEST 9: sandbox_max_stdin_size 16 (bytes): 16 and 15 bytes arrive; 17 bytes or 9 two-byte characters -> 400 naming the limit (also streaming)
--- request eval
use utf8;
[ ::ex({ command => 'cat', stdin => '0123456789abcdef' }, base => '/stdin'),
  ::ex({ command => 'cat', stdin => 'éééééééé' }, base => '/stdin'),
  ::ex({ command => 'cat', stdin => '0123456789abcde' }, base => '/stdin'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-stdin; cat'], stdin => '0123456789abcdefg' }, base => '/stdin'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-stdin-utf8; cat'], stdin => 'ééééééééé' }, base => '/stdin'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-stdin-stream; cat'], stdin => '0123456789abcdefg', streamOutput => JSON::PP::true }, base => '/stdin') ]
--- error_code eval
[200, 200, 200, 400, 400, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 6 ]
--- response_body_like eval
[ ::exact(::res(0, '0123456789abcdef', '')),
  ::exact(::res(0, "\x{e9}" x 8, '')),
  ::exact(::res(0, '0123456789abcde', '')),
  (::limit_re('stdin', 16)) x 3 ]



=== TEST 10: sandbox_max_command_size 16: a 16-byte command runs (and leaves its marker); a 17-byte one -> 400 naming the limit
--- request eval
[ ::ex({ command => '/tmp/t130/mark16' }, base => '/cmd'),
  ::ex({ command => '/tmp/t130/mark017' }, base => '/cmd'),
  ::ex({ command => '/tmp/t130/mark017', streamOutput => JSON::PP::true }, base => '/cmd'),
  ::ex({ command => 'sh', args => ['-c', 'ls /tmp/t130-ran-mark16'] }) ]
--- error_code eval
[200, 400, 400, 200]
--- response_headers eval
[ ("Content-Type: application/json") x 4 ]
--- response_body_like eval
[ ::exact(::res(0, "ran\n", '')), (::limit_re('command', 16)) x 2,
  ::exact(::res(0, "/tmp/t130-ran-mark16\n", '')) ]



=== TEST 11: nothing ran, nothing is staged: no marker of a refused command exists, no stdin file in /tmp
--- request eval
[ ::ex($::MARKER_CHECK), ::ex($::STDIN_FILES) ]
--- response_body eval
[ ::res(0, "checked\n", ''), ::res(0, "staged: 0\n", '') ]



=== TEST 12: every refusal again, in a window watched through Docker's events (the next block looks)
--- request eval
sub {
# let asynchronous work of earlier blocks (stdin clean-up execs) finish
Time::HiRes::sleep(0.5);
$::T0 = Time::HiRes::time();
use utf8;
[ ::ex(::sized(2049, { command => 'sh', args => ['-c', 'touch /tmp/t130-ran-body'], stdin => 'x' }), base => '/body'),
  ::ex('{"providerLeaseId":"pc-env-t130-limits","command":"sh","args":["-c","touch /tmp/t130-ran-depth"],"stdin":"x","pad":[[[["x"]]]]}', base => '/depth'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-args', 'sh', 'x'], stdin => 'x' }, base => '/args'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-argsize'], stdin => 'x' }, base => '/argsize'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-env'], stdin => 'x', env => { A => 1, B => 2, C => 3 } }, base => '/env'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-stdin; cat'], stdin => '0123456789abcdefg' }, base => '/stdin'),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-stdin-stream; cat'], stdin => '0123456789abcdefg', streamOutput => JSON::PP::true }, base => '/stdin'),
  ::ex({ command => '/tmp/t130/mark017', stdin => 'x' }, base => '/cmd') ]
}
--- error_code eval
[413, (400) x 7]
--- response_body_like eval
[ $::TOO_LARGE, ::limit_re('depth|deep|nest', 4), ::limit_re('args|arguments', 3),
  ::limit_re('args?|arguments?', 8), ::limit_re('env|environment', 2), (::limit_re('stdin', 16)) x 2,
  ::limit_re('command', 16) ]



=== TEST 13: ... Docker saw no exec and no archive upload in that window; no marker, no staged file
--- request eval
sub {
$::T1 = Time::HiRes::time();
[ ::events($::T0, $::T1), ::ex($::MARKER_CHECK), ::ex($::STDIN_FILES) ]
}
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[ qr/\A\s*\z/, ::exact(::res(0, "checked\n", '')), ::exact(::res(0, "staged: 0\n", '')) ]



=== TEST 14: (control for the event check) an accepted exec with stdin ...
--- request eval
sub {
Time::HiRes::sleep(0.5);
$::T2 = Time::HiRes::time();
::ex({ command => 'cat', stdin => 'seen' }, base => '/stdin')
}
--- response_body eval
::res(0, 'seen', '')



=== TEST 15: ... shows up in Docker's events as an archive upload and an exec
--- request eval
sub {
Time::HiRes::sleep(0.3);
$::T3 = Time::HiRes::time();
::events($::T2, $::T3)
}
--- response_body_like eval
qr/(?=.*"Action":"extract-to-dir")(?=.*"Action":"exec_create: sh -lc )/s



=== TEST 16: refused acquires, resume and probes left nothing: no container, no lease, no probe container
--- request eval
sub {
Test::More::is(CORE::join(' ', ::lease_keys()), 't130:lease:{pc-env-t130-limits}',
               'refused acquires stored no lease record in Redis');
[ ::containers('pc-env-t130-refused'),
  "POST $::API/leases/resume\n" . '{"providerLeaseId":"pc-env-t130-refused"}',
  ::containers() ]
}
--- error_code eval
[200, 409, 200]
--- response_body_like eval
[ qr/\A\[\]\s*\z/, ::exact($::STATE_LOST),
  qr/\A\[\{(?:(?!\{"Id":).)*"paperclip\.bridge\.lease":"pc-env-t130-limits"(?:(?!\{"Id":).)*\}\]\s*\z/s ]



=== TEST 17: refused execs are no activity: a keepAlive:false lease (sleepAfter 1h) ...
--- request eval
"POST $::API/leases/acquire\n"
  . '{"environmentId":"t130-idle","runId":"run-1","reuseLease":true,"keepAlive":false,"sleepAfter":"1h"}'
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t130-idle","metadata":\{.*"keepAlive":false,"sleepAfter":"1h",.*\}\}\z/



=== TEST 18: ... gets refused execs of every kind; its idle TTL is not refreshed by them ...
--- request eval
sub {
Time::HiRes::sleep(1);
$::PTTL0 = ::idle_pttl();
Test::More::cmp_ok($::PTTL0, '>', 3590000, "the idle lease has its 1h TTL ($::PTTL0 ms)");
Test::More::cmp_ok($::PTTL0, '<', 3599500, 'and it has run down a little');
my %idle = (providerLeaseId => 'pc-env-t130-idle');
[ ::ex(::sized(2049, { %idle, command => 'true' }), base => '/body'),
  ::ex('{"providerLeaseId":"pc-env-t130-idle","command":"true","pad":[[[["x"]]]]}', base => '/depth'),
  ::ex({ %idle, command => 'true', args => [map { "a$_" } 1 .. 4] }, base => '/args'),
  ::ex({ %idle, command => 'true', args => ['123456789'] }, base => '/argsize'),
  ::ex({ %idle, command => 'true', env => { A => 1, B => 2, C => 3 } }, base => '/env'),
  ::ex({ %idle, command => 'true', stdin => 'x' x 17 }, base => '/stdin'),
  ::ex({ %idle, command => '/tmp/t130/mark017' }, base => '/cmd') ]
}
--- error_code eval
[413, (400) x 6]



=== TEST 19: ... while an accepted exec is activity (control) ...
--- request eval
sub {
$::PTTL1 = ::idle_pttl();
Test::More::cmp_ok($::PTTL1, '<=', $::PTTL0, "refused execs did not refresh the idle TTL ($::PTTL0 -> $::PTTL1 ms)");
[ ::ex({ providerLeaseId => 'pc-env-t130-idle', command => 'true' }) ]
}
--- response_body eval
[ ::res(0, '', '') ]



=== TEST 20: ... and refreshed it; the idle lease is deleted
--- request eval
sub {
$::PTTL2 = ::idle_pttl();
Test::More::cmp_ok($::PTTL2, '>', $::PTTL1, "an accepted exec refreshed the idle TTL ($::PTTL1 -> $::PTTL2 ms)");
[ "DELETE $::API/leases/pc-env-t130-idle" ]
}
--- response_body eval
[ '{"ok":true}' ]



=== TEST 21: default limits, args: 1024 strings run, 1025 -> 400 naming 1024
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'echo $#', 'sh', ('a') x 1021] }),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-d-args', 'sh', ('a') x 1022] }) ]
--- error_code eval
[200, 400]
--- response_body_like eval
[ ::exact(::res(0, "1021\n", '')), ::limit_re('args|arguments', 1024) ]



=== TEST 22: default limits, arg size: a 64k (65536-byte) arg runs, 65537 bytes -> 400 naming the limit; two 60000-byte args (within the per-arg limit) make a command line over Linux's 131072-byte argument limit -> 400 naming it, nothing runs
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'echo ${#1}', 'sh', 'a' x 65536] }),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-d-argsize', 'sh', 'a' x 65537] }),
  ::ex({ command => 'sh', args => ['-c', 'echo ${#1} ${#2}', 'sh', 'a' x 60000, 'b' x 60000] }),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-d-cmdline', 'sh', 'a' x 50000, 'b' x 50000, 'c' x 50000] }) ]
--- error_code eval
[200, 400, 200, 400]
--- response_body_like eval
[ ::exact(::res(0, "65536\n", '')), ::limit_re('args?|arguments?', '65536', '64\s*[kK]'),
  ::exact(::res(0, "60000 60000\n", '')), ::limit_re('command line', '131071') ]



=== TEST 23: default limits, env: 256 entries run, 257 -> 400 naming 256
--- request eval
my %e256 = map { (sprintf('T130_%03d', $_) => "v$_") } 1 .. 256;
my %e257 = map { (sprintf('T130_%03d', $_) => "v$_") } 1 .. 257;
[ ::ex({ command => 'sh', args => ['-c', 'env | grep -c "^T130_"'], env => \%e256 }),
  ::ex({ command => 'sh', args => ['-c', 'touch /tmp/t130-ran-d-env'], env => \%e257 }) ]
--- error_code eval
[200, 400]
--- response_body_like eval
[ ::exact(::res(0, "256\n", '')), ::limit_re('env|environment', 256) ]



=== TEST 24: default limits, stdin: 96m; a 4 MiB + 1 byte stdin (over the old 1m) arrives whole
The 96m boundary (and 96 MiB + 1 -> 400) is checked in t/230-stdin-sync.t,
under nginx's default client_max_body_size rather than this harness's 30M.
--- request eval
::ex({ command => 'wc', args => ['-c'], stdin => 'x' x 4194305 })
--- error_code: 200
--- response_body_like eval
qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":" *4194305\\n","stderr":""\}\z/



=== TEST 25: default limits, command: a 64k (65536-byte) command is accepted and run by the shell, 65537 bytes -> 400 naming the limit
A 64k program name cannot exist (PATH_MAX), so "accepted" means the shell
tried it: a 200 result with exit code 126/127, not a 400.
--- request eval
[ ::ex({ command => ('/' x 65528) . 'bin/true' }),
  ::ex({ command => ('/' x 65529) . 'bin/true' }) ]
--- error_code eval
[200, 400]
--- response_body_like eval
[ qr/\A\{"exitCode":12[67],"signal":null,"timedOut":false,"stdout":"","stderr":"(?:[^"\\]++|\\.)*+"\}\z/,
  ::limit_re('command', '65536', '64\s*[kK]') ]



=== TEST 26: default limits, body: 100m; a 4194305-byte body (over the old 4m) runs
The 100m boundary (and 100 MiB + 1 -> 413) is checked in t/230-stdin-sync.t.
--- request eval
::ex(::sized(4194305, { command => 'echo', args => ['4m-body'] }))
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
::res(0, "4m-body\n", '')



=== TEST 27: after the default-limit refusals: no marker, no staged stdin file
--- request eval
[ ::ex($::MARKER_CHECK), ::ex($::STDIN_FILES) ]
--- response_body eval
[ ::res(0, "checked\n", ''), ::res(0, "staged: 0\n", '') ]



=== TEST 28: delete the lease; nothing of this file is left
--- request eval
[ "DELETE $::API/leases/pc-env-t130-limits",
  ::containers(),
  "POST $::API/leases/resume\n" . '{"providerLeaseId":"pc-env-t130-limits"}' ]
--- error_code eval
[200, 200, 409]
--- response_body_like eval
[ ::exact('{"ok":true}'), qr/\A\[\]\s*\z/, ::exact($::STATE_LOST) ]



=== TEST 29: no lease record of this file is left in Redis
--- request eval
sub {
::no_lease_keys_left();
::containers()
}
--- response_body_like eval
qr/\A\[\]\s*\z/
