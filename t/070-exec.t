# POST /api/paperclip-sandbox/v1/exec, non-streaming (README "Protocol", "Exec";
# D3, D4, D8, D10; upstream exec.test.ts / routes.test.ts cases).
#
# One reusable lease (pc-env-t070-exec) is acquired by the first block and
# destroyed by the last one, so the blocks must run in order.  Everything is
# asserted through what the command really receives / prints inside the
# sandbox container.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t070-exec';

# "POST <base><API>/exec\n<json>" for an exec on our lease
sub ex {
    my ($body, %o) = @_;
    my $json = ref $body ? json_encode({ providerLeaseId => $LEASE, %$body }) : $body;
    return "POST " . ($o{base} // '') . "$API/exec\n$json";
}

# JSON string literal as the bridge writes it (printable text, \n, \t)
sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

# the exact exec result object (README "Exec") (key order included)
sub res {
    my ($code, $out, $err, %o) = @_;
    return '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":'
         . ($o{timed_out} ? 'true' : 'false') . ',"stdout":' . js($out)
         . ',"stderr":' . js($err)
         . ($o{truncated} ? ',"outputTruncated":true' : '') . '}';
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

# an exec's stdin when none is sent: /dev/null; under gVisor (make
# test-runsc) the same host file donated to the sandbox, "host:[<n>]"
our $NUL = ($ENV{TEST_NGINX_SANDBOX_RUNTIME} // '') eq 'runsc'
         ? 'host:\[\d+\]' : '/dev/null';

# res() with the text NUL in stdout standing for $NUL
sub res_nul { my $s = quotemeta res(@_); $s =~ s/NUL/$::NUL/; qr/\A$s\z/ }


# a command that prints 'clean' once no staged stdin file is left in /tmp
# (polls up to 3 s: the file is removed asynchronously after the answer)
our $STDIN_GONE = { command => 'sh', args => ['-c',
    'i=0; while [ $i -lt 30 ]; do ls -a /tmp | grep -q "^\.paperclip-bridge-stdin-" '
    . '|| { echo clean; exit 0; }; i=$((i+1)); sleep 0.1; done; ls -a /tmp'] };

# process list of the sandbox (the ps command line itself carries no marker)
our $PS = { command => 'ps', args => ['-o', 'pid,args'] };

our $STATE_LOST = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $REQUIRED = '{"error":"invalid_request","message":"providerLeaseId and command are required."}';

bridge_blocks(prefix => 't070', locations => <<'_EOC_');
    location /cap/api/paperclip-sandbox/v1 {
        sandbox_output_limit 1k;
        sandbox_bridge;
    }
    location /tmax/api/paperclip-sandbox/v1 {
        sandbox_exec_timeout_max 1s;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire the reusable lease used by this file
--- request
POST /api/paperclip-sandbox/v1/leases/acquire
{"environmentId":"t070-exec","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"providerLeaseId":"pc-env-t070-exec","metadata":\{"provider":"docker","remoteCwd":"/workspace/paperclip","sandboxId":"pc-env-t070-exec",.*"resumedLease":false\}\}$
--- timeout: 30



=== TEST 2: printf %s "it's" -> exactly the exec result object, application/json
--- request eval
::ex({ command => 'printf', args => ['%s', "it's"] })
--- response_headers
Content-Type: application/json
--- response_body chomp
{"exitCode":0,"signal":null,"timedOut":false,"stdout":"it's","stderr":""}
--- no_error_log
[error]



=== TEST 3: non-zero exit is a 200 with the exit code; stdout and stderr kept apart
--- request eval
::ex({ command => 'sh', args => ['-c', 'echo out; echo err >&2; echo out2; exit 3'] })
--- response_body eval
::res(3, "out\nout2\n", "err\n")
--- no_error_log
[error]



=== TEST 4: args are quoted: ', spaces, $, backticks, *, backslashes, newlines, empty
--- request eval
::ex({ command => 'printf', args => ["[%s]\n", "it's", 'two  words', '$HOME', '${PATH}',
     '`echo pwned`', '$(echo pwned)', '*', '/*', 'back\\slash\\n', "new\nline", "'",
     "'\"'\"'", '', '-n', 'a;echo pwned', '"dq"', "tab\there"] })
--- response_body eval
::res(0, CORE::join('', map { "[$_]\n" } "it's", 'two  words', '$HOME', '${PATH}', '`echo pwned`',
    '$(echo pwned)', '*', '/*', 'back\\slash\\n', "new\nline", "'", "'\"'\"'", '', '-n',
    'a;echo pwned', '"dq"', "tab\there"), '')



=== TEST 5: the command is one quoted word (a space makes it a different program)
--- request eval
::ex({ command => 'echo hi' })
--- response_body_like chomp
^\{"exitCode":127,"signal":null,"timedOut":false,"stdout":"","stderr":"[^"]*echo hi: not found\\n"\}$



=== TEST 6: args: a non-array is [], non-string elements are dropped
--- request eval
[ ::ex({ command => 'echo', args => "oops" }),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"printf","args":["<%s>",1,"a",null,true,"b",{"x":1},["c"],""]}') ]
--- response_body eval
[ ::res(0, "\n", ''), ::res(0, '<a><b><>', '') ]



=== TEST 7: env values are quoted: ', spaces, $, backticks, *, backslashes, newlines
--- request eval
::ex({ command => 'sh', args => ['-c', 'printf "[%s]" "$X"'],
     env => { X => "it's \$HOME `echo pwned` \$(echo pwned) * /* back\\slash \\n \"dq\" '\"'\"'\nline2\n" } })
--- response_body eval
::res(0, "[it's \$HOME `echo pwned` \$(echo pwned) * /* back\\slash \\n \"dq\" '\"'\"'\nline2\n]", '')



=== TEST 8: env: several keys, empty value, non-string values dropped, JSON key order kept (README "Exec")
--- request eval
[ ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"sh","args":["-c","echo \"${A-unset}|${_b1-unset}|${EMPTY-unset}|${N-unset}|${NUL-unset}|${T-unset}|${O-unset}\""],"env":{"A":"1","_b1":"two words","EMPTY":"","N":5,"NUL":null,"T":true,"O":{"x":"y"}}}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"env","env":{"T070_Z":"1","T070_A":"2","T070_M":"3"}}') ]
--- response_body_like eval
[ ::exact(::res(0, "1|two words||unset|unset|unset|unset\n", '')),
  qr/\A\{"exitCode":0,.*"stdout":"(?:[^"\\]|\\.)*T070_Z=1\\nT070_A=2\\nT070_M=3\\n/ ]



=== TEST 9: env key rejection: exact message, 500 internal_error, nothing runs
--- request eval
[ ::ex({ command => 'touch', args => ['/tmp/t070-env-rejected'], env => { 'bad-key' => 'x' } }),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"touch","args":["/tmp/t070-env-rejected"],"env":{"GOOD":"1","9LIVES":"x"}}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"touch","args":["/tmp/t070-env-rejected"],"env":{"A B":"x"}}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"touch","args":["/tmp/t070-env-rejected"],"env":{"":"x"}}'),
  ::ex({ command => 'sh', args => ['-c', 'test -e /tmp/t070-env-rejected && echo ran || echo not-run'] }) ]
