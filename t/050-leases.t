# Leases: probe, acquire, resume, release and DELETE (README "Protocol",
# D2-D7, D13, D14; upstream routes.test.ts / sandboxes.test.ts
# and lease cases), against the real private dockerd.
#
# State lives in Docker and Redis (prefix t050:), so the blocks run in order
# (no_shuffle) and later blocks use the deterministic ids of earlier ones
# (reuseLease:true gives pc-env-<normalized environmentId>).  Containers are
# counted through a test-only, non-internal proxy to the Docker API
# (/_inspect/).  Every lease created here is deleted again; the last block
# checks that no container labelled with prefix t050: is left.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);
use JSON::PP ();

our $P      = '/api/paperclip-sandbox/v1';
our $Prefix = 't050:';

our $Ok      = '{"ok":true}';
our $Lost    = '{"error":"sandbox_state_lost","message":"Cloudflare sandbox state is no longer available."}';
our $NeedIds = '{"error":"invalid_request","message":"environmentId and runId are required."}';
our $NeedId  = '{"error":"invalid_request","message":"providerLeaseId is required."}';
# D6: the message must name the rule (length, alphabet, no leading/trailing -)
# a JSON string's content (escaped quotes allowed)
our $Str     = '(?:[^"\\\\]|\\\\.)*';
our $BadId   = '^\{"error":"invalid_request","message":"(?=' . $Str . '63)(?=' . $Str
             . '\[a-z0-9-\])' . $Str . '"\}\z';
our $BadSleep = '^\{"error":"invalid_request","message":"(?=' . $Str . 'sleepAfter)' . $Str . '"\}\z';
our $Invalid = '^\{"error":"invalid_request","message":"(?:[^"\\\\]|\\\\.)+"\}\z';
our $None    = '^\[\]\s*\z';
our $IsoMs   = '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z';

my $J = JSON::PP->new->allow_nonref;
sub js { $J->encode($_[0]) }
sub jb { $_[0] ? 'true' : 'false' }

# exact match as a response_body_like pattern
sub x { '^' . quotemeta($_[0]) . '\z' }

sub post { my ($route, $body) = @_; "POST $P$route\n$body" }
sub del  { "DELETE $P/leases/$_[0]" }

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# GET the containers labelled with our prefix (and a lease id if given)
sub containers {
    my $lease = shift;
    my @l = ("paperclip.bridge.prefix=$Prefix");
    push @l, "paperclip.bridge.lease=$lease" if defined $lease;
    my $f = '{"label":[' . join(',', map { js($_) } @l) . ']}';
    return "GET /_inspect/containers/json?all=1&filters=" . uri_escape($f);
}

# exactly one running container, named <prefix with ':' -> '-'><lease>
sub one {
    my $lease = shift;
    (my $name = "$Prefix$lease") =~ s/[^A-Za-z0-9_.-]/-/g;
    return '^\[\{"Id":"[0-9a-f]{64}","Names":\["/' . quotemeta($name)
         . '"\](?:(?!"Id":").)*"State":"running"(?:(?!"Id":").)*\]\s*\z';
}

