# The exec stdin held in the body's own buffer (README "Limits"): the
# bridge finds the top-level "stdin" string itself and unescapes it in
# place, and jansson parses the rest. What the command receives must be
# exactly what a JSON parser makes of the body, and a body jansson refuses
# is still refused with jansson's message:
#
#   * every JSON escape (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs)
#     and raw UTF-8 arrive as their bytes (od -tx1 in the sandbox);
#   * an escaped key ("std\u0069n"); duplicate keys (the last one wins,
#     also when it is no string); "stdin" keys of nested objects and
#     "stdin" inside another string are not the stdin; spaces around ':';
#   * a raw control character, \u0000, a lone surrogate, invalid UTF-8 and
#     an unknown escape in the stdin -> 400 "Request body is not valid
#     JSON: <jansson's message>", and nothing runs.
#
# One reusable lease (pc-env-t231-json), acquired by the first block and
# deleted by the last; the blocks run in order. Redis prefix t231:.
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::Nginx::Socket 'no_plan';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use SandboxBridge::Blocks qw(bridge_blocks);

no_shuffle();

our $API   = '/api/paperclip-sandbox/v1';
our $LEASE = 'pc-env-t231-json';

# an exec whose command prints the bytes of its stdin in hex; $rest is the
# raw JSON text after "command"
sub hx {
    my ($rest) = @_;
    return "POST $API/exec\n"
         . '{"providerLeaseId":"' . $LEASE . '","command":"sh","args":["-c",'
         . '"od -An -tx1 -v | tr -d \' \\\\n\'; echo"]' . $rest . '}';
}

# the result of hx(): the hex of the bytes received
sub got {
    my ($bytes) = @_;
    my $h = unpack 'H*', $bytes;
    return qr/\A\{"exitCode":0,"signal":null,"timedOut":false,"stdout":"\Q$h\E\\n","stderr":""\}\z/;
}

sub bad {
    my ($text) = @_;
    return qr/\A\{"error":"invalid_request","message":"Request body is not valid JSON: \Q$text\E(?:[^"\\]|\\.)*"\}\z/;
}

bridge_blocks(prefix => 't231', timeout => 20);

run_tests();

__DATA__

=== TEST 1: acquire the lease
--- request eval
"POST $::API/leases/acquire\n"
  . '{"environmentId":"t231-json","runId":"r","reuseLease":true,"keepAlive":true,"sleepAfter":"1h"}'
--- error_code: 200
--- response_body_like eval
qr/\A\{"providerLeaseId":"pc-env-t231-json",/



=== TEST 2: every escape and raw UTF-8 arrive as their bytes
--- request eval
[ ::hx(q{,"stdin":"a\"b\\\\c\/d\b\f\n\r\t|\u00e9\u20ac\ud83d\ude00|} . "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" . q{|\u0041\u007f"}),
  ::hx(q{,"stdin":"plain base64 A+/= without escapes"}),
  ::hx(q{,"stdin":"\\\\"}),
  ::hx(q{,"stdin":""}) ]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[ ::got("a\"b\\c/d\b\f\n\r\t|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|A\x7f"),
  ::got('plain base64 A+/= without escapes'),
  ::got("\\"),
  ::got('') ]



=== TEST 3: which "stdin" is the stdin
--- request eval
[ ::hx(q{,"std\u0069n":"escaped key"}),
  ::hx(q{,"stdin":"first","stdin":"second"}),
  ::hx(q{,"stdin":"first","stdin":5}),
  ::hx(q{,"stdin":"first","stdin":["x"]}),
  ::hx(q{,"env":{"stdin":"nested"},"stdin":"top"}),
  ::hx(q{,"env":{"stdin":"nested"}}),
  ::hx(q{,"pad":"\",\"stdin\":\"inside a string","stdin" :  "spaced"}),
  ::hx(q{,"stdinx":"other key","xstdin":"other key"}) ]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[ ::got('escaped key'), ::got('second'), ::got(''), ::got(''),
  ::got('top'), ::got(''), ::got('spaced'), ::got('') ]



=== TEST 4: a stdin jansson refuses is refused with jansson's message; nothing runs
--- request eval
[ ::hx(qq{,"stdin":"ctl\x01char"}),
  ::hx(q{,"stdin":"nul\u0000"}),
  ::hx(q{,"stdin":"lone\ud800"}),
  ::hx(q{,"stdin":"low\udc00"}),
  ::hx(qq{,"stdin":"bad\xc3\x28utf8"}),
  ::hx(qq{,"stdin":"overlong\xc0\xafutf8"}),
  ::hx(q{,"stdin":"esc\q"}),
  ::hx(q{,"stdin":"cut\u12"}),
  ::hx(q{,"stdin":"unterminated}) ]
--- error_code eval
[(400) x 9]
--- response_body_like eval
[ ::bad('control character 0x1'),
  ::bad('\\\\u0000 is not allowed'),
  ::bad('invalid Unicode'),
  ::bad('invalid Unicode'),
  ::bad('unable to decode byte'),
  ::bad('unable to decode byte'),
  ::bad('invalid escape'),
  ::bad('invalid escape'),
  ::bad('premature end of input') ]



=== TEST 5: delete the lease
--- request eval
"DELETE $::API/leases/$::LEASE"
--- error_code: 200
--- response_body: {"ok":true}