--- error_code eval
[500, 500, 500, 500, 200]
--- response_headers eval
[ ("Content-Type: application/json") x 5 ]
--- response_body eval
[ '{"error":"internal_error","message":"Invalid sandbox environment variable key: bad-key"}',
  '{"error":"internal_error","message":"Invalid sandbox environment variable key: 9LIVES"}',
  '{"error":"internal_error","message":"Invalid sandbox environment variable key: A B"}',
  '{"error":"internal_error","message":"Invalid sandbox environment variable key: "}',
  ::res(0, "not-run\n", '') ]



=== TEST 10: cwd with ', spaces, $, backticks, *, backslashes and a newline
--- request eval
$::DIR = "/tmp/t070 it's \$HOME `echo x` \$(echo y) * back\\slash\nline";
[ ::ex({ command => 'mkdir', args => ['-p', $::DIR] }),
  ::ex({ command => 'pwd', cwd => $::DIR }),
  ::ex({ command => 'rm', args => ['-r', $::DIR] }) ]
--- response_body eval
[ ::res(0, '', ''), ::res(0, "$::DIR\n", ''), ::res(0, '', '') ]



=== TEST 11: no cwd, an empty cwd or a non-string cwd run in "/"; a missing cwd fails before the command
--- request eval
[ ::ex({ command => 'pwd' }),
  ::ex({ command => 'pwd', cwd => '' }),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"pwd","cwd":42}'),
  ::ex({ command => 'echo', args => ['ran'], cwd => '/t070-does-not-exist' }) ]
--- response_body_like eval
[ ::exact(::res(0, "/\n", '')), ::exact(::res(0, "/\n", '')), ::exact(::res(0, "/\n", '')),
  qr/\A\{"exitCode":[1-9][0-9]*,"signal":null,"timedOut":false,"stdout":"","stderr":"[^"]*t070-does-not-exist[^"]*"\}\z/ ]