# acquire/resume 200 body, exact key order (README "Protocol")
sub lease_body {
    my (%m) = @_;
    my $id = $m{id};
    return '{"providerLeaseId":' . js($id) . ',"metadata":{"provider":"docker"'
         . ',"remoteCwd":' . js($m{cwd} // '/workspace/paperclip')
         . ',"sandboxId":' . js($id)
         . ',"sessionStrategy":' . js($m{strategy} // 'named')
         . ',"sessionId":' . js($m{session} // 'paperclip')
         . ',"keepAlive":' . jb($m{keepAlive})
         . ',"sleepAfter":' . js($m{sleepAfter} // '10m')
         . ',"normalizeId":' . jb($m{normalizeId} // 1)
         . ',"resumedLease":' . jb($m{resumed}) . '}}';
}

# exec request through the bridge itself
sub run_in {
    my ($lease, $cmd, @args) = @_;
    return post('/exec', '{"providerLeaseId":' . js($lease) . ',"command":'
                . js($cmd) . ',"args":' . JSON::PP->new->encode([@args])
                . ',"timeoutMs":20000}');
}

sub exec_ok { x('{"exitCode":0,"signal":null,"timedOut":false,"stdout":"","stderr":""}') }

# the exec result of `cat <sentinel>`: 2-space pretty JSON, exact key order,
# updatedAt ISO-8601 with ms and Z, one trailing newline (README "Protocol")
sub sentinel_cat {
    my (%m) = @_;
    my @kv = (
        provider        => js('docker'),
        providerLeaseId => js($m{id}),
        remoteCwd       => js($m{cwd} // '/workspace/paperclip'),
        sessionStrategy => js($m{strategy} // 'named'),
        sessionId       => js($m{session} // 'paperclip'),
        keepAlive       => jb($m{keepAlive}),
        sleepAfter      => js($m{sleepAfter} // '10m'),
        normalizeId     => jb($m{normalizeId} // 1),
        resumedLease    => jb($m{resumed}),
        updatedAt       => '"UPDATEDAT"',
    );
    my @lines;
    for (my $i = 0; $i < @kv; $i += 2) {
        push @lines, qq{  "$kv[$i]": $kv[$i + 1]};
    }
    my $text = "{\n" . join(",\n", @lines) . "\n}\n";
    my $re = quotemeta('{"exitCode":0,"signal":null,"timedOut":false,"stdout":'
                       . js($text) . ',"stderr":""}');
    $re =~ s/UPDATEDAT/$IsoMs/;
    return "^$re\\z";
}

# lease ids with our prefix whose id matches $re, from the private dockerd
sub leases_like {
    my $re = shift;
    my $out = `docker ps -a --filter label=paperclip.bridge.prefix=$Prefix --format '{{.Label "paperclip.bridge.lease"}}' 2>&1`;
    die "docker ps failed: $out" if $?;
    return grep { /$re/ } split /\n/, $out;
}

no_shuffle();

bridge_blocks(prefix => 't050', timeout => 30, no_error_log => "[error]\n");

run_tests();

__DATA__

=== TEST 1: the internal Docker location is refused to external requests
(First block: it needs no Redis, so it also gives the fresh worker time to
connect to Redis; t/060-lifecycle.t tests requests at a cold start.)
--- request eval
[ "GET /_docker/containers/json?all=1", "GET /_docker/_ping", "GET /_docker/version",
  "POST /_docker/containers/create?name=t050-evil\n{\"Image\":\"$ENV{TEST_NGINX_SANDBOX_IMAGE}\"}",
  "GET /_inspect/containers/t050-evil/json" ]
--- error_code eval
[ 404, 404, 404, 404, 404 ]
--- response_body_like eval
[ ('^(?:(?!"Id"|OK|ApiVersion).)*\z') x 4, '(?i)No such container' ]



=== TEST 2: acquire (reuse, plugin-style body): 200, exact key order, provider docker (D13); one container
Env_123 with reuse gives pc-env-env-123 (sandboxes.test.ts 1). The container
is named <prefix>-<id> and labelled with the lease id and the prefix.
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"run-1","issueId":"issue-1","reuseLease":true,"keepAlive":true,"sleepAfter":"1h","normalizeId":true,"requestedCwd":"/workspace/paperclip","sessionStrategy":"named","sessionId":"paperclip","timeoutMs":30000}'),
  ::containers('pc-env-env-123') ]
--- response_headers eval
[ "Content-Type: application/json", "" ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-env-123', keepAlive => 1, sleepAfter => '1h')),
  ::one('pc-env-env-123') ]



=== TEST 3: the sentinel file, read back through the bridge's exec route
2-space pretty JSON, exact key order, updatedAt ISO ms Z, trailing newline.
--- request eval
::run_in('pc-env-env-123', 'cat', '/workspace/paperclip/.paperclip-lease.json')
--- response_body_like eval
::sentinel_cat(id => 'pc-env-env-123', keepAlive => 1, sleepAfter => '1h')



=== TEST 4: acquiring a reusable id again: 200 resumedLease:false with the new options, still one container
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"run-2","reuseLease":true}'),
  ::containers('pc-env-env-123'),
  ::run_in('pc-env-env-123', 'cat', '/workspace/paperclip/.paperclip-lease.json') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-env-123')),
  ::one('pc-env-env-123'),
  ::sentinel_cat(id => 'pc-env-env-123') ]



=== TEST 5: resume: 200 resumedLease:true, the sentinel is rewritten with the resume options
--- request eval
[ ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123","keepAlive":true,"sleepAfter":"2h","sessionStrategy":"default","sessionId":"s1"}'),
  ::run_in('pc-env-env-123', 'cat', '/workspace/paperclip/.paperclip-lease.json'),
  ::containers('pc-env-env-123') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-env-123', keepAlive => 1, sleepAfter => '2h', strategy => 'default', session => 's1', resumed => 1)),
  ::sentinel_cat(id => 'pc-env-env-123', keepAlive => 1, sleepAfter => '2h', strategy => 'default', session => 's1', resumed => 1),
  ::one('pc-env-env-123') ]



=== TEST 6: resume with a requestedCwd that holds no sentinel -> 409 sandbox_state_lost; the sandbox is kept
--- request eval
[ ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123","requestedCwd":"/workspace/elsewhere"}'),
  ::containers('pc-env-env-123'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123"}') ]
--- error_code eval
[ 409, 200, 200 ]
--- response_body_like eval
[ ::x($::Lost), ::one('pc-env-env-123'), ::x(::lease_body(id => 'pc-env-env-123', resumed => 1)) ]



=== TEST 7: resume after the sentinel was emptied -> 409 (test -s); the sandbox is kept
--- request eval
[ ::run_in('pc-env-env-123', 'sh', '-c', ': > /workspace/paperclip/.paperclip-lease.json'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123"}'),
  ::containers('pc-env-env-123') ]
--- error_code eval
[ 200, 409, 200 ]
--- response_body_like eval
[ ::exec_ok(), ::x($::Lost), ::one('pc-env-env-123') ]



=== TEST 8: acquire rewrites the sentinel; resume works again; after `rm` of the sentinel resume -> 409, sandbox kept
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"run-3","reuseLease":true}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123"}'),
  ::run_in('pc-env-env-123', 'rm', '/workspace/paperclip/.paperclip-lease.json'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123"}'),
  ::containers('pc-env-env-123') ]
--- error_code eval
[ 200, 200, 200, 409, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-env-123')),
  ::x(::lease_body(id => 'pc-env-env-123', resumed => 1)),
  ::exec_ok(),
  ::x($::Lost),
  ::one('pc-env-env-123') ]



=== TEST 9: resume without a providerLeaseId (missing, "", null, false, 0) -> 400 "providerLeaseId is required."
--- request eval
[ map { ::post('/leases/resume', $_) }
  '{}', '{"providerLeaseId":""}', '{"providerLeaseId":null}',
  '{"providerLeaseId":false}', '{"providerLeaseId":0}' ]
--- error_code eval
[ (400) x 5 ]
--- response_headers eval
[ ("Content-Type: application/json") x 5 ]
--- response_body_like eval
[ (::x($::NeedId)) x 5 ]



=== TEST 10: resume of a lease that never existed -> 409 and nothing is created (D3)
--- request eval
[ ::post('/leases/resume', '{"providerLeaseId":"pc-env-never-existed"}'),
  ::containers('pc-env-never-existed') ]
--- error_code eval
[ 409, 200 ]
--- response_body_like eval
[ ::x($::Lost), $::None ]



=== TEST 11: resume with an id that breaks the D6 rule -> 400 invalid_request naming the rule
--- request eval
[ ::post('/leases/resume', '{"providerLeaseId":"PC-ENV-ENV-123"}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123-"}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc env"}') ]
--- error_code eval
[ 400, 400, 400 ]
--- response_body_like eval
[ ($::BadId) x 3 ]



=== TEST 12: DELETE -> 200 {"ok":true}; the container is gone; resume then -> 409
--- request eval
[ ::del('pc-env-env-123'),
  ::containers('pc-env-env-123'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-env-123"}') ]
--- error_code eval
[ 200, 200, 409 ]
--- response_body_like eval
[ ::x($::Ok), $::None, ::x($::Lost) ]



=== TEST 13: DELETE is idempotent: again, and for an id that never existed -> 200 {"ok":true}
--- request eval
[ ::del('pc-env-env-123'), ::del('pc-env-never-existed'), ::del('pc-run-x-0123abcd') ]
--- response_headers eval
[ ("Content-Type: application/json") x 3 ]
--- response_body_like eval
[ (::x($::Ok)) x 3 ]



=== TEST 14: resume when the container vanished behind the bridge's back -> 409; nothing is re-created (D3)
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"gone","runId":"r","reuseLease":true,"keepAlive":true}'),
  "DELETE /_inspect/containers/t050-pc-env-gone?force=true",
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-gone","keepAlive":true}'),
  ::containers('pc-env-gone'),
  ::del('pc-env-gone') ]
--- error_code eval
[ 200, 204, 409, 200, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-gone', keepAlive => 1)), '^\z', ::x($::Lost), $::None, ::x($::Ok) ]



=== TEST 15: non-reusable ids: pc-<runId>-<8 hex> (sandboxes.test.ts 2); reuseLease:"true" is not true
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"Run_123"}'),
  ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"Run_123","reuseLease":"true","keepAlive":true}'),
  ::containers('pc-env-env-123') ]
--- response_body_like eval
[ '^\{"providerLeaseId":"(pc-run-123-[0-9a-f]{8})","metadata":\{"provider":"docker","remoteCwd":"/workspace/paperclip","sandboxId":"\1","sessionStrategy":"named","sessionId":"paperclip","keepAlive":false,"sleepAfter":"10m","normalizeId":true,"resumedLease":false\}\}\z',
  '^\{"providerLeaseId":"(pc-run-123-[0-9a-f]{8})","metadata":\{"provider":"docker","remoteCwd":"/workspace/paperclip","sandboxId":"\1","sessionStrategy":"named","sessionId":"paperclip","keepAlive":true,"sleepAfter":"10m","normalizeId":true,"resumedLease":false\}\}\z',
  $::None ]



=== TEST 16: both run leases exist as containers with distinct random suffixes; DELETE them
--- request eval
sub {
my @ids = ::leases_like(qr/^pc-run-123-[0-9a-f]{8}$/);
die "expected 2 distinct pc-run-123-* containers, found: @ids\n" unless @ids == 2 && $ids[0] ne $ids[1];
[ (map { ::del($_) } @ids), (map { ::containers($_) } @ids) ]
}
--- response_body_like eval
[ ::x($::Ok), ::x($::Ok), $::None, $::None ]



=== TEST 17: normalization: trim, lowercase, runs of other characters -> "-", no edge "-", no "--"
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"  My Env!!","runId":"r","reuseLease":true}'),
  ::post('/leases/acquire', '{"environmentId":"__A__b..C__","runId":"r","reuseLease":true,"keepAlive":true}'),
  ::del('pc-env-my-env'), ::del('pc-env-a-b-c'),
  ::containers('pc-env-my-env'), ::containers('pc-env-a-b-c') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-my-env')),
  ::x(::lease_body(id => 'pc-env-a-b-c', keepAlive => 1)),
  ::x($::Ok), ::x($::Ok), $::None, $::None ]



=== TEST 18: normalizeId:false with an uppercase/underscore id -> 400 naming the rule (D6); nothing created
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"Env_123","runId":"r","reuseLease":true,"normalizeId":false}'),
  ::post('/leases/acquire', '{"environmentId":"e","runId":"Run_123","normalizeId":false}'),
  ::containers('pc-env-Env_123'),
  ::containers() ]
--- error_code eval
[ 400, 400, 200, 200 ]
--- response_body_like eval
[ $::BadId, $::BadId, $::None, '^\[' ]
--- response_body_unlike eval
[ '(?!)', '(?!)', '(?!)', '"pc-Run_123-' ]



=== TEST 19: normalizeId:false with a valid raw id; normalizeId:null counts as false (README "Protocol")
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"raw-1","runId":"r","reuseLease":true,"normalizeId":false}'),
  ::post('/leases/acquire', '{"environmentId":"raw-1","runId":"r","reuseLease":true,"normalizeId":null}'),
  ::post('/leases/acquire', '{"environmentId":"RAW-1","runId":"r","reuseLease":true,"normalizeId":"yes"}'),
  ::containers('pc-env-raw-1'),
  ::del('pc-env-raw-1'),
  ::containers('pc-env-raw-1'),
  ::containers('pc-env-RAW-1') ]
