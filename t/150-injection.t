# Shell injection (GitHub issue "Security"; README "Exec" quoting, D6):
# payloads such as  '; touch /tmp/pwned; '   $(touch /tmp/pwned)
# `touch /tmp/pwned`   "; touch /tmp/pwned #   newlines, backslashes and
# the quote-replacement sequence '"'"' itself, sent through every string
# field that reaches a shell -- exec command, args, cwd, env values, stdin,
# sessionId; requestedCwd and sessionId of acquire, resume and probe.
#
# Asserted by effect inside the lease container: no file named *pwned*
# appears anywhere (a control block proves the detector sees one), and each
# value arrives verbatim: printf prints the args and env values back, pwd
# prints the odd cwd, a program at an odd path reports its own path, the
# odd requestedCwd directory holds the sentinel whose JSON carries the
# requestedCwd and sessionId unchanged, probe's pwd prints the odd path.
# Lease ids cannot carry a payload at all (D6: 400, nothing created).
#
# One reusable lease (pc-env-t150-inject) is acquired by the first block
# and deleted by the last one; the blocks run in order.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_keys);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t150-inject';

# the payloads for field $f; each one would create /tmp/pwned-<f>-<n> if it
# escaped its quoting (none starts or ends with whitespace: the bridge
# trims requestedCwd and sessionId)
sub payloads {
    my $f = shift;
    return (
        "'; touch /tmp/pwned-$f-1; '",
        "\$(touch /tmp/pwned-$f-2)",
        "`touch /tmp/pwned-$f-3`",
        "\"; touch /tmp/pwned-$f-4 #",
        "a\ntouch /tmp/pwned-$f-5\nb",
        "c\\'; touch /tmp/pwned-$f-6; \\'d",
        "'\"'\"'; touch /tmp/pwned-$f-7; '\"'\"'",
        "e\\\ntouch /tmp/pwned-$f-8",
        "\${IFS}\$(touch\${IFS}/tmp/pwned-$f-9)&& touch /tmp/pwned-$f-9b|| touch /tmp/pwned-$f-9c",
        "%s%n%x \\x27 \\047; touch /tmp/pwned-$f-10 & \\",
    );
}

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }
sub jsc { JSON::PP->new->utf8->canonical->encode($_[0]) }

sub post { "POST $API$_[0]\n$_[1]" }

sub ex {
    my ($body) = @_;
    return post('/exec', json_encode({ providerLeaseId => $LEASE, %$body }));
}

sub res {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err) . '}';
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

# acquire/resume request and their exact 200 body (exact key order)
sub acquire {
    my (%m) = @_;
    return post('/leases/acquire', json_encode({ environmentId => 't150-inject', runId => 'run-1',
        reuseLease => JSON::PP::true, keepAlive => JSON::PP::true, sleepAfter => '1h', %m }));
}

sub resume {
    my (%m) = @_;
    return post('/leases/resume', json_encode({ providerLeaseId => $LEASE,
        keepAlive => JSON::PP::true, sleepAfter => '1h', %m }));
}

sub lease_body {
    my (%m) = @_;
    return '{"providerLeaseId":' . js($LEASE) . ',"metadata":{"provider":"docker"'
         . ',"remoteCwd":' . js($m{cwd}) . ',"sandboxId":' . js($LEASE)
         . ',"sessionStrategy":"named","sessionId":' . js($m{session})
         . ',"keepAlive":true,"sleepAfter":"1h","normalizeId":true'
         . ',"resumedLease":' . ($m{resumed} ? 'true' : 'false') . '}}';
}

# the exec result of `cat <cwd>/.paperclip-lease.json` (README "Protocol")
sub sentinel_cat {
    my (%m) = @_;
    my @kv = (
        provider => js('docker'), providerLeaseId => js($LEASE), remoteCwd => js($m{cwd}),
        sessionStrategy => js('named'), sessionId => js($m{session}), keepAlive => 'true',
        sleepAfter => js('1h'), normalizeId => 'true',
        resumedLease => ($m{resumed} ? 'true' : 'false'), updatedAt => '"UPDATEDAT"',
    );
    my @lines;
    for (my $i = 0; $i < @kv; $i += 2) {
        push @lines, qq{  "$kv[$i]": $kv[$i + 1]};
    }
    my $re = quotemeta(res(0, "{\n" . join(",\n", @lines) . "\n}\n", ''));
    $re =~ s/UPDATEDAT/\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z/;
    return qr/\A$re\z/;
}