=== TEST 12: login shell: profile files are sourced (a failing one too), nvm is not (README "Exec", upstream exec.test.ts #1)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', CORE::join '; ',
        q{mkdir -p /root/.nvm},
        q{printf 'export P1=etc; false\n' > /etc/profile},
        q{printf 'export P2=home\n' > /root/.profile},
        q{printf 'export P3=bashrc\n' > /root/.bashrc},
        q{printf 'export P4=zprofile\n' > /root/.zprofile},
        q{printf 'export NVM_SOURCED=yes\n' > /root/.nvm/nvm.sh}] }),
  ::ex({ command => 'sh', args => ['-c', 'echo "$P1 $P2 $P3 $P4 ${NVM_SOURCED-no-nvm} ${NVM_DIR-no-nvm-dir}"'] }),
  ::ex({ command => 'sh', args => ['-c', q{printf 'export P5=bash_profile\n' > /root/.bash_profile}] }),
  ::ex({ command => 'sh', args => ['-c', 'echo "${P3-no-bashrc} $P5"'] }),
  ::ex({ command => 'rm', args => ['-rf', '/etc/profile', '/root/.profile', '/root/.bashrc',
                                '/root/.zprofile', '/root/.bash_profile', '/root/.nvm'] }),
  ::ex({ command => 'sh', args => ['-c', 'echo "${P1-none}"'] }) ]
--- response_body eval
[ ::res(0, '', ''),
  ::res(0, "etc home bashrc zprofile no-nvm no-nvm-dir\n", ''),
  ::res(0, '', ''),
  ::res(0, "no-bashrc bash_profile\n", ''),
  ::res(0, '', ''),
  ::res(0, "none\n", '') ]



=== TEST 13: stdin is staged in /tmp/.paperclip-bridge-stdin-*, redirected, then removed
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'ls -a /tmp | grep -c "^\.paperclip-bridge-stdin-"; readlink /proc/$$/fd/0; cat'],
       stdin => 'payload-bytes' }),
  ::ex($::STDIN_GONE) ]
--- response_body_like eval
[ qr{\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"1\\n/tmp/\.paperclip-bridge-stdin-[A-Za-z0-9_-]+\\npayload-bytes","stderr":""\}\z},
  ::exact(::res(0, "clean\n", '')) ]
--- no_error_log
[error]



=== TEST 14: stdin content arrives byte for byte (quotes, $, backticks, backslashes, UTF-8, no final newline)
--- request eval
use utf8;
$::IN = "line 1 it's \$HOME `echo pwned` \$(echo x) * back\\slash \"dq\"\n\n  é € 😀\t tab\nlast";
[ ::ex({ command => 'cat', stdin => $::IN }),
  ::ex({ command => 'wc', args => ['-c'], stdin => 'x' x 100000 }),
  ::ex({ command => 'sh', args => ['-c', 'wc -l; echo "$1"', 'sh', 'arg-and-stdin'], stdin => "a\nb\n" }),
  ::ex($::STDIN_GONE) ]
--- response_body eval
use utf8;
[ ::res(0, $::IN, ''), ::res(0, "100000\n", ''), ::res(0, "2\narg-and-stdin\n", ''), ::res(0, "clean\n", '') ]
--- timeout: 10



=== TEST 15: empty or non-string stdin: no staged file, no redirect (stdin is /dev/null)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'ls -a /tmp | grep -c "^\.paperclip-bridge-stdin-"; readlink /proc/$$/fd/0; cat'], stdin => '' }),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"sh","args":["-c","readlink /proc/$$/fd/0; cat"],"stdin":null}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"sh","args":["-c","readlink /proc/$$/fd/0; cat"],"stdin":123}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"sh","args":["-c","readlink /proc/$$/fd/0; cat"],"stdin":["x"]}') ]
--- response_body_like eval
[ ::res_nul(0, "0\nNUL\n", ''), ::res_nul(0, "NUL\n", ''), ::res_nul(0, "NUL\n", ''),
  ::res_nul(0, "NUL\n", '') ]



=== TEST 16: a command killed by a signal: exitCode 128+n, signal null
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'echo before; kill -9 $$; echo after'] }),
  ::ex({ command => 'sh', args => ['-c', 'kill -TERM $$'] }) ]
--- response_body eval
[ ::res(137, "before\n", ''), ::res(143, '', '') ]



