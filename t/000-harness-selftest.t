# Self-test of the project's Test::Nginx::Socket (t/lib/Test/Nginx).
# Runs the fixtures in t/harness/*.tt in subprocesses, each with its own
# port and server root, and checks their TAP output: passing fixtures must
# pass, and every deliberately broken block must fail exactly where expected.
use strict;
use warnings;

use Cwd qw(getcwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run ();
use POSIX ();
use Test::More;

my $Root     = getcwd();
my $Lib      = "$Root/t/lib";
my $Fixtures = "$Root/t/harness";
my $Tmp      = tempdir('tn-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $Binary   = $ENV{TEST_NGINX_BINARY} || 'nginx';

plan skip_all => "no nginx binary '$Binary'"
    unless system("$Binary -v >/dev/null 2>&1") == 0;

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "cannot get a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub proc_cmdlines {
    my %c;
    opendir my $dh, '/proc' or return {};
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $in, '<', "/proc/$pid/stat" or next;
        my $stat = <$in> // '';
        next if $stat =~ /\)\s+[ZX]\s/;    # zombies are gone already
        open $in, '<', "/proc/$pid/cmdline" or next;
        local $/;
        (my $c = <$in> // '') =~ s/\0/ /g;
        $c{$pid} = $c;
    }
    return \%c;
}

my $Seq = 0;

# Run one fixture; returns a hash with out, err, exit, plan, bailed and
# tests (list of { ok, name }).
sub run_fixture {
    my ($fixture, %opt) = @_;
    my $label    = $fixture =~ s/\.tt$//r;
    my $servroot = $opt{servroot} // "$Tmp/" . $label . '-' . ++$Seq;
    my $port     = $opt{port} // free_port();

    local %ENV = %ENV;
    delete $ENV{$_} for grep { /^TEST_NGINX_/ && $_ ne 'TEST_NGINX_BINARY' } keys %ENV;
    $ENV{TEST_NGINX_SERVER_PORT} = $port;
    $ENV{TEST_NGINX_SERVROOT}    = $servroot;
    %ENV = (%ENV, %{ $opt{env} || {} });

    my ($out, $err) = ('', '');
    my $cwd = $opt{cwd} // $Root;
    eval {
        IPC::Run::run([$^X, "-I$Lib", "$Fixtures/$fixture"], '<', \undef,
                      '>', \$out, '2>', \$err,
                      init => sub { chdir $cwd or die "chdir $cwd: $!" },
                      IPC::Run::timeout(120));
    };
    my $died = $@;
    my %r = (out => $out, err => $err, exit => $? >> 8, tests => [],
             servroot => $servroot, port => $port);
    fail("$fixture - subprocess error: $died") if $died;

    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            my ($ok, $name) = (!$1, $2);
            $name =~ s/\\#/#/g;
            push @{ $r{tests} }, { ok => $ok, name => $name };
        } elsif ($line =~ /^1\.\.(\d+)/) {
            $r{plan} = $1;
        } elsif ($line =~ /^Bail out!\s*(.*)/) {
            $r{bailed} = $1;
        }
    }

    # Nothing may survive the fixture: no process mentioning its server
    # root, and its port must be free again.
    my $procs = proc_cmdlines();
    my @left = grep { index($procs->{$_}, $servroot) >= 0 } keys %$procs;
    ok(!@left, "$fixture: no nginx process left behind")
        or diag(join "\n", map { "$_: $procs->{$_}" } @left);
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1);
    ok($s, "$fixture: port $port is free again");
    # Everything on stderr must be TAP diagnostics (no Perl warnings).
    my @noise = grep { !/^#/ && /\S/ } split /\n/, $err;
    ok(!@noise, "$fixture: stderr holds only diagnostics") or diag(join "\n", @noise);
    return \%r;
}

sub tests_of { my ($r, $prefix) = @_; grep { index($_->{name}, $prefix) == 0 } @{ $r->{tests} } }
sub failed_of { my ($r, $prefix) = @_; grep { !$_->{ok} } tests_of($r, $prefix) }

sub show { my $r = shift; diag("stdout:\n$r->{out}\nstderr:\n$r->{err}") }

#---------------------------------------------------------------------------
# A fixture exercising every supported feature passes completely.
#---------------------------------------------------------------------------
for my $mode ('default', 'HUP') {
    my $r = run_fixture('pass.tt', env => $mode eq 'HUP' ? { TEST_NGINX_USE_HUP => 1 } : {});
    my @failed = grep { !$_->{ok} } @{ $r->{tests} };
    is($r->{exit}, 0, "pass.tt ($mode): exit status 0") or show($r);
    is(scalar @failed, 0, "pass.tt ($mode): no failing assertion")
        or diag(join "\n", map { $_->{name} } @failed);
    is(scalar @{ $r->{tests} }, 50, "pass.tt ($mode): all 50 assertions ran");
    my %seen = map { /^TEST (\d+):/ ? ($1 => 1) : () } map { $_->{name} } @{ $r->{tests} };
    # TEST 12 (abort + ignore_response) makes no assertion by design.
    is_deeply([sort { $a <=> $b } keys %seen], [1 .. 11, 13 .. 17],
              "pass.tt ($mode): every block ran");
    ok(scalar(tests_of($r, 'TEST 6:')) == 4 && scalar(tests_of($r, 'TEST 16:')) == 4,
       "pass.tt ($mode): multi-request blocks check every response");
    is(scalar(grep { $_->{name} =~ /matches a line in error\.log/ } tests_of($r, 'TEST 14:')), 2,
       "pass.tt ($mode): the error log is checked after every request");
}