sub cat_sentinel {
    my $cwd = shift;
    return ex({ command => 'cat', args => ["$cwd/.paperclip-lease.json"] });
}

# every file or directory named *pwned* outside the odd test directories
# (/workspace/t150-*), then "done"
our $DETECT = { command => 'sh', args => ['-c',
    q{find / -xdev \( -path /proc -o -path /sys -o -path '/workspace/t150-*' \) -prune -o -name '*pwned*' -print; echo done}] };

our $CLEAN = res(0, "done\n", '');

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub containers {
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":["paperclip.bridge.prefix=t150:"]}');
}

# this file's lease records in Redis (<prefix>lease:{<id>})
sub lease_keys { my @k = redis_keys($ENV{TEST_NGINX_REDIS_PORT}, 't150:lease:*'); return sort @k }

# asserts (as a test of its own) that no lease record of this file is left,
# waiting up to 2 s for asynchronous clean-up
sub no_lease_keys_left {
    my @k;
    for (1 .. 20) { @k = lease_keys(); last unless @k; select undef, undef, undef, 0.1 }
    Test::More::is("@k", '', 'no t150:lease:* key is left in Redis');
}


our $INVALID = qr/\A\{"error":"invalid_request","message":"(?:[^"\\]|\\.)+"\}\z/;

bridge_blocks(prefix => 't150', timeout => 20, no_error_log => "[error]\n");

run_tests();

__DATA__

=== TEST 1: acquire the reusable lease used by this file
--- request eval
::acquire()
--- response_body eval
::lease_body(cwd => '/workspace/paperclip', session => 'paperclip')



=== TEST 2: (control) the detector sees a *pwned* file, and the container starts clean
--- request eval
[ ::ex($::DETECT),
  ::ex({ command => 'touch', args => ['/tmp/pwned-control'] }),
  ::ex($::DETECT),
  ::ex({ command => 'rm', args => ['/tmp/pwned-control'] }),
  ::ex($::DETECT) ]
--- response_body eval
[ $::CLEAN, ::res(0, '', ''), ::res(0, "/tmp/pwned-control\ndone\n", ''), ::res(0, '', ''), $::CLEAN ]



=== TEST 3: args: every payload is printed back exactly, nothing escaped
--- request eval
[ ::ex({ command => 'printf', args => ["[%s]\n", ::payloads('args')] }), ::ex($::DETECT) ]
--- response_body eval
[ ::res(0, CORE::join('', map { "[$_]\n" } ::payloads('args')), ''), $::CLEAN ]



=== TEST 4: env values: every payload arrives in its variable exactly, nothing escaped
--- request eval
my @p = ::payloads('env');
my %env = map { (sprintf('V%02d', $_ + 1) => $p[$_]) } 0 .. $#p;
[ ::ex({ command => 'sh', args => ['-c', 'printf "[%s]\n" ' . CORE::join(' ', map { sprintf '"$V%02d"', $_ } 1 .. @p)], env => \%env }),
  ::ex($::DETECT) ]
--- response_body eval
[ ::res(0, CORE::join('', map { "[$_]\n" } ::payloads('env')), ''), $::CLEAN ]



=== TEST 5: env keys are never written into the script: a payload key is refused (500, README "Exec"), nothing runs
--- request eval
[ ::post('/exec', ::jsc({ providerLeaseId => $::LEASE, command => 'true', env => { 'A=1; touch /tmp/pwned-envkey-1 #' => 'x' } })),
  ::post('/exec', ::jsc({ providerLeaseId => $::LEASE, command => 'true', env => { '$(touch /tmp/pwned-envkey-2)' => 'x' } })),
  ::post('/exec', ::jsc({ providerLeaseId => $::LEASE, command => 'true', env => { "A\ntouch /tmp/pwned-envkey-3" => 'x' } })),
  ::ex($::DETECT) ]
--- error_code eval
[500, 500, 500, 200]
--- response_body eval
[ '{"error":"internal_error","message":"Invalid sandbox environment variable key: A=1; touch /tmp/pwned-envkey-1 #"}',
  '{"error":"internal_error","message":"Invalid sandbox environment variable key: $(touch /tmp/pwned-envkey-2)"}',
  '{"error":"internal_error","message":"Invalid sandbox environment variable key: A\ntouch /tmp/pwned-envkey-3"}',
  $::CLEAN ]



=== TEST 6: cwd: a directory named after each payload is created (through args) ...
--- request eval
::ex({ command => 'mkdir', args => ['-p', map { "/workspace/t150-cwd/$_" } ::payloads('cwd')] })
--- response_body eval
::res(0, '', '')