--- error_code eval
[ 200, 200, 400, 200, 200, 200, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-raw-1', normalizeId => 0)),
  ::x(::lease_body(id => 'pc-env-raw-1', normalizeId => 0)),
  $::BadId,
  ::one('pc-env-raw-1'),
  ::x($::Ok), $::None, $::None ]



=== TEST 20: length limit (D6): 63 characters after normalization is fine, 64 is 400
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"' . ('x' x 56) . '","runId":"r","reuseLease":true}'),
  ::post('/leases/acquire', '{"environmentId":"' . ('x' x 57) . '","runId":"r","reuseLease":true}'),
  ::del('pc-env-' . ('x' x 56)),
  ::containers('pc-env-' . ('x' x 56)),
  ::containers('pc-env-' . ('x' x 57)) ]
--- error_code eval
[ 200, 400, 200, 200, 200 ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-' . ('x' x 56))), $::BadId, ::x($::Ok), $::None, $::None ]



=== TEST 21: environmentId/runId missing or falsy (missing, "", false, 0, null) -> 400, exact message
--- request eval
[ map { ::post('/leases/acquire', $_) }
  '{}',
  '{"runId":"r"}',
  '{"environmentId":"e"}',
  '{"environmentId":"","runId":"r"}',
  '{"environmentId":"e","runId":""}',
  '{"environmentId":false,"runId":"r","reuseLease":true}',
  '{"environmentId":"e","runId":false}',
  '{"environmentId":0,"runId":"r","reuseLease":true}',
  '{"environmentId":"e","runId":0}',
  '{"environmentId":null,"runId":"r"}',
  '{"environmentId":"e","runId":null,"reuseLease":true}' ]
--- error_code eval
[ (400) x 11 ]
--- response_headers eval
[ ("Content-Type: application/json") x 11 ]
--- response_body_like eval
[ (::x($::NeedIds)) x 11 ]



=== TEST 22: coercions: keepAlive "true" -> false, sessionStrategy other than "default" -> named, sessionId trimmed, sleepAfter trimmed
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"coerce","runId":"r","reuseLease":true,"keepAlive":"true","sessionStrategy":"Default","sessionId":"  my-session  ","sleepAfter":" 1h "}'),
  ::post('/leases/acquire', '{"environmentId":"coerce","runId":"r","reuseLease":true,"keepAlive":1,"sessionStrategy":"default","sessionId":"   ","sleepAfter":5,"requestedCwd":""}'),
  ::post('/leases/acquire', '{"environmentId":"coerce","runId":"r","reuseLease":true,"keepAlive":null,"sessionStrategy":" default","sessionId":7,"requestedCwd":"   "}'),
  ::post('/leases/acquire', '{"environmentId":"coerce","runId":"r","reuseLease":true,"keepAlive":true,"sessionStrategy":"named","requestedCwd":"  /workspace/coerce  "}'),
  ::run_in('pc-env-coerce', 'cat', '/workspace/coerce/.paperclip-lease.json') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-coerce', session => 'my-session', sleepAfter => '1h')),
  ::x(::lease_body(id => 'pc-env-coerce', strategy => 'default')),
  ::x(::lease_body(id => 'pc-env-coerce')),
  ::x(::lease_body(id => 'pc-env-coerce', keepAlive => 1, cwd => '/workspace/coerce')),
  ::sentinel_cat(id => 'pc-env-coerce', keepAlive => 1, cwd => '/workspace/coerce') ]



