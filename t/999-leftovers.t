# Runs last (prove sorts t/*.t): nothing the suite created may be left
# behind on the private services -- no container labelled with a test
# prefix (paperclip.bridge.prefix=t...) on the private dockerd, no lease
# key of a test prefix (t*:lease:*) in the test redis, and no egress network
# (label psb.egress=1, util/egress.sh) on that dockerd.
use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep);

use SandboxBridge::Scenario qw(docker_cmd redis_keys redis_cli wait_until);

my @need = grep { !$ENV{$_} } qw(DOCKER_HOST TEST_NGINX_REDIS_PORT);
plan skip_all => "@need not set; run through make test" if @need;

my $port = $ENV{TEST_NGINX_REDIS_PORT};

my ($rc, $out) = docker_cmd('version', '--format', '{{.Server.APIVersion}}');
is($rc, 0, "the private dockerd ($ENV{DOCKER_HOST}) answers") or diag($out);
($rc, $out) = redis_cli($port, 'PING');
is($out, 'PONG', "the test redis (port $port) answers");

# containers carrying the prefix label, as "<prefix>\t<lease>\t<name>\t<state>"
sub labelled {
    my ($rc, $out) = docker_cmd('ps', '-a', '--no-trunc', '--filter',
                                'label=paperclip.bridge.prefix', '--format',
                                '{{.Label "paperclip.bridge.prefix"}}\t'
                                . '{{.Label "paperclip.bridge.lease"}}\t{{.Names}}\t{{.State}}');
    die "docker ps failed ($rc): $out" if $rc;
    return grep { /^t/ } split /\n/, $out;
}

# Work that finishes asynchronously right after a response (e.g. a DELETE
# racing an acquire) gets a few seconds to settle before we complain.
my @left;
wait_until(sub { @left = labelled(); !@left }, 5, 0.25);
is(scalar @left, 0, 'no container labelled with a test prefix (paperclip.bridge.prefix=t...)')
    or diag(join "\n", 'left behind:', @left);

my @keys;
wait_until(sub { @keys = redis_keys($port, 't*:lease:*'); !@keys }, 5, 0.25);
is(scalar @keys, 0, 'no t*:lease:* key in the test redis')
    or diag(join "\n", 'left behind:', map { "$_ (ttl " . scalar(redis_cli($port, 'PTTL', $_)) . ")" } @keys);

($rc, $out) = docker_cmd('network', 'ls', '--filter', 'label=psb.egress=1',
                         '--format', '{{.Name}}');
is("$rc:$out", '0:', 'no egress network (label psb.egress=1) on the private dockerd');

done_testing();
