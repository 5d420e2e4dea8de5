# Streaming exec (streamOutput:true): the SSE response of README "Exec",
# D8 (valid UTF-8 in every data line, U+FFFD for invalid bytes, output cap),
# D10 (timeouts), the : keepalive heartbeat, exactly one terminal event
# (upstream exec.test.ts #2, routes.test.ts #3, bridge-client "consumes
# streamed exec output").
#
# Chunk boundaries follow the backend, so where a command writes more than
# once the output frames are matched by shape (every data line a valid
# UTF-8 JSON {"data":"..."}) and the complete event exactly.  Timing,
# disconnects, slow readers and concurrency: t/085-stream-scenarios.t.
#
# One reusable lease (pc-env-t080-stream), acquired by the first block and
# destroyed by the last one.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode $JSON_STR_CHAR);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t080-stream';

# "POST <base><API>/exec\n<json>"; streamOutput:true unless given
sub sx {
    my ($body, %o) = @_;
    my $json = ref $body
        ? json_encode({ providerLeaseId => $LEASE, streamOutput => JSON::PP::true, %$body })
        : $body;
    return "POST " . ($o{base} // '') . "$API/exec\n$json";
}

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

sub res {
    my ($code, $out, $err, %o) = @_;
    return '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":'
         . ($o{timed_out} ? 'true' : 'false') . ',"stdout":' . js($out)
         . ',"stderr":' . js($err)
         . ($o{truncated} ? ',"outputTruncated":true' : '') . '}';
}

# exact SSE frames
sub frame    { "event: $_[0]\ndata: {\"data\":" . js($_[1]) . "}\n\n" }
sub complete { "event: complete\ndata: $_[0]\n\n" }

# any number (>= 1) of well-formed stdout/stderr frames whose data is
# valid UTF-8 JSON, then exactly the given terminal frame and nothing else
sub frames_then {
    my ($terminal, %o) = @_;
    my $ev = $o{stream} // 'std(?:out|err)';
    my $hb = $o{heartbeats} ? '|: keepalive\n\n' : '';
    return qr/\A(?:event: $ev\ndata: \{"data":"$JSON_STR_CHAR+"\}\n\n$hb)+\Q$terminal\E\z/;
}

our $STDIN_GONE = { command => 'sh', args => ['-c',
    'i=0; while [ $i -lt 30 ]; do ls -a /tmp | grep -q "^\.paperclip-bridge-stdin-" '
    . '|| { echo clean; exit 0; }; i=$((i+1)); sleep 0.1; done; ls -a /tmp'],
    streamOutput => JSON::PP::false };

our $PS = { command => 'ps', args => ['-o', 'pid,args'], streamOutput => JSON::PP::false };

our $STATE_LOST = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';


bridge_blocks(prefix => 't080', locations => <<'_EOC_');
    location /cap/api/paperclip-sandbox/v1 {
        sandbox_output_limit 1k;
        sandbox_bridge;
    }
    location /hb/api/paperclip-sandbox/v1 {
        sandbox_heartbeat_interval 300ms;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire the reusable lease used by this file
--- request
POST /api/paperclip-sandbox/v1/leases/acquire
{"environmentId":"t080-stream","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}
--- response_body_like chomp
^\{"providerLeaseId":"pc-env-t080-stream","metadata":\{"provider":"docker",.*"resumedLease":false\}\}$
--- timeout: 30



=== TEST 2: echo hello: stdout frame, then one complete frame with the full result; SSE headers
--- request eval
::sx({ command => 'echo', args => ['hello'] })
--- response_headers
Content-Type: text/event-stream
Cache-Control: no-cache
!Content-Length
--- response_body eval
::frame(stdout => "hello\n") . ::complete(::res(0, "hello\n", ''))
--- no_error_log
[error]



=== TEST 3: stdout and stderr frames in order, non-zero exit in complete
--- request eval
::sx({ command => 'sh', args => ['-c', 'echo out; sleep 0.2; echo err >&2; sleep 0.2; echo out2; exit 3'] })
--- response_body eval
::frame(stdout => "out\n") . ::frame(stderr => "err\n") . ::frame(stdout => "out2\n")
. ::complete(::res(3, "out\nout2\n", "err\n"))



=== TEST 4: quoting of args and env in streaming mode (', spaces, $, backticks, *, \, newlines)
--- request eval
[ ::sx({ command => 'printf', args => ["[%s]\n", "it's", 'two  words', '$HOME', '`echo pwned`',
       '$(echo pwned)', '*', 'back\\slash', "new\nline", "'\"'\"'", ''] }),
  ::sx({ command => 'sh', args => ['-c', 'printf "[%s]" "$X"'],
       env => { X => "it's \$HOME `echo pwned` * back\\slash\nline2" } }) ]
--- response_body_like eval
[ ::frames_then(::complete(::res(0, CORE::join('', map { "[$_]\n" } "it's", 'two  words', '$HOME',
      '`echo pwned`', '$(echo pwned)', '*', 'back\\slash', "new\nline", "'\"'\"'", ''), ''))),
  ::frames_then(::complete(::res(0, "[it's \$HOME `echo pwned` * back\\slash\nline2]", ''))) ]



=== TEST 5: a bad env key is an SSE error event (status 200), and nothing runs
--- request eval
[ ::sx({ command => 'touch', args => ['/tmp/t080-env-rejected'], env => { 'bad-key' => 'x' } }),
  ::sx('{"providerLeaseId":"pc-env-t080-stream","streamOutput":true,"command":"touch","args":["/tmp/t080-env-rejected"],"env":{"OK":"1","bad-key":"x"}}'),
  ::sx({ command => 'sh', args => ['-c', 'test -e /tmp/t080-env-rejected && echo ran || echo not-run'] }) ]
--- response_headers eval
[ ("Content-Type: text/event-stream\nCache-Control: no-cache") x 3 ]
--- response_body eval
[ qq{event: error\ndata: {"error":"Invalid sandbox environment variable key: bad-key"}\n\n},
  qq{event: error\ndata: {"error":"Invalid sandbox environment variable key: bad-key"}\n\n},
  ::frame(stdout => "not-run\n") . ::complete(::res(0, "not-run\n", '')) ]



=== TEST 6: stdin in streaming mode: staged, redirected, removed afterwards
--- request eval
[ ::sx({ command => 'sh', args => ['-c', 'readlink /proc/$$/fd/0; cat'], stdin => "in 'put' \$x\n" }),
  "POST $::API/exec\n" . ::json_encode({ providerLeaseId => $::LEASE, %$::STDIN_GONE }) ]
--- response_body_like eval
[ qr{\A(?:event: stdout\ndata: \{"data":"[^"]*"\}\n\n)+event: complete\ndata: \{"exitCode":0,"signal":null,"timedOut":false,"stdout":"/tmp/\.paperclip-bridge-stdin-[A-Za-z0-9_-]+\\nin 'put' \$x\\n","stderr":""\}\n\n\z},
  qr/\A\Q${\ ::res(0, "clean\n", '')}\E\z/ ]



=== TEST 7: timeout: partial output, then complete with the timeout result; tree killed; lease usable
--- request eval
[ ::sx({ command => 'sh', args => ['-c', 'sleep 323 & echo started; sleep 30; echo never'], timeoutMs => 1000 }),
  "POST $::API/exec\n" . ::json_encode({ providerLeaseId => $::LEASE, %$::PS }),
  ::sx({ command => 'echo', args => ['usable'] }) ]
--- response_body_like eval
[ qr/\A\Q${\ (::frame(stdout => "started\n") . ::complete(::res(undef, "started\n", "Command timeout after 1000ms\n", timed_out => 1)))}\E\z/,
  qr/\A\{"exitCode":0,.*"stdout":" *PID /s,
  qr/\A\Q${\ (::frame(stdout => "usable\n") . ::complete(::res(0, "usable\n", '')))}\E\z/ ]
--- response_body_unlike eval
[ qr/(?!)/, qr/sleep 323|sleep 30\b/, qr/(?!)/ ]
--- timeout: 10



=== TEST 8: killed by a signal: complete carries exitCode 137, signal null
--- request eval
::sx({ command => 'sh', args => ['-c', 'echo before; kill -9 $$'] })
--- response_body eval
::frame(stdout => "before\n") . ::complete(::res(137, "before\n", ''))



=== TEST 9: a multi-byte character split across writes is never split across events
--- request eval
::sx({ command => 'sh', args => ['-c', q{printf '\342'; sleep 0.2; printf '\202\254\n'}] })
--- response_body eval
"event: stdout\ndata: {\"data\":\"\xe2\x82\xac\\n\"}\n\n"
. qq{event: complete\ndata: {"exitCode":0,"signal":null,"timedOut":false,"stdout":"\xe2\x82\xac\\n","stderr":""}\n\n}



=== TEST 10: invalid bytes become U+FFFD in the frames and in complete; every data line is valid UTF-8 JSON
--- request eval
::sx({ command => 'sh', args => ['-c', q{printf 'a\377\376b\200\n'; sleep 0.1; printf 'e\300\257\355\240\200\n' >&2; sleep 0.1; printf '\342'; sleep 0.1; printf 'x\n'}] })
--- response_body_like eval
::frames_then(qq{event: complete\ndata: {"exitCode":0,"signal":null,"timedOut":false,"stdout":"a\xef\xbf\xbd\xef\xbf\xbdb\xef\xbf\xbd\\n\xef\xbf\xbdx\\n","stderr":"e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\n"}\n\n})
--- response_body_unlike eval
qr/[\xc0\xc1\xf5-\xff]|\xed[\xa0-\xbf]/



=== TEST 11: a multi-byte sequence cut by the end of output still reaches the frames as U+FFFD
--- request eval
::sx({ command => 'sh', args => ['-c', q{printf 'x\342\202'}] })
--- response_body_like eval
qr/\Aevent: stdout\ndata: \{"data":"x(?:(?:\xef\xbf\xbd){1,2}"\}\n\n|"\}\n\nevent: stdout\ndata: \{"data":"(?:\xef\xbf\xbd){1,2}"\}\n\n)event: complete\ndata: \{"exitCode":0,"signal":null,"timedOut":false,"stdout":"x\xef\xbf\xbd(?:\xef\xbf\xbd)?","stderr":""\}\n\n\z/



=== TEST 12: sandbox_heartbeat_interval 300ms: ": keepalive" comments while idle, then exactly one terminal event
--- request eval
[ ::sx({ command => 'sleep', args => ['1'] }, base => '/hb'),
  ::sx({ command => 'sh', args => ['-c', 'echo a; sleep 1; echo b'] }, base => '/hb') ]
--- response_body_like eval
[ qr/\A(?:: keepalive\n\n){2,}\Q${\ ::complete(::res(0, '', ''))}\E\z/,
  qr/\A(?:: keepalive\n\n)*\Q${\ ::frame(stdout => "a\n")}\E(?:: keepalive\n\n){2,}\Q${\ ::frame(stdout => "b\n")}\E(?:: keepalive\n\n)?\Q${\ ::complete(::res(0, "a\nb\n", ''))}\E\z/ ]



=== TEST 13: the default heartbeat interval is 15 s: none during a 1 s command
--- request eval
::sx({ command => 'sh', args => ['-c', 'sleep 1; echo done'] })
--- response_body eval
::frame(stdout => "done\n") . ::complete(::res(0, "done\n", ''))



=== TEST 14: sandbox_output_limit 1k caps complete's stdout/stderr, marks outputTruncated (D8)
--- request eval
[ ::sx({ command => 'sh', args => ['-c', q{head -c 5000 /dev/zero | tr '\0' b}] }, base => '/cap'),
  ::sx({ command => 'sh', args => ['-c', q{head -c 2000 /dev/zero | tr '\0' e >&2; echo small}] }, base => '/cap'),
  ::sx({ command => 'sh', args => ['-c', q{head -c 1024 /dev/zero | tr '\0' c}] }, base => '/cap') ]
--- response_body_like eval
[ qr/\A(?:event: stdout\ndata: \{"data":"b+"\}\n\n)+\Q${\ ::complete(::res(0, 'b' x 1024, '', truncated => 1))}\E\z/,
  qr/\A(?:event: std(?:out|err)\ndata: \{"data":"(?:e+|small\\n)"\}\n\n)+\Q${\ ::complete(::res(0, "small\n", 'e' x 1024, truncated => 1))}\E\z/,
  qr/\A(?:event: stdout\ndata: \{"data":"c+"\}\n\n)+\Q${\ ::complete(::res(0, 'c' x 1024, ''))}\E\z/ ]



=== TEST 15: large output (5 MB) streams in frames and complete repeats all of it
--- request eval
::sx({ command => 'sh', args => ['-c', q{head -c 5000000 /dev/zero | tr '\0' a}] })
--- response_body_like eval
# (the '|(?!)' works around a perl 5.36 optimiser bug with huge fixed lengths)
qr/\A(?:event: stdout\ndata: \{"data":"a++"\}\n\n)++event: complete\ndata: \{"exitCode":0,"signal":null,"timedOut":false,"stdout":"(?:(?:a{50000}){100}|(?!))","stderr":""\}\n\n\z/
--- timeout: 20



=== TEST 16: only streamOutput === true streams; anything else gets the JSON result
--- request eval
[ map { "POST $::API/exec\n" . qq({"providerLeaseId":"pc-env-t080-stream","command":"echo","args":["x"],"streamOutput":$_}) }
  '"true"', '1', 'false', 'null', '{}' ]
--- response_headers eval
[ ("Content-Type: application/json") x 5 ]
--- response_body eval
[ (::res(0, "x\n", '')) x 5 ]



=== TEST 17: with streamOutput, validation and lost leases are still plain HTTP errors
--- request eval
[ ::sx('{"providerLeaseId":"pc-env-t080-stream","streamOutput":true}'),
  ::sx('{"command":"echo","streamOutput":true}'),
  ::sx({ providerLeaseId => 'pc-env-t080-never', command => 'echo' }) ]
--- error_code eval
[400, 400, 409]
--- response_headers eval
[ ("Content-Type: application/json") x 3 ]
--- response_body eval
[ '{"error":"invalid_request","message":"providerLeaseId and command are required."}',
  '{"error":"invalid_request","message":"providerLeaseId and command are required."}',
  $::STATE_LOST ]



=== TEST 18: the lease's container was destroyed outside the bridge: 409 sandbox_state_lost in both modes (D3)
--- request eval
[ "DELETE /_inspect/containers/t080-pc-env-t080-stream?force=true",
  "POST $::API/exec\n" . ::json_encode({ providerLeaseId => $::LEASE, command => 'echo', args => ['x'] }),
  ::sx({ command => 'echo', args => ['x'] }) ]
--- error_code eval
[204, 409, 409]
--- response_headers eval
[ '', ("Content-Type: application/json") x 2 ]
--- response_body eval
[ '', $::STATE_LOST, $::STATE_LOST ]
--- timeout: 15



=== TEST 19: DELETE the lease; streaming exec on it is then 409 (D3); no container left
--- request eval
[ "DELETE $::API/leases/pc-env-t080-stream",
  ::sx({ command => 'echo', args => ['x'] }),
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.lease%3Dpc-env-t080-stream%22%5D%7D" ]
--- error_code eval
[200, 409, 200]
--- response_body eval
[ '{"ok":true}', $::STATE_LOST, "[]\n" ]
--- timeout: 15
