# gVisor (README "gVisor"): a lease acquired through a location with
# `sandbox_runtime runsc` runs under runsc, and the bridge's guarantees
# still hold there: a command past timeoutMs is killed (timedOut true),
# stdin arrives, capabilities are dropped to the documented set, and the
# root file system is read-only (sandbox_read_only_root on, which stdin
# needs under runsc: README "gVisor").
#
# Runs only when runsc is installed and the private dockerd has a runtime
# "runsc" (make test-runsc); skipped otherwise.
use FindBin ();
use lib "$FindBin::Bin/helpers";

# decided before Test::Nginx::Socket plans anything
BEGIN {
    my $why;
    if (!grep { -x "$_/runsc" } split /:/, $ENV{PATH} // '') {
        $why = 'runsc is not installed (make deps-runsc)';
    } else {
        require IO::Socket::UNIX;
        my $s = IO::Socket::UNIX->new(Peer => $ENV{TEST_NGINX_DOCKER_SOCKET} // '');
        my $info = '';
        if ($s) {
            print $s "GET /v1.41/info HTTP/1.0\r\nHost: docker\r\n\r\n";
            local $/;
            $info = <$s> // '';
        }
        $why = 'the private dockerd has no "runsc" runtime (make test-runsc)'
            unless $info =~ /"Runtimes":\{[^\n]*"runsc":/;
    }
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';

sub ex {
    return "POST $API/exec\n"
         . json_encode({ providerLeaseId => 'pc-env-t172-g', %{ $_[0] } });
}

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

sub res {
    my ($code, $out, $err, $timed_out) = @_;
    my $s = '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":'
          . ($timed_out ? 'true' : 'false') . ',"stdout":' . js($out)
          . ',"stderr":' . js($err) . '}';
    return qr/\A\Q$s\E\z/;
}

cleanup_prefix('t172');

bridge_blocks(prefix => 't172', timeout => 30, no_error_log => "[error]\n",
              locations => <<'_EOC_');
    location /g/api/paperclip-sandbox/v1 {
        sandbox_runtime runsc;
        sandbox_read_only_root on;
        sandbox_bridge;
    }
    location /w/api/paperclip-sandbox/v1 {
        sandbox_runtime runsc;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire a lease through the runsc location; Docker has Runtime runsc
--- request eval
[ "POST /g$::API/leases/acquire\n"
  . '{"environmentId":"t172-g","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}',
  "GET /_inspect/containers/t172-pc-env-t172-g/json" ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t172-g","metadata":\{"provider":"docker",/,
  qr/"HostConfig":\{(?=.*"Runtime":"runsc")(?=.*"ReadonlyRootfs":true)/ ]



=== TEST 2: the command runs under gVisor: its kernel is gVisor's 4.4.0, dmesg is gVisor's
--- request eval
[ ::ex({ command => 'uname', args => ['-r'] }),
  ::ex({ command => 'sh', args => ['-c', 'dmesg | head -n 1'] }) ]
--- response_body_like eval
[ ::res(0, "4.4.0\n", ''),
  qr/\A\{"exitCode":0,.*"stdout":"[^"]*Starting gVisor/ ]



=== TEST 3: a command past timeoutMs is killed: timedOut true; the lease stays usable
--- request eval
[ ::ex({ command => 'sh', args => ['-c', 'echo started; sleep 30; echo never'], timeoutMs => 1000 }),
  ::ex({ command => 'sh', args => ['-c', 'ps -o args | grep -c "[s]leep 30"'] }),
  ::ex({ command => 'echo', args => ['still usable'] }) ]
--- response_body_like eval
[ ::res(undef, "started\n", "Command timeout after 1000ms\n", 1),
  ::res(1, "0\n", ''),
  ::res(0, "still usable\n", '') ]
--- timeout: 15



=== TEST 4: stdin arrives byte for byte
--- request eval
[ ::ex({ command => 'cat', stdin => "line 1\n\$HOME 'q' \"d\" `b` \\ \x{e9}\n" }),
  ::ex({ command => 'wc', args => ['-c'], stdin => 'x' x 100000 }) ]
--- response_body_like eval
[ ::res(0, "line 1\n\$HOME 'q' \"d\" `b` \\ \x{e9}\n", ''),
  ::res(0, "100000\n", '') ]



=== TEST 5: capabilities are the documented seven (CapEff 0xfb), bounding set too
--- request eval
::ex({ command => 'sh', args => ['-c', q{grep -E '^Cap(Prm|Eff|Bnd):' /proc/self/status | tr '\t' ' '}] })
--- response_body_like eval
::res(0, "CapPrm: 00000000000000fb\nCapEff: 00000000000000fb\nCapBnd: 00000000000000fb\n", '')



=== TEST 6: the root file system is read-only; /workspace and /tmp are writable
--- request eval
::ex({ command => 'sh', args => ['-c', q{for d in /etc /workspace /tmp; do touch $d/t172-w 2>/dev/null && rm -f $d/t172-w && echo "write $d: ok" || echo "write $d: denied"; done}] })
--- response_body_like eval
::res(0, "write /etc: denied\nwrite /workspace: ok\nwrite /tmp: ok\n", '')



=== TEST 7: release the lease
--- request eval
"DELETE $::API/leases/pc-env-t172-g"
--- response_body_like: \A\{"ok":true\}\z



=== TEST 8: a writable root under runsc: /tmp is a volume (gVisor's own tmpfs would hide staged stdin)
--- request eval
[ "POST /w$::API/leases/acquire\n"
  . '{"environmentId":"t172-w","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}',
  "GET /_inspect/containers/t172-pc-env-t172-w/json" ]
--- error_code eval
[200, 200]
--- response_body_like eval
[ qr/\A\{"providerLeaseId":"pc-env-t172-w","metadata":\{"provider":"docker",/,
  qr/"HostConfig":\{(?=.*"Runtime":"runsc")(?=.*"ReadonlyRootfs":false).*"Mounts":\[\{"Type":"volume"[^{}]*"Destination":"\/tmp"[^{}]*\}\]/ ]



=== TEST 9: ... stdin arrives byte for byte there; the root is writable
--- request eval
[ "POST $::API/exec\n" . ::json_encode({ providerLeaseId => 'pc-env-t172-w', command => 'cat',
                                         stdin => "writable root \x{e9}\n" }),
  "POST $::API/exec\n" . ::json_encode({ providerLeaseId => 'pc-env-t172-w', command => 'sh',
                                         args => ['-c', 'touch /etc/t172-w && rm /etc/t172-w && uname -r'] }),
  "DELETE $::API/leases/pc-env-t172-w" ]
--- response_body_like eval
[ ::res(0, "writable root \x{e9}\n", ''), ::res(0, "4.4.0\n", ''), qr/\A\{"ok":true\}\z/ ]
