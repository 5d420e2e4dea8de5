# Egress without opening the host (README "Networking"): lease containers
# on a network made by util/egress.sh (user-defined bridge, enable_icc=false
# and the script's iptables rules), through `sandbox_network`.
#
#   - a sandbox reaches an HTTP server on the host's side of the network
#     (the gateway address), on a port the network allows: the stand-in
#     for a model API or an operator's HTTP proxy;
#   - it cannot reach another server of the host on the same address, on a
#     port not allowed (the host's own services);
#   - it cannot reach another lease's container, which serves HTTP that
#     the other lease itself does reach.
#
# Needs root and iptables (skipped otherwise).  The network psbe<port> with
# subnet 198.18.<port % 250>.0/24 is taken down when the file ends.
use FindBin ();
use lib "$FindBin::Bin/helpers";

our ($NET, $GW, $OPEN_PORT, $SHUT_PORT, @SERVERS);

BEGIN {
    my $why;
    if ($> != 0) {
        $why = 'needs root (iptables)';
    } elsif (system('iptables -w 10 -S INPUT >/dev/null 2>&1') != 0) {
        $why = 'iptables does not work here';
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
use SandboxBridge::Scenario ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();

no_shuffle();

our $API = '/api/paperclip-sandbox/v1';
my $port = $ENV{TEST_NGINX_PORT} || 1984;
my $n = $port % 250;
$NET = "psbe$port";
$GW = "198.18.$n.1";
$ENV{TEST_NGINX_EGRESS_NET} = $NET;
local $ENV{DOCKER_HOST} = "unix://$ENV{TEST_NGINX_DOCKER_SOCKET}";
my $egress = "$FindBin::Bin/../util/egress.sh";

$OPEN_PORT = SandboxBridge::Scenario::free_port();
$SHUT_PORT = SandboxBridge::Scenario::free_port() while !$SHUT_PORT || $SHUT_PORT == $OPEN_PORT;
system($egress, 'up', $NET, "198.18.$n.0/24", $OPEN_PORT) == 0
    or die "util/egress.sh up $NET failed\n";

# one-request-at-a-time HTTP servers on the gateway address
sub serve {
    my ($p, $body) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => $GW, LocalPort => $p, Listen => 8,
                                  ReuseAddr => 1) or die "listen $GW:$p: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        local $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 600;
        while (my $c = $l->accept) {
            my $req = '';
            while (defined(my $line = <$c>)) { $req .= $line; last if $line =~ /^\r?\n\z/ }
            print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n$body\n";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $l;
    push @SERVERS, $pid;
}
serve($OPEN_PORT, 'model api here');
serve($SHUT_PORT, 'host service');

Test::Nginx::Util::add_cleanup_handler(sub {
    kill 'TERM', @SERVERS;
    waitpid $_, 0 for @SERVERS;
    local $ENV{DOCKER_HOST} = "unix://$ENV{TEST_NGINX_DOCKER_SOCKET}";
    system($egress, 'down', $NET);
});
cleanup_prefix('t241');

sub ex {
    my ($lease, $script) = @_;
    return "POST /egress$API/exec\n" . json_encode({ providerLeaseId => $lease,
        command => 'sh', args => ['-c', $script] });
}

# GET / from inside a sandbox with busybox nc; prints the body, or "exit N"
sub get {
    my ($lease, $host, $p) = @_;
    return ex($lease, "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $host $p > /tmp/r 2>/dev/null; "
                    . "e=\$?; sed -n '\$p' /tmp/r; echo \"exit \$e\"");
}

# the address of a lease's container on the egress network
sub lease_ip {
    my $lease = shift;
    my $f = JSON::PP::encode_json({ label => ["paperclip.bridge.lease=$lease"] });
    $f =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    my $list = JSON::PP::decode_json(SandboxBridge::Blocks::docker_api('GET', "/containers/json?filters=$f"));
    my $nets = $list->[0]{NetworkSettings}{Networks} || {};
    return $nets->{$NET}{IPAddress} // 'none';
}

sub res {
    my $out = shift;
    return '{"exitCode":0,"signal":null,"timedOut":false,"stdout":'
         . JSON::PP->new->allow_nonref->encode($out) . ',"stderr":""}';
}

bridge_blocks(prefix => 't241', timeout => 60, locations => <<'_EOC_');
    location /egress/api/paperclip-sandbox/v1 {
        sandbox_network $TEST_NGINX_EGRESS_NET;
        sandbox_bridge;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: the sandbox reaches the HTTP server on the host's side of the network (allowed port)
--- request eval
[ "POST /egress$::API/leases/acquire\n" . '{"environmentId":"t241-a","runId":"r","reuseLease":true}',
  "POST /egress$::API/leases/acquire\n" . '{"environmentId":"t241-b","runId":"r","reuseLease":true}',
  ::get('pc-env-t241-a', $::GW, $::OPEN_PORT) ]
--- response_body_like eval
[ qr/^\{"providerLeaseId":"pc-env-t241-a",/, qr/^\{"providerLeaseId":"pc-env-t241-b",/,
  qr/\A\Q${\ ::res("model api here\nexit 0\n") }\E\z/ ]



=== TEST 2: it does not reach a server of the host on the same address, port not allowed
--- request eval
::get('pc-env-t241-a', $::GW, $::SHUT_PORT)
--- response_body eval
::res("exit 1\n")



=== TEST 3: lease b serves HTTP and reaches itself on its network address
--- request eval
sub { ::ex('pc-env-t241-b', 'echo lease-b > /workspace/index.html && httpd -p 8000 -h /workspace && '
           . "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " . ::lease_ip('pc-env-t241-b')
           . " 8000 | sed -n '\$p'") }
--- response_body eval
::res("lease-b\n")



=== TEST 4: lease a cannot reach lease b's container
--- request eval
sub { ::get('pc-env-t241-a', ::lease_ip('pc-env-t241-b'), 8000) }
--- response_body eval
::res("exit 1\n")



=== TEST 5: the host itself reaches lease b's server (the address is right)
--- request
GET /_inspect/_ping
--- response_body_like eval
sub {
    my $s = IO::Socket::INET->new(PeerAddr => ::lease_ip('pc-env-t241-b'), PeerPort => 8000, Timeout => 5)
        or return qr/cannot connect/;
    print $s "GET /index.html HTTP/1.0\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    return $r =~ /lease-b/ ? qr/^OK$/ : qr/no answer from lease b/;
}



=== TEST 6: DELETE both leases
--- request eval
[ "DELETE $::API/leases/pc-env-t241-a", "DELETE $::API/leases/pc-env-t241-b" ]
--- response_body eval
[ '{"ok":true}', '{"ok":true}' ]