=== TEST 23: truthy non-string ids are used as text (42 -> pc-env-42); cleanup of pc-env-coerce
--- request eval
[ ::post('/leases/acquire', '{"environmentId":42,"runId":"r","reuseLease":true}'),
  ::del('pc-env-42'), ::del('pc-env-coerce'),
  ::containers('pc-env-42'), ::containers('pc-env-coerce') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-42')), ::x($::Ok), ::x($::Ok), $::None, $::None ]



=== TEST 24: requestedCwd with trailing slashes: remoteCwd echoed, sentinel at <cwd without slashes>/.paperclip-lease.json (sandboxes.test.ts 3)
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"trail","runId":"r","reuseLease":true,"requestedCwd":"/workspace/trail///"}'),
  ::run_in('pc-env-trail', 'cat', '/workspace/trail/.paperclip-lease.json'),
  ::run_in('pc-env-trail', 'sh', '-c', 'ls -a /workspace/trail | grep -c paperclip-lease'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-trail","requestedCwd":"/workspace/trail/"}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-trail","requestedCwd":"/workspace/trail"}'),
  ::del('pc-env-trail') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-trail', cwd => '/workspace/trail///')),
  ::sentinel_cat(id => 'pc-env-trail', cwd => '/workspace/trail///'),
  ::x('{"exitCode":0,"signal":null,"timedOut":false,"stdout":"1\n","stderr":""}'),
  ::x(::lease_body(id => 'pc-env-trail', cwd => '/workspace/trail/', resumed => 1)),
  ::x(::lease_body(id => 'pc-env-trail', cwd => '/workspace/trail', resumed => 1)),
  ::x($::Ok) ]



