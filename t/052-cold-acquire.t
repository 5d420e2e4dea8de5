# Cold acquire (README "Protocol", "Lease records and the reaper"): a new
# lease container gets its workspace and sentinel from a tar archive the
# bridge uploads before the start, with no Docker exec; a container that
# exists already (a reused lease) gets them by commands, as before.
#
# Docker's own events of the container (GET /_inspect/events) show which
# calls an acquire made: create, extract-to-dir (the archive), start, and
# exec_create for each command. The same container then holds a workspace
# made each way, whose owners, modes and sentinels must be the same; the
# sentinel the archive wrote satisfies resume. A read-only root unpacks
# into the volume of the workspace, a probe's cwd is made the same way,
# and a cwd under /proc still fails as before (the runtime mounts /proc at
# the start, over what an archive would have put there).
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);
use Time::HiRes ();

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';
our $NONE = qr/\A\[\]\s*\z/;

# tar names over 100 bytes: the sentinel's fits ustar's 155-byte prefix
# and 100-byte name; with a 150-byte directory name it does not
our $SPLIT = '/workspace/' . join('/', ('s' x 40) x 3);
our $PAX   = '/workspace/' . ('p' x 60) . '/' . ('q' x 150);

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# acquire of the reusable lease pc-env-t052-<v>
sub acquire {
    my ($v, $cwd, $base) = @_;
    return "POST " . ($base // '') . "$API/leases/acquire\n"
         . json_encode({ environmentId => "t052-$v", runId => 'run-1',
                         reuseLease => JSON::PP::true, keepAlive => JSON::PP::true,
                         sleepAfter => '1h', requestedCwd => $cwd });
}

sub lease_body {
    my ($v, $cwd, $resumed) = @_;
    return qr/\A\Q{"providerLeaseId":"pc-env-t052-$v","metadata":{"provider":"docker","remoteCwd":\E\Q${\ js($cwd)}\E\Q,"sandboxId":"pc-env-t052-$v","sessionStrategy":"named","sessionId":"paperclip","keepAlive":true,"sleepAfter":"1h","normalizeId":true,"resumedLease":\E$resumed\}\}\z/;
}

sub ex {
    my ($v, $sh) = @_;
    return "POST $API/exec\n"
         . json_encode({ providerLeaseId => "pc-env-t052-$v", command => 'sh',
                         args => ['-c', $sh] });
}

sub exact { my $s = shift; qr/\A\Q$s\E\z/ }

# exit code 1 with this stdout and a "Read-only file system" on stderr
sub ro_fail {
    my $out = js(shift);
    return qr/\A\Q{"exitCode":1,"signal":null,"timedOut":false,"stdout":$out,"stderr":"\E[^"]*Read-only file system\\n"\}\z/;
}

sub res {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . $code . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err) . '}';
}

# Docker's events of a lease's container between two points in time
sub events {
    my ($v, $since, $until) = @_;
    return sprintf "GET /_inspect/events?since=%.6f&until=%.6f&filters=%s",
        $since, $until,
        uri_escape('{"container":["t052-pc-env-t052-' . $v . '"]}');
}