=== TEST 17: a missing program -> 127 and the shell's message
--- request eval
::ex({ command => 't070-no-such-program', args => ['x'] })
--- response_body_like chomp
^\{"exitCode":127,"signal":null,"timedOut":false,"stdout":"","stderr":"[^"]*t070-no-such-program: not found\\n"\}$



=== TEST 18: timeout: timeout result, the whole process tree is killed, the lease stays usable (D10)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'sleep 313 & echo started; sleep 30; echo never'], timeoutMs => 1000 }),
  ::ex($::PS),
  ::ex({ command => 'echo', args => ['still usable'] }) ]
--- response_body_like eval
[ ::exact(::res(undef, "started\n", "Command timeout after 1000ms\n", timed_out => 1)),
  qr/\A\{"exitCode":0,.*"stdout":" *PID /s,
  ::exact(::res(0, "still usable\n", '')) ]
--- response_body_unlike eval
[ qr/(?!)/, qr/sleep 313|sleep 30\b/, qr/(?!)/ ]
--- timeout: 10



=== TEST 19: timeout also kills children that cleared their environment or left the session
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'env -i sleep 314 >/dev/null 2>&1 & setsid sleep 315 >/dev/null 2>&1 & echo started; sleep 30'], timeoutMs => 1000 }),
  ::ex($::PS) ]
--- response_body_like eval
[ ::exact(::res(undef, "started\n", "Command timeout after 1000ms\n", timed_out => 1)),
  qr/\A\{"exitCode":0,.*"stdout":" *PID /s ]
--- response_body_unlike eval
[ qr/(?!)/, qr/sleep 31[45]/ ]
--- timeout: 10



=== TEST 20: timeout of a command with stdin: the staged file is removed too
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'cat; sleep 30'], stdin => "staged\n", timeoutMs => 700 }),
  ::ex($::STDIN_GONE) ]
--- response_body eval
[ ::res(undef, "staged\n", "Command timeout after 700ms\n", timed_out => 1), ::res(0, "clean\n", '') ]
--- timeout: 10



=== TEST 21: timeout with sessionStrategy "default" keeps the lease (D10)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'echo partial; sleep 30'], timeoutMs => 700,
       sessionStrategy => 'default' }),
  ::ex({ command => 'echo', args => ['alive'], sessionStrategy => 'default' }),
  ::ex({ command => 'echo', args => ['alive'] }) ]
--- response_body eval
[ ::res(undef, "partial\n", "Command timeout after 700ms\n", timed_out => 1),
  ::res(0, "alive\n", ''), ::res(0, "alive\n", '') ]
--- timeout: 10



=== TEST 22: timeoutMs <= 0 or not a number means the default (D4), not "now"
--- request eval
[ map { ::ex('{"providerLeaseId":"pc-env-t070-exec","command":"sh","args":["-c","sleep 0.3; echo done"],"timeoutMs":' . $_ . '}') }
  '0', '-1000', 'null', '"abc"', '{}', '[]', 'false' ]
--- response_body eval
[ (::res(0, "done\n", '')) x 7 ]
--- timeout: 10



=== TEST 23: sandbox_exec_timeout_max caps timeoutMs and the default (D4)
--- request eval
[ ::ex({ command => 'sleep', args => ['5'], timeoutMs => 5000 }, base => '/tmax'),
  ::ex({ command => 'sleep', args => ['5'], timeoutMs => 0 }, base => '/tmax'),
  ::ex({ command => 'sleep', args => ['5'] }, base => '/tmax'),
  ::ex({ command => 'sleep', args => ['5'], timeoutMs => 300 }, base => '/tmax'),
  ::ex({ command => 'echo', args => ['quick'], timeoutMs => 600000 }, base => '/tmax') ]
--- response_body eval
[ ::res(undef, '', "Command timeout after 1000ms\n", timed_out => 1),
  ::res(undef, '', "Command timeout after 1000ms\n", timed_out => 1),
  ::res(undef, '', "Command timeout after 1000ms\n", timed_out => 1),
  ::res(undef, '', "Command timeout after 300ms\n", timed_out => 1),
  ::res(0, "quick\n", '') ]
--- timeout: 10



=== TEST 24: sandbox_output_limit 1k caps stdout and stderr separately; outputTruncated only when capped (D8)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', q{head -c 5000 /dev/zero | tr '\0' b}] }, base => '/cap'),
  ::ex({ command => 'sh', args => ['-c', q{head -c 1024 /dev/zero | tr '\0' c}] }, base => '/cap'),
  ::ex({ command => 'sh', args => ['-c', q{head -c 1025 /dev/zero | tr '\0' d}] }, base => '/cap'),
  ::ex({ command => 'sh', args => ['-c', q{head -c 3000 /dev/zero | tr '\0' e >&2; echo small}] }, base => '/cap') ]
