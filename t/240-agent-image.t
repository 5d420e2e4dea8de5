# The agent sandbox image (README "Agent sandbox image"): what Paperclip
# checks and does in a lease, through the bridge, with the image of
# util/sandbox-image/Dockerfile as sandbox_image: its CLIs are on PATH
# (`command -v`), workspace, home, cache and tmp are writable, `node -e`
# runs, git init + commit work in /workspace/paperclip, files arrive through
# stdin into `base64 -d` and come back as base64 byte for byte, the
# workspace restore's `tar -cf ... --exclude ...` works (and fails in the
# busybox image), and the AGENT_NPM_PACKAGES it was built with are
# installed with their CLIs on PATH.
#
# Runs under make test-agent (TEST_NGINX_AGENT_IMAGE=1, sandbox_image
# psb-agent:local); skipped otherwise.
use FindBin ();
use lib "$FindBin::Bin/helpers";

BEGIN {
    if (!$ENV{TEST_NGINX_AGENT_IMAGE}) {
        require Test::More;
        Test::More::plan(skip_all => 'needs the agent image (make test-agent)');
    }
}

use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks cleanup_prefix);
use SandboxBridge::Stream qw(json_encode);
use Digest::SHA ();
use MIME::Base64 ();

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';

sub ex {
    my ($lease, $script, %o) = @_;
    return "POST $API/exec\n" . json_encode({ providerLeaseId => $lease,
        command => 'sh', args => ['-c', $script], %o });
}

sub js { JSON::PP->new->utf8->allow_nonref->encode($_[0]) }

sub res {
    my ($code, $out, $err) = @_;
    return '{"exitCode":' . $code . ',"signal":null,"timedOut":false,"stdout":'
         . js($out) . ',"stderr":' . js($err) . '}';
}

# 200 KB that compress badly, as a workspace file would
our $FILE = join '', map { pack 'N', ($_ * 2654435761) % 4294967291 } 1 .. 51200;