=== TEST 25: requestedCwd with a quote and spaces is quoted safely (README "Exec"); "/" puts the sentinel at /.paperclip-lease.json
--- request eval
[ ::post('/leases/acquire', q{{"environmentId":"quote","runId":"r","reuseLease":true,"requestedCwd":"/workspace/it's a dir; touch /tmp/pwned"}}),
  ::run_in('pc-env-quote', 'cat', q{/workspace/it's a dir; touch /tmp/pwned/.paperclip-lease.json}),
  ::run_in('pc-env-quote', 'sh', '-c', 'test ! -e /tmp/pwned'),
  ::post('/leases/acquire', '{"environmentId":"quote","runId":"r","reuseLease":true,"requestedCwd":"/"}'),
  ::run_in('pc-env-quote', 'cat', '/.paperclip-lease.json'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-quote","requestedCwd":"/"}'),
  ::del('pc-env-quote') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-quote', cwd => q{/workspace/it's a dir; touch /tmp/pwned})),
  ::sentinel_cat(id => 'pc-env-quote', cwd => q{/workspace/it's a dir; touch /tmp/pwned}),
  ::exec_ok(),
  ::x(::lease_body(id => 'pc-env-quote', cwd => '/')),
  ::sentinel_cat(id => 'pc-env-quote', cwd => '/'),
  ::x(::lease_body(id => 'pc-env-quote', cwd => '/', resumed => 1)),
  ::x($::Ok) ]



=== TEST 26: invalid sleepAfter -> 400 invalid_request (acquire, resume, probe); nothing created
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"bad-sleep","runId":"r","reuseLease":true,"sleepAfter":"soon"}'),
  ::post('/leases/acquire', '{"environmentId":"bad-sleep","runId":"r","reuseLease":true,"sleepAfter":"10x"}'),
  ::post('/leases/acquire', '{"environmentId":"bad-sleep","runId":"r","reuseLease":true,"sleepAfter":"-5m"}'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-bad-sleep","sleepAfter":"soon"}'),
  ::post('/probe', '{"sleepAfter":"soon"}'),
  ::containers('pc-env-bad-sleep'),
  ::containers() ]
--- error_code eval
[ 400, 400, 400, 400, 400, 200, 200 ]
--- response_body_like eval
[ ($::BadSleep) x 5, $::None, '^\[' ]
--- response_body_unlike eval
[ ('(?!)') x 6, '"pc-probe-' ]



=== TEST 27: release without an id, or with reuseLease:true -> 200 {"ok":true} and nothing happens
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"rel-1","runId":"r","reuseLease":true,"keepAlive":true}'),
  ::post('/leases/release', '{}'),
  ::post('/leases/release', '{"providerLeaseId":""}'),
  ::post('/leases/release', '{"providerLeaseId":null,"reuseLease":false}'),
  ::post('/leases/release', '{"providerLeaseId":"pc-env-rel-1","reuseLease":true,"keepAlive":true}'),
  ::containers('pc-env-rel-1'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-rel-1","keepAlive":true}') ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-rel-1', keepAlive => 1)),
  (::x($::Ok)) x 4,
  ::one('pc-env-rel-1'),
  ::x(::lease_body(id => 'pc-env-rel-1', keepAlive => 1, resumed => 1)) ]