# create, the archive, start, in this order, and no exec
our $COLD = qr/\A(?!.*"exec_create)(?=.*"Action":"create".*"Action":"extract-to-dir".*"Action":"start")/s;

sub containers {
    return "GET /_inspect/containers/json?all=1&filters="
         . uri_escape('{"label":["paperclip.bridge.prefix=t052:"]}');
}

# owner, mode and type of each path, one line each
sub stat_sh { 'stat -c "%n %u:%g %a %F" ' . join ' ', @_ }

sub stat_out {
    my ($dirs, $file) = @_;
    return join '', (map { "$_ 0:0 755 directory\n" } @$dirs),
                    "$file 0:0 644 regular file\n";
}

# the sentinel (README "Protocol"), JSON with two spaces of indent
sub sentinel {
    my ($v, $cwd, $resumed) = @_;
    my $iso = '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z';
    my $text = "{\n"
        . qq{  "provider": "docker",\n}
        . qq{  "providerLeaseId": "pc-env-t052-$v",\n}
        . qq{  "remoteCwd": "$cwd",\n}
        . qq{  "sessionStrategy": "named",\n}
        . qq{  "sessionId": "paperclip",\n}
        . qq{  "keepAlive": true,\n}
        . qq{  "sleepAfter": "1h",\n}
        . qq{  "normalizeId": true,\n}
        . qq{  "resumedLease": $resumed,\n}
        . qq{  "updatedAt": "};
    my $json = js($text);
    $json = quotemeta substr $json, 0, -1;
    return qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":$json$iso\\"\\n\}\\n","stderr":""\}\z/;
}

cleanup_prefix('t052');

bridge_blocks(prefix => 't052', timeout => 30, no_error_log => "[error]\n",
              locations => <<'_EOC_');
    location /ro/api/paperclip-sandbox/v1 {
        sandbox_read_only_root on;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: cold acquire with a nested cwd: 200
--- request eval
sub {
$::T0 = Time::HiRes::time();
::acquire('a', '/workspace/a/b/c')
}
--- response_body_like eval
::lease_body('a', '/workspace/a/b/c', 'false')



=== TEST 2: ... Docker saw create, the archive and start, and no exec
--- request eval
sub {
Time::HiRes::sleep(0.3);
$::T1 = Time::HiRes::time();
::events('a', $::T0, $::T1)
}
--- response_body_like eval
$::COLD



=== TEST 3: ... the sentinel is the JSON of the acquire, newline-terminated
--- request eval
::ex('a', 'cat /workspace/a/b/c/.paperclip-lease.json')
--- response_body_like eval
::sentinel('a', '/workspace/a/b/c', 'false')



=== TEST 4: acquire of the same lease again with another cwd: its container exists, so commands make that workspace
--- request eval
sub {
$::T2 = Time::HiRes::time();
::acquire('a', '/workspace/x/y/z')
}
--- response_body_like eval
::lease_body('a', '/workspace/x/y/z', 'false')



=== TEST 5: ... which Docker saw as execs, and no archive
--- request eval
sub {
Time::HiRes::sleep(0.3);
$::T3 = Time::HiRes::time();
::events('a', $::T2, $::T3)
}
--- response_body_like eval
qr/\A(?!.*"extract-to-dir")(?=.*"Action":"exec_create: )/s



=== TEST 6: owners and modes: the archive's workspace is the commands' one (root's, 0755 directories, a 0644 sentinel)
--- request eval
::ex('a', ::stat_sh(qw(/workspace /workspace/a /workspace/a/b /workspace/a/b/c
                       /workspace/a/b/c/.paperclip-lease.json
                       /workspace/x /workspace/x/y /workspace/x/y/z
                       /workspace/x/y/z/.paperclip-lease.json)))
--- response_body eval
::res(0, "/workspace 0:0 777 directory\n"
       . ::stat_out([qw(/workspace/a /workspace/a/b /workspace/a/b/c)],
                    '/workspace/a/b/c/.paperclip-lease.json')
       . ::stat_out([qw(/workspace/x /workspace/x/y /workspace/x/y/z)],
                    '/workspace/x/y/z/.paperclip-lease.json'), '')



=== TEST 7: ... and both sentinels have the same form
--- request eval
::ex('a', 'cat /workspace/x/y/z/.paperclip-lease.json')
--- response_body_like eval
::sentinel('a', '/workspace/x/y/z', 'false')



=== TEST 8: a cold lease is resumed: the archive's sentinel is what resume checks; a command runs in its cwd
--- request eval
[ ::acquire('b', '/workspace/b'),
  "POST $::API/leases/resume\n"
  . '{"providerLeaseId":"pc-env-t052-b","requestedCwd":"/workspace/b","keepAlive":true,"sleepAfter":"1h"}',
  "POST $::API/exec\n"
  . '{"providerLeaseId":"pc-env-t052-b","command":"pwd","cwd":"/workspace/b"}' ]
--- response_body_like eval
[ ::lease_body('b', '/workspace/b', 'false'),
  ::lease_body('b', '/workspace/b', 'true'),
  ::exact(::res(0, "/workspace/b\n", '')) ]



=== TEST 9: read-only root: cold acquires with the cwd in the /workspace and in the /tmp volume
--- request eval
sub {
$::T4 = Time::HiRes::time();
[ ::acquire('ro', '/workspace/paperclip', '/ro'),
  ::acquire('rotmp', '/tmp/t052/w', '/ro') ]
}
--- response_body_like eval
[ ::lease_body('ro', '/workspace/paperclip', 'false'),
  ::lease_body('rotmp', '/tmp/t052/w', 'false') ]



=== TEST 10: ... without an exec
--- request eval
sub {
Time::HiRes::sleep(0.3);
$::T5 = Time::HiRes::time();
[ ::events('ro', $::T4, $::T5), ::events('rotmp', $::T4, $::T5) ]
}
--- response_body_like eval
[ $::COLD, $::COLD ]



=== TEST 11: ... the workspaces are there, writable, with the owners and modes of commands
--- request eval
[ ::ex('ro', ::stat_sh(qw(/workspace /workspace/paperclip
                          /workspace/paperclip/.paperclip-lease.json))
             . ' && touch /workspace/paperclip/f && touch /f'),
  ::ex('rotmp', ::stat_sh(qw(/tmp /tmp/t052 /tmp/t052/w /tmp/t052/w/.paperclip-lease.json))
                . ' && touch /tmp/t052/w/f') ]
--- response_body_like eval
[ ::ro_fail("/workspace 0:0 777 directory\n"
      . ::stat_out(['/workspace/paperclip'], '/workspace/paperclip/.paperclip-lease.json')),
  ::exact(::res(0, "/tmp 0:0 1777 directory\n"
      . ::stat_out([qw(/tmp/t052 /tmp/t052/w)], '/tmp/t052/w/.paperclip-lease.json'), '')) ]



=== TEST 12: ... and the sentinel is right
--- request eval
::ex('ro', 'cat /workspace/paperclip/.paperclip-lease.json')
--- response_body_like eval
::sentinel('ro', '/workspace/paperclip', 'false')



=== TEST 13: long cwds: one split into ustar's prefix and name, one in a pax header
--- request eval
[ ::acquire('split', $::SPLIT), ::acquire('pax', $::PAX),
  ::ex('split', ::stat_sh("$::SPLIT/.paperclip-lease.json")),
  ::ex('pax', ::stat_sh($::PAX, "$::PAX/.paperclip-lease.json")) ]
--- response_body_like eval
[ ::lease_body('split', $::SPLIT, 'false'), ::lease_body('pax', $::PAX, 'false'),
  ::exact(::res(0, "$::SPLIT/.paperclip-lease.json 0:0 644 regular file\n", '')),
  ::exact(::res(0, ::stat_out([$::PAX], "$::PAX/.paperclip-lease.json"), '')) ]



=== TEST 14: ... with their sentinels
--- request eval
[ ::ex('split', "cat $::SPLIT/.paperclip-lease.json"),
  ::ex('pax', "cat $::PAX/.paperclip-lease.json") ]
--- response_body_like eval
[ ::sentinel('split', $::SPLIT, 'false'), ::sentinel('pax', $::PAX, 'false') ]



=== TEST 15: a probe makes its cwd the same way and runs in it; "/" needs nothing
--- request eval
[ "POST $::API/probe\n" . '{"requestedCwd":"/workspace/probe/deep"}',
  "POST $::API/probe\n" . '{"requestedCwd":"/"}' ]
--- response_body_like eval
[ qr/\A\{"ok":true,"summary":"[^"]*","metadata":\{"provider":"docker","remoteCwd":"\/workspace\/probe\/deep","namedSessions":true,"stdout":"\/workspace\/probe\/deep\\n"\}\}\z/,
  qr/\A\{"ok":true,"summary":"[^"]*","metadata":\{"provider":"docker","remoteCwd":"\/","namedSessions":true,"stdout":"\/\\n"\}\}\z/ ]



=== TEST 16: a cwd under /proc fails as before: commands make it, after the start, and mkdir fails (the container is removed)
--- request eval
"POST $::API/leases/acquire\n"
. '{"environmentId":"t052-proc","runId":"t052-proc","requestedCwd":"/proc/t052"}'
--- error_code: 500
--- response_body_like eval
qr/\A\{"error":"internal_error","message":"ensure workspace \/proc\/t052 failed with exit code 1[^"]*"\}\z/
--- no_error_log
[crit]
[alert]



=== TEST 17: a read-only root with the cwd on no volume fails, as mkdir did (the container is removed)
--- request eval
"POST /ro$::API/leases/acquire\n"
. '{"environmentId":"t052-roopt","runId":"t052-roopt","requestedCwd":"/opt/t052"}'
--- error_code: 500
--- response_body_like eval
qr/\A\{"error":"internal_error","message":"prepare workspace failed: Docker API returned 500: container rootfs is marked read-only"\}\z/
--- no_error_log
[crit]
[alert]



=== TEST 18: delete the leases: nothing of this file is left
--- request eval
[ (map { "DELETE $::API/leases/pc-env-t052-$_" } qw(a b ro rotmp split pax)),
  ::containers() ]
--- response_body_like eval
[ (qr/\A\{"ok":true\}\z/) x 6, $::NONE ]