#---------------------------------------------------------------------------
# Each broken block fails exactly where it should; the others still run.
#---------------------------------------------------------------------------
for my $mode ('default', 'HUP') {
    my $r = run_fixture('failures.tt', env => $mode eq 'HUP' ? { TEST_NGINX_USE_HUP => 1 } : {});
    my %expect = (
        F1  => qr/- response_body - response is expected/,
        F2  => qr/- status code ok$/,
        F3  => qr/- header X-Foo ok$/,
        F4  => qr/- header X-Foo not present/,
        F5  => qr/pattern "this line is never logged" should match a line in error\.log/,
        F6  => qr/pattern "\[error\]" should not match any line in error\.log/,
        F7  => qr/unexpected \[alert\] in error\.log .*selftest injected alert/,
        F8  => qr/client socket timed out/,
        F9  => qr/nginx must die but it started/,
        F10 => qr/- response_body_like - response is expected/,
        F11 => qr/--- request eval failed: selftest eval death/,
        F12 => qr/nginx failed to start/,
        F13 => qr/sanitizer report from nginx/,
        # B: evals run in package Test::Base::Filter under strict
        F14 => qr/--- request eval failed: Undefined subroutine &Test::Base::Filter::path called/,
        F15 => qr/--- request eval failed: Global symbol "\$Path" requires explicit package name/,
        # C: evals run at file start, before the block that made the state
        F16 => qr/- response_body - response is expected/,
        # D: the second request no longer sees the start-up line
        F17 => qr/pattern "duplicate extension "txt"" should match a line in error\.log \(req 1\)/,
        F18 => qr/--- response_body_like response_body_unlike: upstream Test::Nginx checks only --- response_body_like/,
    );
    isnt($r->{exit}, 0, "failures.tt ($mode): exit status is non-zero");
    for my $f (sort { substr($a, 1) <=> substr($b, 1) } keys %expect) {
        my @failed = failed_of($r, "$f:");
        ok(@failed == 1 && $failed[0]{name} =~ $expect{$f},
           "failures.tt ($mode): $f fails exactly once, as expected")
            or diag("failed: " . join(' | ', map { $_->{name} } @failed));
    }
    is(scalar(grep { !$_->{ok} } @{ $r->{tests} }), scalar keys %expect,
       "failures.tt ($mode): no other failures");
    ok(tests_of($r, 'F17:') == 6, "failures.tt ($mode): F17 checked the log after each request");
    for my $okb ('OK1:', 'OK2:', 'OK3:') {
        my @t = tests_of($r, $okb);
        ok(@t == 2 && !grep({ !$_->{ok} } @t), "failures.tt ($mode): $okb block ran and passed");
    }
    like($r->{err}, qr/^# -goodbye\n# \+hello$/m, "failures.tt ($mode): body mismatch shows a unified diff");
    ok(!$r->{bailed}, "failures.tt ($mode): no bail out") or show($r);
}

#---------------------------------------------------------------------------
# What t/lib does like upstream Test::Nginx (A-D of Socket.pm's "Differences
# from upstream"): the fixture asserts it, see t/harness/upstream.tt.
#---------------------------------------------------------------------------
{
    my $r = run_fixture('upstream.tt');
    my @failed = grep { !$_->{ok} } @{ $r->{tests} };
    is($r->{exit}, 0, 'upstream.tt: exit status 0') or show($r);
    ok(!@failed, 'upstream.tt: no failing assertion')
        or diag(join "\n", map { $_->{name} } @failed);
    is(scalar @{ $r->{tests} }, 14, 'upstream.tt: all 14 assertions ran');
}

#---------------------------------------------------------------------------
# A real [alert] logged by nginx: accepted when expected, a failure otherwise.
#---------------------------------------------------------------------------
{
    my $r = run_fixture('alert.tt');
    ok(tests_of($r, 'A1:') == 3 && !failed_of($r, 'A1:'), 'alert.tt: expected [alert] passes')
        or show($r);
    my @f = failed_of($r, 'A2:');
    ok(@f == 1 && $f[0]{name} =~ /unexpected \[alert\].*worker_connections are not enough/,
       'alert.tt: unexpected [alert] fails') or show($r);
}

#---------------------------------------------------------------------------
# An unset $TEST_NGINX_* variable bails out (and nginx is still stopped).
#---------------------------------------------------------------------------
{
    my $r = run_fixture('bail.tt');
    like($r->{bailed} // '', qr/TEST_NGINX_SELFTEST_UNSET is not set/, 'bail.tt: bails out with a clear message');
    is($r->{exit}, 255, 'bail.tt: exit status 255');
    ok(tests_of($r, 'B1:') == 2 && !failed_of($r, 'B1:'), 'bail.tt: the block before ran');
    ok(!tests_of($r, 'B3:'), 'bail.tt: nothing runs after the bail out');
}

#---------------------------------------------------------------------------
# repeat_each(2) doubles the runs and matches "plan tests => ...".
#---------------------------------------------------------------------------
{
    my $r = run_fixture('repeat.tt');
    is($r->{exit}, 0, 'repeat.tt: exit status 0') or show($r);
    is($r->{plan}, 8, 'repeat.tt: plan is repeat_each() * 2 * blocks() = 8');
    is(scalar(grep { $_->{ok} } @{ $r->{tests} }), 8, 'repeat.tt: 8 passing assertions');
    ok(tests_of($r, 'R1:') == 4 && tests_of($r, 'R2:') == 4, 'repeat.tt: each block ran twice');
}

#---------------------------------------------------------------------------
# The test process exits or is terminated while nginx runs: nginx is
# stopped anyway (run_fixture checks for leftovers).
#---------------------------------------------------------------------------
{
    my $r = run_fixture('dies.tt', env => { SELFTEST_DIE_MODE => 'exit' });
    is($r->{exit}, 7, 'dies.tt: exit() in request eval ends the test file');
    $r = run_fixture('dies.tt', env => { SELFTEST_DIE_MODE => 'term' });
    ok(!tests_of($r, 'D1:'), 'dies.tt: SIGTERM ends the test file');
}

#---------------------------------------------------------------------------
# A stale nginx from an earlier run (same server root) is killed first.
#---------------------------------------------------------------------------
{
    my $sr = "$Tmp/stale";
    my $port = free_port();
    mkdir $_ for $sr, "$sr/conf", "$sr/logs";
    open my $out, '>', "$sr/conf/stale.conf" or die $!;
    print $out "daemon on; master_process off; pid $sr/logs/nginx.pid;\n"
             . "error_log $sr/logs/stale.log;\nevents {}\n"
             . "http { server { listen 127.0.0.1:$port; return 200 stale; } }\n";
    close $out;
    system($Binary, '-p', "$sr/", '-c', "$sr/conf/stale.conf", '-e', "$sr/logs/stale.log") == 0
        or die "cannot start the stale nginx";
    my $pid;
    for (1 .. 200) {
        if (open my $in, '<', "$sr/logs/nginx.pid") {
            $pid = <$in>;
            last if defined $pid;
        }
        POSIX::usleep(10_000);
    }
    chomp $pid if defined $pid;
    ok($pid && kill(0, $pid), 'stale nginx is running before the fixture');
    my $r = run_fixture('repeat.tt', servroot => $sr, port => $port);
    is($r->{exit}, 0, 'stale: fixture passes on the port of a stale nginx') or show($r);
    like($r->{err}, qr/killing stale nginx \(pid $pid\)/, 'stale: the harness killed it');
    if ($pid && kill 0, $pid) {    # clean up our own nginx if the harness did not
        kill 'KILL', $pid;
    }
}

#---------------------------------------------------------------------------
# Valgrind mode: errors are reported, valgrind.suppress (cwd) is honoured.
#---------------------------------------------------------------------------
SKIP: {
    skip 'valgrind not installed', 8 unless system('valgrind --version >/dev/null 2>&1') == 0;
    # Use the stock nginx from PATH: TEST_NGINX_BINARY may be an ASan build.
    my ($stock) = grep { -x } map { "$_/nginx" } split /:/, $ENV{PATH};
    skip 'no nginx in PATH', 8 unless $stock;
    # nginx 1.22 leaks its environment copy at exit in single-process mode.
    my $plain = "$Tmp/vg-plain";
    my $supp  = "$Tmp/vg-supp";
    mkdir $_ for $plain, $supp;
    open my $out, '>', "$supp/valgrind.suppress" or die $!;
    print $out "{\n   ngx_set_environment\n   Memcheck:Leak\n   ...\n"
             . "   fun:ngx_set_environment\n}\n";
    close $out;

    my %vg = (TEST_NGINX_USE_VALGRIND => 1, TEST_NGINX_BINARY => $stock);
    my $r = run_fixture('repeat.tt', cwd => $plain, env => \%vg);
    my @f = grep { !$_->{ok} } @{ $r->{tests} };
    ok(@f && $f[0]{name} =~ /valgrind reported errors/, 'valgrind: a leak is reported as a failure')
        or show($r);
    $r = run_fixture('repeat.tt', cwd => $supp, env => \%vg);
    is($r->{exit}, 0, 'valgrind: passes with valgrind.suppress in the cwd') or show($r);
}

done_testing();