=== TEST 28: release without reuse destroys the sandbox; resume then -> 409; release is idempotent
--- request eval
[ ::post('/leases/release', '{"providerLeaseId":"pc-env-rel-1","reuseLease":false,"keepAlive":true}'),
  ::containers('pc-env-rel-1'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-rel-1"}'),
  ::post('/leases/release', '{"providerLeaseId":"pc-env-rel-1"}'),
  ::post('/leases/release', '{"providerLeaseId":"pc-env-never-existed"}') ]
--- error_code eval
[ 200, 200, 409, 200, 200 ]
--- response_body_like eval
[ ::x($::Ok), $::None, ::x($::Lost), ::x($::Ok), ::x($::Ok) ]



=== TEST 29: release and DELETE with an id that breaks the D6 rule -> 400
--- request eval
[ ::post('/leases/release', '{"providerLeaseId":"Not Valid"}'),
  ::del('Bad_Id'),
  ::del('-pc-env-x') ]
--- error_code eval
[ 400, 400, 400 ]
--- response_body_like eval
[ ($::BadId) x 3 ]



=== TEST 30: DELETE with a %-encoded id destroys the decoded lease; a body is ignored
--- request eval
[ ::post('/leases/acquire', '{"environmentId":"del-enc","runId":"r","reuseLease":true}'),
  ::containers('pc-env-del-enc'),
  "DELETE $::P/leases/pc%2Denv%2d%64el-enc\n{not json",
  ::containers('pc-env-del-enc'),
  ::post('/leases/resume', '{"providerLeaseId":"pc-env-del-enc"}') ]
--- error_code eval
[ 200, 200, 200, 200, 409 ]
--- response_body_like eval
[ ::x(::lease_body(id => 'pc-env-del-enc')), ::one('pc-env-del-enc'), ::x($::Ok), $::None, ::x($::Lost) ]



=== TEST 31: DELETE matches exactly one segment (D5): deeper paths and /leases/ -> 404 not_found
--- request eval
[ "DELETE $::P/leases/a/b", "DELETE $::P/leases/", "DELETE $::P/leases" ]
--- error_code eval
[ 404, 404, 404 ]
--- response_body_like eval
[ ::x(qq{{"error":"not_found","message":"No bridge route matched DELETE $::P/leases/a/b."}}),
  ::x(qq{{"error":"not_found","message":"No bridge route matched DELETE $::P/leases."}}),
  ::x(qq{{"error":"not_found","message":"No bridge route matched DELETE $::P/leases."}}) ]



=== TEST 32: probe: 200 shape (README "Protocol", D13); the probe sandbox is destroyed afterwards
--- request eval
[ ::post('/probe', '{}'), ::containers() ]
--- response_headers eval
[ "Content-Type: application/json", "" ]
--- response_body_like eval
[ ::x('{"ok":true,"summary":"Connected to Cloudflare sandbox bridge.","metadata":{"provider":"docker","remoteCwd":"/workspace/paperclip","namedSessions":true,"stdout":"/workspace/paperclip\n"}}'),
  '^\[' ]
--- response_body_unlike eval
[ '(?!)', '"pc-probe-' ]



=== TEST 33: probe with a custom cwd (spaces) and sessionStrategy "default": namedSessions false, stdout is pwd
--- request eval
[ ::post('/probe', '{"requestedCwd":"/tmp/probe dir","sessionStrategy":"default","keepAlive":true,"sleepAfter":"1h","timeoutMs":20000}'),
  ::containers() ]
--- response_body_like eval
[ ::x('{"ok":true,"summary":"Connected to Cloudflare sandbox bridge.","metadata":{"provider":"docker","remoteCwd":"/tmp/probe dir","namedSessions":false,"stdout":"/tmp/probe dir\n"}}'),
  '^\[' ]
--- response_body_unlike eval
[ '(?!)', '"pc-probe-' ]



=== TEST 34: probe whose mkdir fails -> 500 internal_error "ensure workspace ..." ...
(One request per block where the error log is checked: each request's
check sees only the lines logged since the previous one.)
--- request eval
::post('/probe', '{"requestedCwd":"/proc/bridge-probe"}')
--- error_code: 500
--- response_body_like eval
'^\{"error":"internal_error","message":"ensure workspace /proc/bridge-probe failed with exit code 1[^"]*"\}\z'
--- error_log
ensure workspace /proc/bridge-probe failed



=== TEST 34b: ... and nothing is left
--- request eval
::containers()
--- response_body_like eval
'^\['
--- response_body_unlike eval
'"pc-probe-'



=== TEST 35: failed acquire setup: without reuse the sandbox is destroyed (no orphan) ...
--- request eval
::post('/leases/acquire', '{"environmentId":"e","runId":"fail-run","requestedCwd":"/proc/bridge-acquire"}')
--- error_code: 500
--- response_body_like eval
'^\{"error":"internal_error","message":"ensure workspace /proc/bridge-acquire failed with exit code 1[^"]*"\}\z'
--- error_log
ensure workspace /proc/bridge-acquire failed



=== TEST 35b: ... (no orphan) ...
--- request eval
::containers()
--- response_body_like eval
'^\['
--- response_body_unlike eval
'"pc-fail-run-'



=== TEST 35c: ... with reuse it is kept (README "Protocol") ...
--- request eval
::post('/leases/acquire', '{"environmentId":"fail-reuse","runId":"r","reuseLease":true,"requestedCwd":"/proc/bridge-acquire"}')
--- error_code: 500
--- response_body_like eval
'^\{"error":"internal_error","message":"ensure workspace /proc/bridge-acquire failed with exit code 1[^"]*"\}\z'
--- error_log
ensure workspace /proc/bridge-acquire failed



=== TEST 35d: ... kept, and DELETE removes it
--- request eval
[ ::containers('pc-env-fail-reuse'),
  ::del('pc-env-fail-reuse'),
  ::containers('pc-env-fail-reuse') ]
--- error_code eval
[ 200, 200, 200 ]
--- response_body_like eval
[ ::one('pc-env-fail-reuse'),
  ::x($::Ok),
  $::None ]



=== TEST 36: bad JSON, non-object JSON and empty bodies -> 400 invalid_request (D14), on every lease route
--- request eval
[ (map { my $r = $_; map { "POST $::P$r\n$_" } '{bad', 'null', '[1]', '"str"', '42', '' }
     qw(/probe /leases/acquire /leases/resume /leases/release)),
  ::containers() ]
--- error_code eval
[ (400) x 24, 200 ]
--- response_headers eval
[ ("Content-Type: application/json") x 25 ]
--- response_body_like eval
[ ($::Invalid) x 24, '^\[' ]
--- response_body_unlike eval
[ ('(?!)') x 24, '"pc-probe-' ]



=== TEST 37: nothing is left behind: no container labelled with prefix t050:
--- request eval
::containers()
--- response_body_like eval
$::None
