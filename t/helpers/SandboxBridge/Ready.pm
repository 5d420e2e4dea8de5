package SandboxBridge::Ready;

# Waits, in a block's --- init, until the worker logged that its Redis
# connection is ready, so a block's assertions do not depend on how fast
# the connection comes up (requests sent earlier still work: they are
# queued behind the handshake; t/060 proves that on its own).

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes ();

our @EXPORT = qw(wait_redis_ready wait_store_ready);

sub wait_redis_ready {
    my $log = main::server_root() . "/logs/error.log";
    my $deadline = Time::HiRes::time() + 5;

    while (Time::HiRes::time() < $deadline) {
        if (open my $in, '<', $log) {
            local $/;
            return 1 if (<$in> // '') =~ /sandbox bridge: redis "[^"]*" ready/;
        }

        Time::HiRes::sleep(0.005);
    }

    return 0;
}

*wait_store_ready = \&wait_redis_ready;

1;