=== TEST 7: ... and `pwd` in it prints the payload path exactly; nothing escaped
--- request eval
[ (map { ::ex({ command => 'pwd', cwd => "/workspace/t150-cwd/$_" }) } ::payloads('cwd')), ::ex($::DETECT) ]
--- response_body eval
[ (map { ::res(0, "/workspace/t150-cwd/$_\n", '') } ::payloads('cwd')), $::CLEAN ]



=== TEST 8: command: a program is installed at a path made of each payload (through args) ...
--- request eval
::ex({ command => 'sh', args => ['-c', q{printf '#!/bin/sh\nprintf "ran:%%s" "$0"\n' > /workspace/t150-tpl && chmod +x /workspace/t150-tpl && for p in "$@"; do mkdir -p "$(dirname "$p")" && cp /workspace/t150-tpl "$p" || exit 1; done; echo installed},
     'sh', map { "/workspace/t150-cmd/$_" } ::payloads('command')] })
--- response_body eval
::res(0, "installed\n", '')



=== TEST 9: ... and running each path as the command runs exactly that program (it reports its own path); nothing escaped
--- request eval
[ (map { ::ex({ command => "/workspace/t150-cmd/$_" }) } ::payloads('command')), ::ex($::DETECT) ]
--- response_body eval
[ (map { ::res(0, "ran:/workspace/t150-cmd/$_", '') } ::payloads('command')), $::CLEAN ]



=== TEST 10: a bare payload as the command is one (missing) program name: 127, nothing escaped
--- request eval
[ (map { ::ex({ command => $_ }) } ::payloads('command-bare')), ::ex($::DETECT) ]
--- response_body_like eval
[ (qr/\A\{"exitCode":127,"signal":null,"timedOut":false,"stdout":"","stderr":"(?:[^"\\]|\\.)*"\}\z/) x 10,
  ::exact($::CLEAN) ]



=== TEST 11: stdin: the payloads arrive byte for byte, nothing escaped
--- request eval
[ ::ex({ command => 'cat', stdin => CORE::join("\n", ::payloads('stdin')) }), ::ex($::DETECT) ]
--- response_body eval
[ ::res(0, CORE::join("\n", ::payloads('stdin')), ''), $::CLEAN ]



=== TEST 12: exec sessionId: each payload, also streaming: the command runs normally; nothing escaped
--- request eval
[ (map { ::ex({ command => 'echo', args => ['ok'], sessionId => $_ }) } ::payloads('sessionId')),
  (map { ::ex({ command => 'echo', args => ['ok'], sessionId => $_, sessionStrategy => 'default' }) } ::payloads('sessionId-default')),
  ::ex({ command => 'echo', args => ['ok'], sessionId => (::payloads('sessionId-stream'))[0], streamOutput => JSON::PP::true }),
  ::ex({ command => 'echo', args => ['ok'], sessionId => (::payloads('sessionId-stream'))[4], streamOutput => JSON::PP::true }),
  ::ex($::DETECT) ]
--- response_body eval
[ (::res(0, "ok\n", '')) x 20,
  (qq{event: stdout\ndata: {"data":"ok\\n"}\n\nevent: complete\ndata: } . ::res(0, "ok\n", '') . "\n\n") x 2,
  $::CLEAN ]