--- response_body eval
[ ::res(0, 'b' x 1024, '', truncated => 1),
  ::res(0, 'c' x 1024, ''),
  ::res(0, 'd' x 1024, '', truncated => 1),
  ::res(0, "small\n", 'e' x 1024, truncated => 1) ]



=== TEST 25: large output (5 MB) comes back complete
--- request eval
::ex({ command => 'sh', args => ['-c', q{head -c 5000000 /dev/zero | tr '\0' a; echo; echo to-stderr >&2}] })
--- response_body_like eval
# (the '|(?!)' works around a perl 5.36 optimiser bug with huge fixed lengths)
qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"(?:(?:a{50000}){100}|(?!))\\n","stderr":"to-stderr\\n"\}\z/
--- timeout: 20



=== TEST 26: invalid UTF-8 becomes U+FFFD per bad byte; valid UTF-8 passes (D8)
--- request eval
[ ::ex({ command => 'sh', args => ['-c', q{printf '\377\376abc\200\n'; printf 'e:\300\257|\355\240\200|\n' >&2}] }),
  ::ex({ command => 'sh', args => ['-c', q{printf '\303\251 \342\202\254 \360\237\230\200\n'}] }) ]
--- response_body eval
[ qq{{"exitCode":0,"signal":null,"timedOut":false,"stdout":"\xef\xbf\xbd\xef\xbf\xbdabc\xef\xbf\xbd\\n","stderr":"e:\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\\n"}},
  qq{{"exitCode":0,"signal":null,"timedOut":false,"stdout":"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\\n","stderr":""}} ]



=== TEST 27: 400 "providerLeaseId and command are required."
--- request eval
[ ::ex('{}'),
  ::ex('{"command":"echo"}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec"}'),
  ::ex('{"providerLeaseId":"","command":"echo"}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":""}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","command":null}'),
  ::ex('{"providerLeaseId":null,"command":"echo"}'),
  ::ex('{"providerLeaseId":"pc-env-t070-exec","streamOutput":true}') ]
--- error_code eval
[ (400) x 8 ]
--- response_headers eval
[ ("Content-Type: application/json") x 8 ]
--- response_body eval
[ ($::REQUIRED) x 8 ]



=== TEST 28: bad JSON or a non-object body -> 400 invalid_request (D14); bad id -> 400 (D6)
--- request eval
[ ::ex('{"providerLeaseId":'), ::ex('null'), ::ex('["x"]'),
  ::ex('{"providerLeaseId":"Bad_Id!","command":"echo","normalizeId":false}'),
  ::ex('{"providerLeaseId":"-pc-env-x","command":"echo"}') ]
--- error_code eval
[ (400) x 5 ]
--- response_body_like eval
[ (qr/\A\{"error":"invalid_request","message":"(?:[^"\\]|\\.)+"\}\z/) x 5 ]



=== TEST 29: exec on a lease that never existed -> 409 sandbox_state_lost, nothing created (D3)
--- request eval
[ ::ex({ providerLeaseId => 'pc-env-t070-never', command => 'echo', args => ['x'] }),
  ::ex({ providerLeaseId => 'pc-env-t070-never', command => 'echo', args => ['x'], streamOutput => JSON::PP::true }),
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.lease%3Dpc-env-t070-never%22%5D%7D" ]
--- error_code eval
[409, 409, 200]
--- response_body eval
[ $::STATE_LOST, $::STATE_LOST, "[]\n" ]



=== TEST 30: release (reuseLease false) destroys the lease; exec then gets 409 (D3); DELETE cleans up
--- request eval
[ "POST $::API/leases/release\n" . '{"providerLeaseId":"pc-env-t070-exec","reuseLease":false}',
  ::ex({ command => 'echo', args => ['x'] }),
  ::ex({ command => 'echo', args => ['x'], streamOutput => JSON::PP::true }),
  "DELETE $::API/leases/pc-env-t070-exec",
  ::ex({ command => 'echo', args => ['x'] }),
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.lease%3Dpc-env-t070-exec%22%5D%7D" ]
--- error_code eval
[200, 409, 409, 200, 409, 200]
--- response_body eval
[ '{"ok":true}', $::STATE_LOST, $::STATE_LOST, '{"ok":true}', $::STATE_LOST, "[]\n" ]
--- timeout: 15
