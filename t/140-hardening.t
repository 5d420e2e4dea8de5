# Container hardening (GitHub issue "Security"; README: sandbox_network,
# sandbox_memory, sandbox_pids_limit, sandbox_cpus, sandbox_cap_add,
# sandbox_no_new_privileges, sandbox_read_only_root).
#
# Three lease containers, each acquired through its own location:
#   default  every default: no network, memory 1g, pids 512, 1 cpu, CapDrop
#            ALL + CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
#            (CapEff 0x00000000000000fb), no-new-privileges, writable root
#   strict   sandbox_cap_add none (CapEff 0), read-only root, memory 64m,
#            pids 64, 0.5 cpu
#   loose    sandbox_cap_add CHOWN KILL (CapEff 0x21), no_new_privileges off,
#            memory/pids/cpus 0 (none), sandbox_network host
# Everything is checked from inside the container through the bridge's own
# exec (/proc/self/status, /sys/class/net, /proc/net/dev, the cgroup files,
# what a root shell may and may not do) and through a test-only Docker
# inspection location (GET /_inspect/containers/<name>/json).
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use SandboxBridge::Stream qw(json_encode);
use SandboxBridge::Scenario qw(redis_keys);

no_shuffle();

# make test-runsc: every container under gVisor (README "gVisor"), whose
# /proc/self/status has no CapAmb or NoNewPrivs line, which shows no cgroup
# file system inside and has no network but lo (runsc --network=none); and
# whose own host threads count against the pids limit (about 70 when
# idle), so the strict location gets 256 there instead of 64
our $GVISOR = ($ENV{TEST_NGINX_SANDBOX_RUNTIME} // '') eq 'runsc';
$ENV{TEST_NGINX_T140_PIDS} = $GVISOR ? 256 : 64;

our $API = '/api/paperclip-sandbox/v1';

# exec request on lease pc-env-t140-<v> (always through the plain location)
sub ex {
    my ($v, $body) = @_;
    return "POST $API/exec\n" . json_encode({ providerLeaseId => "pc-env-t140-$v", %$body });
}

sub acquire {
    my ($v, $base) = @_;
    return "POST $base$API/leases/acquire\n"
         . qq{{"environmentId":"t140-$v","runId":"run-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}};
}

sub inspect { "GET /_inspect/containers/t140-pc-env-t140-$_[0]/json" }

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

sub res {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . ($code // 'null') . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err) . '}';
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

# a regex for literal text inside a JSON string (as the bridge escapes it)
sub lit { my $j = js($_[0]); quotemeta(substr $j, 1, -1) }

# the exec result whose stdout matches $re (a regex on the JSON-escaped text)
sub out_like {
    my ($re, $code) = @_;
    $code //= 0;
    return qr/\A\{"exitCode":$code,"signal":null,"timedOut":false,"stdout":"$re","stderr":"(?:[^"\\]|\\.)*"\}\z/;
}

# one report of the security-relevant state, as seen by a process the
# bridge's exec starts (grep's own /proc/self/status)
our $REPORT = { command => 'sh', args => ['-c', join "\n",
    q{grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status | tr '\t' ' '},
    q{echo "net: $(ls /sys/class/net | tr '\n' ' ')"},
    q{echo "dev: $(sed -n 's/^ *\([^ :|]*\):.*/\1/p' /proc/net/dev | tr '\n' ' ')"},
    q{echo "pids: $(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max 2>/dev/null)"},
    q{echo "mem: $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null)"},
    q{echo "cpu: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)")"},
] };

# the expected report (one line each); under gVisor without the lines it
# cannot show and with the cgroup values empty
sub report {
    my @l = @_;
    if ($::GVISOR) {
        @l = grep { !/^(?:CapAmb|NoNewPrivs):/ } @l;
        s/^(pids|mem): .*/$1: / for @l;
        s/^cpu: .*/cpu:  / for @l;
    }
    return CORE::join('', map { "$_\n" } @l);
}

# what root may do: change a file's owner (CHOWN), read a mode-000 file of
# another user (DAC_OVERRIDE), write /etc (root file system), /workspace, /tmp
our $ROOT_CAN = { command => 'sh', args => ['-c', join "\n",
    q{f=/tmp/t140-f; rm -f $f; echo secret > $f; chmod 000 $f},
    q{chown 65534:65534 $f 2>/dev/null && echo "chown: ok" || echo "chown: denied"},
    q{cat $f >/dev/null 2>&1 && echo "read 000: ok" || echo "read 000: denied"},
    q{rm -f $f},
    q{for d in /etc /workspace /tmp; do touch $d/t140-w 2>/dev/null && rm -f $d/t140-w && echo "write $d: ok" || echo "write $d: denied"; done},
] };

our $NONE = qr/\A\[\]\s*\z/;

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub containers {
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":["paperclip.bridge.prefix=t140:"]}');
}

# CapAdd holds exactly these capabilities (any order, CAP_ prefix optional)
sub cap_add {
    my @caps = @_;
    return '"CapAdd":(?:null|\[\])' unless @caps;
    return '"CapAdd":\[' . join('', map { "(?=[^\\]]*\"(?:CAP_)?$_\")" } @caps)
         . ('"[A-Z_]+",' x (@caps - 1)) . '"[A-Z_]+"\]';
}

# lookaheads on the inspection JSON
sub has { join '', map { "(?=.*$_)" } @_ }

# this file's lease records in Redis (<prefix>lease:{<id>})
sub lease_keys { my @k = redis_keys($ENV{TEST_NGINX_REDIS_PORT}, 't140:lease:*'); return sort @k }

# asserts (as a test of its own) that no lease record of this file is left,
# waiting up to 2 s for asynchronous clean-up
sub no_lease_keys_left {
    my @k;
    for (1 .. 20) { @k = lease_keys(); last unless @k; select undef, undef, undef, 0.1 }
    Test::More::is("@k", '', 'no t140:lease:* key is left in Redis');
}


# the anonymous volumes of a container (read-only root: /workspace, /tmp)
sub volumes_of {
    my $name = shift;
    my $out = `docker inspect --format '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{"\\n"}}{{end}}' $name 2>&1`;
    die "docker inspect $name failed: $out" if $?;
    return map { (split ' ')[1] } grep { /^volume / } split /\n/, $out;
}

bridge_blocks(prefix => 't140', timeout => 20, no_error_log => "[error]\n",
              locations => <<'_EOC_');
    location /strict/api/paperclip-sandbox/v1 {
        sandbox_cap_add none;
        sandbox_read_only_root on;
        sandbox_memory 64m;
        sandbox_pids_limit $TEST_NGINX_T140_PIDS;
        sandbox_cpus 0.5;
        sandbox_bridge;
    }
    location /loose/api/paperclip-sandbox/v1 {
        sandbox_cap_add CHOWN KILL;
        sandbox_no_new_privileges off;
        sandbox_memory 0;
        sandbox_pids_limit 0;
        sandbox_cpus 0;
        sandbox_network host;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire the three lease containers (default, strict, loose)
--- request eval
[ ::acquire('default', ''), ::acquire('strict', '/strict'), ::acquire('loose', '/loose') ]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[ map { qr/\A\{"providerLeaseId":"pc-env-t140-$_","metadata":\{"provider":"docker",.*"resumedLease":false\}\}\z/ } qw(default strict loose) ]



=== TEST 2: defaults, from inside: CapEff 0xfb (the documented seven), NoNewPrivs 1, only lo, pids 512, memory 1g, 1 cpu
--- request eval
::ex('default', $::REPORT)
--- response_body eval
::res(0, ::report(
    'CapPrm: 00000000000000fb', 'CapEff: 00000000000000fb', 'CapBnd: 00000000000000fb',
    'CapAmb: 0000000000000000', 'NoNewPrivs: 1', 'net: lo ', 'dev: lo ',
    'pids: 512', 'mem: 1073741824', 'cpu: 100000 100000'), '')



=== TEST 3: defaults, through Docker: NetworkMode none, PidsLimit 512, Memory 1g, NanoCpus 1e9, CapDrop ALL + the seven, no-new-privileges, writable root
--- request eval
::inspect('default')
--- response_body_like eval
my $re = ::has('"NetworkMode":"none"', '"PidsLimit":512[,}]', '"Memory":1073741824[,}]',
             '"NanoCpus":1000000000[,}]', '"CapDrop":\["(?:CAP_)?ALL"\]',
             ::cap_add(qw(CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID)),
             '"SecurityOpt":\["no-new-privileges"\]', '"ReadonlyRootfs":false');
qr/\A\{"Id":"[0-9a-f]{64}".*$re/s



=== TEST 4: defaults, by effect: root may chown and override file modes; /etc, /workspace and /tmp are writable
--- request eval
::ex('default', $::ROOT_CAN)
--- response_body eval
::res(0, "chown: ok\nread 000: ok\nwrite /etc: ok\nwrite /workspace: ok\nwrite /tmp: ok\n", '')



=== TEST 5: strict (cap_add none, read-only root, 64m, pids 64, 0.5 cpu), from inside: no capability at all, NoNewPrivs 1, only lo, the limits
--- request eval
::ex('strict', $::REPORT)
--- response_body eval
::res(0, ::report(
    'CapPrm: 0000000000000000', 'CapEff: 0000000000000000', 'CapBnd: 0000000000000000',
    'CapAmb: 0000000000000000', 'NoNewPrivs: 1', 'net: lo ', 'dev: lo ',
    'pids: 64', 'mem: 67108864', 'cpu: 50000 100000'), '')



=== TEST 6: strict, through Docker: no CapAdd, CapDrop ALL, read-only root with /workspace and /tmp as volumes, the limits
--- request eval
::inspect('strict')
--- response_body_like eval
my $re = ::has('"NetworkMode":"none"', "\"PidsLimit\":$ENV{TEST_NGINX_T140_PIDS}\[,}]", '"Memory":67108864[,}]',
             '"NanoCpus":500000000[,}]', '"CapDrop":\["(?:CAP_)?ALL"\]', ::cap_add(),
             '"SecurityOpt":\["no-new-privileges"\]', '"ReadonlyRootfs":true',
             '"Type":"volume"[^{}]*"Destination":"/workspace"', '"Type":"volume"[^{}]*"Destination":"/tmp"');
qr/\A\{"Id":"[0-9a-f]{64}".*$re/s



=== TEST 7: strict, by effect: no chown, no mode override, /etc is read-only; /workspace and /tmp are writable
--- request eval
::ex('strict', $::ROOT_CAN)
--- response_body eval
::res(0, "chown: denied\nread 000: denied\nwrite /etc: denied\nwrite /workspace: ok\nwrite /tmp: ok\n", '')



=== TEST 8: strict, read-only root: the sentinel was written, stdin staging works, the staged file is removed, a direct write to /etc fails
--- request eval
[ ::ex('strict', { command => 'cat', args => ['/workspace/paperclip/.paperclip-lease.json'] }),
  ::ex('strict', { command => 'sh', args => ['-c', 'cat; echo; ls -a /tmp | grep -c "^\.paperclip-bridge-stdin-"'], stdin => "staged on a read-only root\n" }),
  ::ex('strict', { command => 'sh', args => ['-c', 'i=0; while [ $i -lt 30 ]; do ls -a /tmp | grep -q "^\.paperclip-bridge-stdin-" || { echo clean; exit 0; }; i=$((i+1)); sleep 0.1; done; ls -a /tmp'] }),
  ::ex('strict', { command => 'sh', args => ['-c', 'echo x > /etc/t140-ro'] }),
  "POST $::API/leases/resume\n" . '{"providerLeaseId":"pc-env-t140-strict","keepAlive":true,"sleepAfter":"1h"}' ]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[ ::out_like(::lit(qq|{\n  "provider": "docker",\n  "providerLeaseId": "pc-env-t140-strict",\n  "remoteCwd": "/workspace/paperclip",|)
           . '(?:[^"\\\\]|\\\\.)*'),
  ::exact(::res(0, "staged on a read-only root\n\n1\n", '')),
  ::exact(::res(0, "clean\n", '')),
  qr/\A\{"exitCode":[1-9][0-9]*,"signal":null,"timedOut":false,"stdout":"","stderr":"[^"]*Read-only file system[^"]*"\}\z/,
  qr/\A\{"providerLeaseId":"pc-env-t140-strict","metadata":\{.*"resumedLease":true\}\}\z/ ]



=== TEST 9: loose (CHOWN KILL, no_new_privileges off, no limits, network host), from inside: CapEff 0x21, NoNewPrivs 0, the host's interfaces, no limits
--- request eval
::ex('loose', $::REPORT)
--- response_body_like eval
$::GVISOR
? ::exact(::res(0, ::report('CapPrm: 0000000000000021', 'CapEff: 0000000000000021',
    'CapBnd: 0000000000000021', 'net: lo ', 'dev: lo ', 'pids: ', 'mem: ', 'cpu: '), ''))
: ::out_like(CORE::join '',
    ::lit("CapPrm: 0000000000000021\nCapEff: 0000000000000021\nCapBnd: 0000000000000021\n"
        . "CapAmb: 0000000000000000\nNoNewPrivs: 0\n"),
    # some interface other than lo, in both lists
    'net: (?=[a-z0-9_. -]*\b(?!lo )[a-z][a-z0-9_.-]* )[a-z0-9_. -]*\\\\n',
    'dev: (?=[a-z0-9_. -]*\b(?!lo )[a-z][a-z0-9_.-]* )[a-z0-9_. -]*\\\\n',
    'pids: max\\\\n', 'mem: (?:max|9223372036854\d{6})\\\\n', 'cpu: (?:max|-1) 100000\\\\n')



=== TEST 10: loose, through Docker: NetworkMode host, no limits, exactly CHOWN KILL added, no SecurityOpt
--- request eval
::inspect('loose')
--- response_body_like eval
my $re = ::has('"NetworkMode":"host"', '"PidsLimit":(?:null|0)[,}]', '"Memory":0[,}]',
             '"NanoCpus":0[,}]', '"CapDrop":\["(?:CAP_)?ALL"\]', ::cap_add(qw(CHOWN KILL)),
             '"SecurityOpt":null', '"ReadonlyRootfs":false');
qr/\A\{"Id":"[0-9a-f]{64}".*$re/s



=== TEST 11: loose, by effect: CHOWN works, but no DAC_OVERRIDE: a mode-000 file of another user cannot be read
--- request eval
::ex('loose', $::ROOT_CAN)
--- response_body eval
::res(0, "chown: ok\nread 000: denied\nwrite /etc: ok\nwrite /workspace: ok\nwrite /tmp: ok\n", '')



=== TEST 12: delete the three leases: containers and the read-only root's anonymous volumes are gone
--- request eval
sub {
my @vols = ::volumes_of('t140-pc-env-t140-strict');
die "expected 2 anonymous volumes, got: @vols" unless @vols == 2;
[ (map { "DELETE $::API/leases/pc-env-t140-$_" } qw(default strict loose)),
  ::containers(),
  (map { "GET /_inspect/volumes/$_" } @vols) ]
}
--- error_code eval
[200, 200, 200, 200, 404, 404]
--- response_body_like eval
[ (qr/\A\{"ok":true\}\z/) x 3, $::NONE, (qr/no such volume/i) x 2 ]



=== TEST 13: no lease record of this file is left in Redis
--- request eval
sub {
::no_lease_keys_left();
::containers()
}
--- response_body_like eval
$::NONE
