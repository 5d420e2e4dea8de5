#!/usr/bin/perl
# util/subreaper.pl COMMAND [ARG...] -- run COMMAND as a child subreaper
# (prctl PR_SET_CHILD_SUBREAPER) and exit with its status.
#
# The test nginx daemonizes, so its processes are orphans; when one exits
# it stays a zombie until whoever adopted it reaps it. Under this process
# that happens at once. Otherwise PID 1 adopts them, and some init
# processes reap only every second or so, while Test::Nginx waits for
# `kill 0` on the old nginx to fail (a zombie still counts) before it
# starts the next block's nginx. Where prctl is not known (other
# architectures), COMMAND simply runs.
use strict;
use warnings;
use Config;

my %prctl = (x86_64 => 157, aarch64 => 167);
my ($arch) = $Config{archname} =~ /^(x86_64|aarch64)/;
my $PR_SET_CHILD_SUBREAPER = 36;

if (!$arch
    || syscall($prctl{$arch}, $PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
{
    exec @ARGV or die "subreaper.pl: exec $ARGV[0]: $!\n";
}

my $pid = fork // die "subreaper.pl: fork: $!\n";
if ($pid == 0) {
    exec @ARGV or die "subreaper.pl: exec $ARGV[0]: $!\n";
}

# the command's status; orphans are reaped as they exit
$SIG{$_} = sub { kill $_[0], $pid } for qw(TERM INT HUP);
while (1) {
    my $p = waitpid(-1, 0);
    last if $p == $pid || $p < 0;
}
my $st = $?;
exit($st & 127 ? 128 + ($st & 127) : $st >> 8);