# the names of the packages the image was built with (make test-agent
# passes AGENT_NPM_PACKAGES through), without versions
our @NPM = sort map { s/(?<=.)\@.*//r } split ' ', $ENV{AGENT_NPM_PACKAGES} // '';

cleanup_prefix('t240');

bridge_blocks(prefix => 't240', timeout => 60, locations => <<'_EOC_');
    location /busybox/api/paperclip-sandbox/v1 {
        sandbox_image psb-sandbox:local;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: acquire a lease with the agent image
--- request
POST /api/paperclip-sandbox/v1/leases/acquire
{"environmentId":"t240-agent","runId":"run-1","reuseLease":true,"keepAlive":true}
--- response_body_like chomp
^\{"providerLeaseId":"pc-env-t240-agent","metadata":\{"provider":"docker","remoteCwd":"/workspace/paperclip",



=== TEST 2: Paperclip's CLI checks: command -v node sh tar git curl bash
--- request eval
::ex('pc-env-t240-agent', 'for c in node sh tar git curl bash; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done; echo found')
--- response_body eval
::res(0, "found\n", '')



=== TEST 3: workspace, home, cache and tmp are writable
--- request eval
::ex('pc-env-t240-agent', 'for d in /workspace/paperclip "$HOME" "${XDG_CACHE_HOME:-$HOME/.cache}" "${TMPDIR:-/tmp}"; do '
   . 'f="$d/.psb-write-test"; echo x > "$f" && rm "$f" || { echo "not writable: $d"; exit 1; }; done; '
   . 'echo "writable; HOME=$HOME; pwd=$(pwd)"', cwd => '/workspace/paperclip')
--- response_body eval
::res(0, "writable; HOME=/root; pwd=/workspace/paperclip\n", '')



=== TEST 4: node -e runs
--- request eval
::ex('pc-env-t240-agent', q{node -e 'process.stdout.write(String(6 * 7) + " " + typeof fetch)'})
--- response_body eval
::res(0, '42 function', '')



=== TEST 5: git init and a commit work in /workspace/paperclip
--- request eval
::ex('pc-env-t240-agent', 'cd /workspace/paperclip && git init -q && echo hello > README '
   . '&& git add README && git commit -qm first && git log --format=%s && git status --porcelain README')
--- response_body eval
::res(0, "first\n", '')



=== TEST 6: a file written as Paperclip does (base64 on stdin into base64 -d, then mv) and read back as base64
--- request eval
[ ::ex('pc-env-t240-agent', 'base64 -d > /workspace/paperclip/.f.tmp && mv /workspace/paperclip/.f.tmp /workspace/paperclip/data.bin '
       . '&& sha256sum < /workspace/paperclip/data.bin', stdin => MIME::Base64::encode_base64($::FILE, '')),
  ::ex('pc-env-t240-agent', 'dd if=/workspace/paperclip/data.bin bs=3145728 skip=0 count=1 2>/dev/null | base64') ]
--- response_body eval
[ ::res(0, Digest::SHA::sha256_hex($::FILE) . "  -\n", ''),
  ::res(0, MIME::Base64::encode_base64($::FILE), '') ]



=== TEST 7: the workspace restore's tar with --exclude, and extracting it
--- request eval
::ex('pc-env-t240-agent', 'cd /workspace/paperclip && mkdir -p node_modules/x && echo y > node_modules/x/i '
   . '&& tar -cf /tmp/ws.tar --exclude=./.git --exclude=./node_modules --exclude=./data.bin --exclude=./.paperclip-lease.json . '
   . '&& tar -tf /tmp/ws.tar | sort && mkdir -p /tmp/restore && tar -xf /tmp/ws.tar -C /tmp/restore '
   . '&& cat /tmp/restore/README')
--- response_body eval
::res(0, "./\n./README\nhello\n", '')



=== TEST 8: the packages of AGENT_NPM_PACKAGES are installed globally, their CLIs on PATH
--- request eval
::ex('pc-env-t240-agent', q~npm ls -g --depth=0 --parseable 2>/dev/null | sed -n 's,.*/node_modules/,,p' | sort; ~
   . q~for b in $(node -e 'const fs = require("fs"), d = "/usr/local/lib/node_modules";~
   . q~ for (const n of fs.existsSync(d) ? fs.readdirSync(d) : [])~
   . q~ for (const p of n.startsWith("@") ? fs.readdirSync(d + "/" + n).map(x => n + "/" + x) : [n]) {~
   . q~ const b = JSON.parse(fs.readFileSync(d + "/" + p + "/package.json")).bin;~
   . q~ if (b) console.log(typeof b === "string" ? p.replace(/.*\//, "") : Object.keys(b).join("\n")); }'); ~
   . q~do command -v "$b" >/dev/null || echo "not on PATH: $b"; done; echo done~)
--- response_body eval
::res(0, CORE::join('', map { "$_\n" } @::NPM) . "done\n", '')



=== TEST 9: the same tar --exclude fails in the busybox image (what the agent image is for)
--- request eval
[ "POST /busybox$::API/leases/acquire\n" . '{"environmentId":"t240-bb","runId":"run-1","reuseLease":true}',
  ::ex('pc-env-t240-bb', 'mkdir -p /workspace/paperclip && cd /workspace/paperclip && echo hi > a '
       . '&& tar -cf /tmp/ws.tar --exclude=./node_modules .; echo "exit $?"'),
  "DELETE $::API/leases/pc-env-t240-bb" ]
--- response_body_like eval
[ qr/^\{"providerLeaseId":"pc-env-t240-bb",/,
  qr/^\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"exit 1\\n","stderr":"[^"]*(unrecognized|invalid) option[^"]*"\}$/,
  qr/^\{"ok":true\}$/ ]



=== TEST 10: DELETE the agent lease; its container is gone
--- request eval
[ "DELETE $::API/leases/pc-env-t240-agent",
  "GET /_inspect/containers/json?all=1&filters=%7B%22label%22%3A%5B%22paperclip.bridge.lease%3Dpc-env-t240-agent%22%5D%7D" ]
--- response_body eval
[ '{"ok":true}', "[]\n" ]
