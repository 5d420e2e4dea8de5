#!/usr/bin/env bash
# Scan ASan/LSan report files (and logs) after `make test-asan`.
#
#   util/asan-scan.sh FILE...      exit 0: nothing real found; 1: reports printed
#
# Every AddressSanitizer error, UBSan runtime error and LSan leak counts,
# except for one known nginx-core false positive that no suppression pattern
# can express precisely: when nginx exits early (bad config: `--- must_die`,
# `nginx -t` failures), main() returns without destroying init_cycle.pool, so
# LSan reports exactly "ngx_create_pool <- main" (1 KiB).  A leak report is
# ignored only if *every* block in it is that stack.  Exit-time leaks of the
# worker's event arrays are suppressed in lsan.suppress instead.
set -euo pipefail
[ $# -gt 0 ] || exit 0

exec perl -e '
use strict; use warnings;
my ($bad, $benign) = (0, 0);
for my $f (@ARGV) {
    open(my $fh, "<", $f) or next;
    my $text = do { local $/; <$fh> };
    next unless $text =~ /ERROR: (?:AddressSanitizer|LeakSanitizer)|LeakSanitizer has encountered|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/;
    my $real = 1;
    if ($text !~ /ERROR: AddressSanitizer|LeakSanitizer has encountered|runtime error:/
        && $text =~ /ERROR: LeakSanitizer: detected memory leaks/)
    {
        # A process that exits without freeing its cycle (nginx -t, a failed
        # start) leaks the init pool and what configuration parsing put in
        # the cycle pool; such blocks were all allocated under
        # ngx_init_cycle(). Anything allocated while serving is real.
        my @blocks = split /\n(?=(?:Direct|Indirect) leak of )/, $text;
        shift @blocks;                               # header
        my $all_known = @blocks ? 1 : 0;
        for my $b (@blocks) {
            my @fn = map { /^\s*#\d+ 0x[0-9a-f]+ in (\S+)/ ? $1 : () } split /\n/, $b;
            @fn = grep { !/^(?:__interceptor_|__asan_|malloc$|calloc$|realloc$|posix_memalign$|ngx_alloc$|ngx_calloc$|ngx_memalign$)/ } @fn;
            my $init_pool = @fn >= 2 && $fn[0] eq "ngx_create_pool" && $fn[1] eq "main";
            my $config = grep { $_ eq "ngx_init_cycle" } @fn;
            $all_known = 0 unless $init_pool || $config;
        }
        $real = 0 if $all_known;
    }
    if ($real) {
        $bad++;
        print STDERR "==== $f\n";
        my @l = split /\n/, $text;
        print STDERR join("\n", @l > 120 ? (@l[0..119], "... (" . (@l - 120) . " more lines)") : @l), "\n";
    } else {
        $benign++;
    }
}
print STDERR "asan-scan: ignored $benign report(s) of nginx exiting early (init_cycle pool)\n" if $benign;
if ($bad) { print STDERR "asan-scan: $bad file(s) with ASan/LSan reports\n"; exit 1 }
print STDERR "asan-scan: no ASan/LSan reports\n";
exit 0;
' "$@"