=== TEST 13: acquire + resume: requestedCwd and sessionId payloads arrive verbatim (metadata, directory, sentinel JSON); nothing escaped
--- request eval
my @cwd = map { "/workspace/t150-rc/$_" } ::payloads('requestedCwd');
my @sa  = ::payloads('sessionId-acquire');
my @sr  = ::payloads('sessionId-resume');
[ (map { (::acquire(requestedCwd => $cwd[$_], sessionId => $sa[$_]),
          ::cat_sentinel($cwd[$_]),
          ::resume(requestedCwd => $cwd[$_], sessionId => $sr[$_]),
          ::cat_sentinel($cwd[$_])) } 0 .. $#cwd),
  ::ex($::DETECT) ]
--- response_body_like eval
my @cwd = map { "/workspace/t150-rc/$_" } ::payloads('requestedCwd');
my @sa  = ::payloads('sessionId-acquire');
my @sr  = ::payloads('sessionId-resume');
[ (map { (::exact(::lease_body(cwd => $cwd[$_], session => $sa[$_])),
          ::sentinel_cat(cwd => $cwd[$_], session => $sa[$_]),
          ::exact(::lease_body(cwd => $cwd[$_], session => $sr[$_], resumed => 1)),
          ::sentinel_cat(cwd => $cwd[$_], session => $sr[$_], resumed => 1)) } 0 .. $#cwd),
  ::exact($::CLEAN) ]



=== TEST 14: resume with a requestedCwd crafted to make an unquoted `test -s` succeed -> 409; nothing created, nothing escaped
(`test -s '<cwd>/.paperclip-lease.json'` with cwd  /x' -o -n 'y  would be
true if the quoting broke.)
--- request eval
[ ::resume(requestedCwd => "/workspace/t150-none' -o -n 'y"),
  ::resume(requestedCwd => "/workspace/t150-none'; test -n '1"),
  ::resume(requestedCwd => "/workspace/t150-none\" -o -n \"y"),
  ::ex({ command => 'sh', args => ['-c', q{ls -d /workspace/t150-none* 2>/dev/null; echo listed}] }),
  ::ex($::DETECT) ]
--- error_code eval
[409, 409, 409, 200, 200]
--- response_body eval
[ ('{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}') x 3,
  ::res(0, "listed\n", ''), $::CLEAN ]



=== TEST 15: probe: requestedCwd and sessionId payloads; its pwd prints the payload path exactly
(probe destroys its container, so what shows that nothing escaped is the
exact pwd output of the odd path.)
--- request eval
my @p = ::payloads('probe');
my @s = ::payloads('sessionId-probe');
[ ::post('/probe', ::json_encode({ requestedCwd => '/workspace/t150-probe/' . CORE::join('/', @p[0 .. 4]), sessionId => $s[0] })),
  ::post('/probe', ::json_encode({ requestedCwd => '/workspace/t150-probe/' . CORE::join('/', @p[5 .. 9]), sessionId => $s[4] })) ]
--- error_code eval
[200, 200]
--- response_body_like eval
my @p = ::payloads('probe');
[ map { my $cwd = $_; qr/\A\{"ok":true,"summary":"(?:[^"\\]|\\.)*","metadata":\{"provider":"docker","remoteCwd":\Q${\ ::js($cwd)}\E,"namedSessions":true,"stdout":\Q${\ ::js("$cwd\n")}\E\}\}\z/ }
    '/workspace/t150-probe/' . CORE::join('/', @p[0 .. 4]), '/workspace/t150-probe/' . CORE::join('/', @p[5 .. 9]) ]



=== TEST 16: lease ids cannot carry a payload: 400 invalid_request (D6) on acquire, exec, resume, release and DELETE; no container is created
--- request eval
sub {
Test::More::is(CORE::join(' ', ::lease_keys()), 't150:lease:{pc-env-t150-inject}',
               'before: only the lease of this file is stored');
[ ::post('/leases/acquire', ::json_encode({ environmentId => "x'; touch /tmp/pwned-envid; '", runId => 'r', reuseLease => JSON::PP::true, normalizeId => JSON::PP::false })),
  ::post('/leases/acquire', ::json_encode({ environmentId => 'e', runId => '$(touch /tmp/pwned-runid)', normalizeId => JSON::PP::false })),
  ::post('/exec', ::json_encode({ providerLeaseId => "pc-x'; touch /tmp/pwned-id; '", command => 'true' })),
  ::post('/leases/resume', ::json_encode({ providerLeaseId => '`touch /tmp/pwned-id`' })),
  ::post('/leases/release', ::json_encode({ providerLeaseId => "pc-x\ntouch /tmp/pwned-id" })),
  "DELETE $::API/leases/" . ::uri_escape("pc-x'; touch /tmp/pwned-id; '"),
  ::containers(),
  ::ex($::DETECT) ]
}
--- error_code eval
[ (400) x 6, 200, 200 ]
--- response_body_like eval
[ ($::INVALID) x 6,
  qr/\A\[\{(?:(?!\{"Id":).)*"paperclip\.bridge\.lease":"pc-env-t150-inject"(?:(?!\{"Id":).)*\}\]\s*\z/s,
  ::exact($::CLEAN) ]



=== TEST 17: delete the lease; nothing of this file is left
--- request eval
[ "DELETE $::API/leases/$::LEASE", ::containers() ]
--- response_body_like eval
[ qr/\A\{"ok":true\}\z/, qr/\A\[\]\s*\z/ ]



=== TEST 18: no lease record of this file is left in Redis (the payload ids of TEST 16 stored none)
--- request eval
sub {
::no_lease_keys_left();
::containers()
}
--- response_body_like eval
qr/\A\[\]\s*\z/
