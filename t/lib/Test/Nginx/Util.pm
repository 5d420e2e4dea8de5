package Test::Nginx::Util;

# Engine of the project's own Test::Nginx::Socket replacement: config writer,
# nginx process manager, raw-socket HTTP client, block runner and checks.
# Written from the documented Test::Nginx behaviour (no upstream code); see
# Test/Nginx/Socket.pm for the user-level documentation.

use strict;
use warnings;

use base 'Exporter';

use Cwd ();
use Errno ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL SIGHUP);
use Scalar::Util qw(looks_like_number);
use Text::Diff ();
use Time::HiRes qw(sleep time);
use Test::More ();

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle no_long_string log_level
    master_on master_off master_process_enabled workers worker_connections
    no_root_location add_block_preprocessor add_cleanup_handler env_to_nginx
    server_addr server_name server_port server_port_for_client server_root
    html_dir timeout config_preamble no_check_leak check_accum_error_log
    use_hup bail_out is_str error_log_data
);

#---------------------------------------------------------------------------
# Settings (environment first, then the knobs test files call)
#---------------------------------------------------------------------------

our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $UseValgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseHup              = $ENV{TEST_NGINX_USE_HUP};
our $Verbose             = $ENV{TEST_NGINX_VERBOSE};
our $ForceRestart        = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} || 0;
our $Settle              = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $MasterProcess       = ($ENV{TEST_NGINX_MASTER_PROCESS} || 'off') eq 'on' ? 'on' : 'off';
our $Workers             = 1;
our $WorkerConnections   = 1024;
our $RepeatEach          = 1;
our $NoLongString        = 0;
our $NoRootLocation      = 0;
our $CheckAccumErrLog    = 0;
our $ConfigPreamble      = '';
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);

# Under valgrind nginx is slow: longer startup wait, stop grace and I/O steps.
our $StartupWait      = $UseValgrind ? 60 : 10;
our $StopGrace        = $UseValgrind ? 60 : 5;
our $ValgrindIOFactor = 3;
our $ValgrindExitCode = 99;

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ServRoot =~ s{/+$}{};
our $LogDir      = "$ServRoot/logs";
our $ConfDir     = "$ServRoot/conf";
our $HtmlDir     = "$ServRoot/html";
our $ConfFile    = "$ConfDir/nginx.conf";
our $PidFile     = "$LogDir/nginx.pid";
our $ErrLogFile  = "$LogDir/error.log";
our $AccLogFile  = "$LogDir/access.log";
our $StderrFile  = "$LogDir/nginx.stderr";
our $ValgrindLog = "$LogDir/valgrind.log";

# Like upstream: only TEST_NGINX_SERVER_ROOT is set here, and
# TEST_NGINX_SERVER_PORT by run_tests(); test files set anything else
# themselves (e.g. $ENV{TEST_NGINX_HTML_DIR} ||= html_dir();).
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub log_level (@)          { $LogLevel = shift if @_; $LogLevel }
sub master_on ()           { $MasterProcess = 'on' }
sub master_off ()          { $MasterProcess = 'off' }
sub master_process_enabled (@) {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    $MasterProcess;
}
sub workers (@)            { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConnections = shift if @_; $WorkerConnections }
sub no_root_location ()    { $NoRootLocation = 1 }
# like upstream, the preprocessor added last runs first
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub server_addr (@)        { $ServerAddr = shift if @_; $ServerAddr }
sub server_name (@)        { $ServerName = shift if @_; $ServerName }
sub server_port (@)        { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_; $ServerPortForClient }
sub server_root ()         { $ServRoot }
sub html_dir ()            { $HtmlDir }
sub timeout (@)            { $Timeout = shift if @_; $Timeout }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub no_check_leak ()       { 1 }    # leak mode is not implemented; accepted
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub use_hup ()             { $UseHup = 1 }

sub env_to_nginx (@) {
    for my $v (@_) {
        die "env_to_nginx: bad value '$v'\n" if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

#---------------------------------------------------------------------------
# Small helpers
#---------------------------------------------------------------------------

our $MainPid = $$;

# forward declarations for prototyped subs used before their definition
sub expand_env ($$$$);
sub bail_out (@);
sub cleanup ();
sub http_exchange ($$$$);
sub parse_response ($$);
sub tail ($$);
sub eval_section_code ($);
sub eval_init_code ($) { eval $_[0] }   # package Test::Nginx::Util, strict

sub vlog { warn "# [test-nginx] @_\n" if $Verbose }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# "3", "1.5", "500ms", "2s" -> seconds
sub parse_time ($) {
    my $t = shift;
    return undef if !defined $t;
    $t =~ s/^\s+|\s+$//g;
    return undef if $t eq '';
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s?$/;
    die "bad time value '$t'\n";
}

sub escape_str ($) {
    my $s = shift;
    return 'undef' if !defined $s;
    $s =~ s/\\/\\\\/g;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x08\x0b\x0c\x0e-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
    return qq{"$s"};
}

sub short ($) {
    my $s = shift;
    return $s if length $s <= 300;
    return substr($s, 0, 300) . "...(" . length($s) . " bytes)";
}

# String comparison that prints a unified diff on mismatch (a Regexp as the
# expected value means "like").
sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    my $ok = defined $got && defined $expected && $got eq $expected
             || !defined $got && !defined $expected;
    Test::More::ok($ok, $desc);
    return 1 if $ok;
    if ($NoLongString) {
        Test::More::diag("     got: " . escape_str($got) . "\n"
                         . "expected: " . escape_str($expected));
        return 0;
    }
    if (defined $got && defined $expected) {
        my $diff = Text::Diff::diff(\$expected, \$got, {
            STYLE => 'Unified', FILENAME_A => 'expected', FILENAME_B => 'got',
        });
        Test::More::diag($diff) if $diff ne '';
    }
    Test::More::diag("     got: " . escape_str(short $got) . "\n"
                     . "expected: " . escape_str(short $expected));
    return 0;
}

sub read_file_from ($$) {
    my ($file, $pos) = @_;
    open my $in, '<', $file or return ('', $pos);
    binmode $in;
    if ($pos && $pos <= -s $in) {
        seek $in, $pos, 0;
    }
    local $/;
    my $data = <$in> // '';
    my $end = tell $in;
    close $in;
    return ($data, $end);
}

sub file_size ($) { my $s = -s $_[0]; $s // 0 }

sub error_log_data () {
    my ($data) = read_file_from($ErrLogFile, 0);
    return [split /^/m, $data];
}

sub can_run ($) {
    my $cmd = shift;
    return -x $cmd ? $cmd : undef if $cmd =~ m{/};
    for my $dir (split /:/, $ENV{PATH} // '') {
        return "$dir/$cmd" if -x "$dir/$cmd" && !-d _;
    }
    return undef;
}

sub port_is_free ($) {
    my $port = shift;
    my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub gen_rand_port ($) {
    my $used = shift;
    for (1 .. 1000) {
        my $port = 1985 + int rand(60000 - 1985);
        next if $used->{$port} || $port == $ServerPort;
        return $port if port_is_free($port);
    }
    return undef;
}

# Expand $TEST_NGINX_* in strings (recursively through array refs).
sub expand_env ($$$$) {
    my ($v, $name, $section, $rand_ports) = @_;
    return $v if !defined $v;
    if (ref $v eq 'ARRAY') {
        return [map { expand_env($_, $name, $section, $rand_ports) } @$v];
    }
    return $v if ref $v;
    $v =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = map { $_ => 1 } values %$rand_ports;
                my $port = gen_rand_port(\%used)
                    // bail_out("$name - cannot find a free port for \$$var");
                $rand_ports->{$var} = $port;
            }
            $val = $rand_ports->{$var};
        } else {
            $val = $ENV{$var};
            bail_out("$name - environment variable $var is not set "
                     . "(used in --- $section)") if !defined $val;
        }
        $val;
    }ge;
    return $v;
}

#---------------------------------------------------------------------------
# Test::Base section filtering
#---------------------------------------------------------------------------
# Like upstream, run_tests() filters every block before the first nginx
# starts: a "--- X eval" runs at file start, in package Test::Base::Filter
# under strict (see eval_section_code at the end of this file).  Unlike
# upstream, an eval that dies fails its block instead of becoming the
# section's text.

sub filter_block ($) {
    my $blk = shift;
    my $map = $blk->_section_map || {};
    for my $type (@{ $blk->_section_order || [] }) {
        my @value = @{ $blk->{$type} || [] };
        my $ok = eval {
            for my $filter ($blk->_get_filters($type, $map->{$type}{filters})) {
                no warnings 'once';
                local $Test::Base::Filter::arguments =
                    $filter =~ s/=(.*)$// ? $1 : undef;
                no strict 'refs';
                if ($filter eq 'eval') {
                    my $code = join '', grep { defined } @value;
                    @value = eval_section_code($code);
                    die "--- $type eval failed: $@" if $@;
                } elsif (defined &{"main::$filter"}) {
                    local $_ = (@value == 1 && !defined $value[0]) ? undef : join '', @value;
                    @value = &{"main::$filter"}(@value);
                    @value = ($_) if !@value
                        || @value == 1 && defined $value[0] && $value[0] =~ /\A(\d+|)\z/;
                } else {
                    my $obj = $blk->blocks_object->filter_class->new;
                    die "--- $type: unknown filter '$filter'\n" unless $obj->can($filter);
                    $obj->current_block($blk);
                    @value = $obj->$filter(@value);
                }
            }
            1;
        };
        if (!$ok) {
            (my $err = $@ || 'unknown error') =~ s/\s+\z//;
            $blk->{_tn_filter_error} //= $err;
        }
        $blk->{$type} = [@value];
    }
    $blk->is_filtered(1);
}

# Value of a section (first element, like Test::Base accessors).
sub sect ($$) {
    my ($blk, $type) = @_;
    my $v = $blk->{$type};
    return ref $v eq 'ARRAY' ? $v->[0] : undef;
}

#---------------------------------------------------------------------------
# Server root and nginx.conf
#---------------------------------------------------------------------------

sub setup_server_root () {
    bail_out("refusing to use '$ServRoot' as server root")
        if $ServRoot eq '' || $ServRoot eq '/' || $ServRoot eq Cwd::getcwd();
    remove_tree($ConfDir, $LogDir, $HtmlDir, glob("$ServRoot/*_temp"),
                glob("$ServRoot/*_cache")) if -d $ServRoot;
    make_path($ServRoot, $ConfDir, $LogDir, $HtmlDir);
    -d $_ or bail_out("cannot create $_: $!") for $ConfDir, $LogDir, $HtmlDir;
    write_file("$HtmlDir/index.html",
        "<html><head><title>It works!</title></head><body>It works!</body></html>");
}

sub write_file ($$) {
    my ($path, $data) = @_;
    open my $out, '>', $path or die "cannot write $path: $!\n";
    binmode $out;
    print $out $data;
    close $out or die "cannot write $path: $!\n";
}

sub write_user_files ($) {
    my $blk = shift;
    my $files = sect($blk, 'user_files');
    return if !defined $files || $files eq '';
    my $name = $blk->name;
    my @list;
    if (!ref $files) {
        my ($fname, $date, $body);
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, '');
            } elsif (defined $fname) {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
    } elsif (ref $files eq 'ARRAY') {
        @list = @$files;
    } else {
        die "--- user_files must be a string or an ARRAY ref\n";
    }
    for my $f (@list) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) if $dir ne '' && !-d $dir;
        write_file($path, expand_env($body // '', $name, 'user_files',
                                     $blk->{_tn_rand_ports}));
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or die "touch -t $date $path failed\n";
        }
    }
}

my @TempPaths = qw(client_body proxy fastcgi uwsgi scgi);

# Full nginx.conf text for a (filtered) block.
sub config_text ($$) {
    my ($blk, $version) = @_;
    my $name = $blk->name;
    my $rp   = $blk->{_tn_rand_ports};
    my $main = expand_env(sect($blk, 'main_config') // '', $name, 'main_config', $rp);
    my $http = expand_env(sect($blk, 'http_config') // '', $name, 'http_config', $rp);
    my $conf = expand_env(sect($blk, 'config') // '', $name, 'config', $rp);
    my $post = expand_env(sect($blk, 'post_main_config') // '', $name,
                          'post_main_config', $rp);
    my ($level, $sname) = map { my $v = $_ // ''; $v =~ s/^\s+|\s+$//g; $v }
                              sect($blk, 'log_level'), sect($blk, 'server_name');
    $level = $LogLevel if $level eq '';
    $sname = $ServerName if $sname eq '';
    my $master = $UseHup ? 'on' : $MasterProcess;
    my $has = sub { $main =~ /^\s*$_[0]\b/m };

    my $out = "# generated by t/lib/Test/Nginx (do not edit)\n";
    $out .= "load_module $_;\n" for grep { length } split /\s+/, $LoadModules;
    $out .= "worker_processes $Workers;\n" unless $has->('worker_processes');
    $out .= "daemon off;\n";
    $out .= "master_process $master;\n";
    $out .= "error_log $ErrLogFile $level;\n";
    $out .= "pid $PidFile;\n";
    $out .= "user root;\n" if $> == 0 && !$has->('user');
    $out .= "env $_;\n" for @EnvToNginx;
    $out .= "\n$main\n";
    $out .= "events {\n    accept_mutex off;\n    worker_connections $WorkerConnections;\n}\n\n";
    $out .= "http {\n    access_log $AccLogFile;\n    default_type text/plain;\n"
          . "    keepalive_timeout 68;\n";
    for my $t (@TempPaths) {
        next if "$http\n$conf" =~ /\b${t}_temp_path\b/;
        $out .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }
    $out .= "\n$http\n\n";
    $out .= "    server {\n        listen $ServerAddr:$ServerPort;\n"
          . "        server_name '$sname';\n        client_max_body_size 30M;\n\n"
          . "$ConfigPreamble\n$conf\n";
    $out .= "        location / {\n            root $HtmlDir;\n"
          . "            index index.html index.htm;\n        }\n" unless $NoRootLocation;
    $out .= "    }\n";
    if ($UseHup) {
        # Hidden virtual server used to know when a reload has taken effect.
        $out .= "    server {\n        listen $ServerAddr:$ServerPort;\n"
              . "        server_name 'Test-Nginx';\n"
              . "        location = /ver { return 200 '$version'; }\n    }\n";
    }
    $out .= "}\n\n$post\n";
    return $out;
}

#---------------------------------------------------------------------------
# nginx process manager
#---------------------------------------------------------------------------
# nginx always runs with "daemon off" as our child process, so that we can
# wait for it, notice crashes and never lose track of it.

our $ChildPid;          # pid of nginx (or valgrind running nginx)
our $PrevConf;          # nginx.conf text of the running nginx (version-less)
our $PrevConfigSection; # last --- config used (blocks without one reuse it)
our $LastBlockName = 'startup';
our $ValgrindPos = 0;
our $HasDashE;
our $FirstStart = 1;

sub has_dash_e () {
    $HasDashE //= do {
        my $help = `$NginxBinary -h 2>&1`;
        $help =~ /-e filename/ ? 1 : 0;
    };
}

sub proc_state ($) {
    my $pid = shift;
    open my $in, '<', "/proc/$pid/stat" or return undef;
    my $stat = <$in> // '';
    close $in;
    return $stat =~ /\)\s+(\S)\s+(\d+)/ ? [$1, $2] : undef;
}

sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid;
    my $st = proc_state($pid);
    return $st && $st->[0] ne 'Z' && $st->[0] ne 'X' ? 1 : 0;
}

sub cmdline ($) {
    my $pid = shift;
    open my $in, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $c = <$in> // '';
    $c =~ s/\0/ /g;
    return $c;
}

sub child_pids ($) {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $st = proc_state($p) or next;
        push @kids, $p if $st->[1] == $ppid;
    }
    return @kids;
}

sub status_str ($) {
    my $st = shift;
    return 'unknown status' if !defined $st;
    return 'killed by signal ' . ($st & 127) . (($st & 128) ? ' (core dumped)' : '')
        if $st & 127;
    return 'exit code ' . ($st >> 8);
}

# Stop a process tree: QUIT, wait for the grace period, then KILL.
# Returns the wait status when the process was our child.
sub kill_tree ($$) {
    my ($pid, $grace) = @_;
    my @kids = child_pids($pid);
    my $status;
    my $mine = defined $ChildPid && $pid == $ChildPid;
    my $gone = sub {
        if ($mine) {
            my $r = waitpid($pid, WNOHANG);
            if ($r == $pid || $r == -1) { $status //= $? if $r == $pid; return 1 }
            return 0;
        }
        return !is_running($pid);
    };
    kill SIGQUIT, $pid;
    my $deadline = time + $grace;
    sleep 0.01 until $gone->() || time > $deadline;
    if (!$gone->()) {
        warn "# nginx process $pid did not exit after QUIT within ${grace}s; killing it\n";
        kill SIGKILL, $pid, grep { is_running($_) } @kids;
        $deadline = time + 5;
        sleep 0.01 until $gone->() || time > $deadline;
    }
    # Workers of a master that died abnormally must not survive it.
    for my $k (@kids) {
        if (is_running($k) && cmdline($k) =~ /nginx|valgrind|memcheck/) {
            kill SIGKILL, $k;
        }
    }
    return $status;
}

sub kill_stale_nginx () {
    return unless -f $PidFile;
    open my $in, '<', $PidFile or return;
    my $pid = <$in> // '';
    close $in;
    $pid =~ s/\s+//g;
    if ($pid =~ /^\d+$/ && $pid != $$ && is_running($pid)
        && cmdline($pid) =~ /nginx|valgrind|memcheck/)
    {
        warn "# killing stale nginx (pid $pid) left in $ServRoot\n";
        kill_tree($pid, 3);
    }
    unlink $PidFile;
}

# Report valgrind output produced since the last call; true if it failed.
sub check_valgrind ($) {
    my $name = shift;
    return 0 unless $UseValgrind;
    my ($data, $end) = read_file_from($ValgrindLog, $ValgrindPos);
    $ValgrindPos = $end;
    my @err = grep { /^==\d+==/ && !/^==\d+== Warning: / } split /^/m, $data;
    return 0 unless @err;
    Test::More::fail("$name - valgrind reported errors");
    Test::More::diag($data);
    return 1;
}

# Sanitizer reports (ASan/LSan/UBSan builds) end up in nginx's stderr or,
# once nginx has redirected stderr, in error.log; leak reports only at exit.
our ($SanLogPos, $SanStderrPos) = (0, 0);

sub check_sanitizers ($) {
    my $name = shift;
    my ($log, $lend) = read_file_from($ErrLogFile, $SanLogPos);
    my ($err, $eend) = read_file_from($StderrFile, $SanStderrPos);
    ($SanLogPos, $SanStderrPos) = ($lend, $eend);
    my $text = "$err$log";
    return unless $text =~ /ERROR: \w*Sanitizer|^\S+:\d+:\d+: runtime error: /m;
    my @lines = grep { /Sanitizer|runtime error:|^\s+#\d+ / } split /^/m, $text;
    Test::More::fail("$name - sanitizer report from nginx");
    Test::More::diag(join '', @lines[0 .. ($#lines < 59 ? $#lines : 59)]);
}

sub stop_nginx () {
    return unless defined $ChildPid;
    my $status = kill_tree($ChildPid, $StopGrace);
    check_sanitizers("$LastBlockName (at nginx exit)");
    # leak reports only appear when nginx exits
    if ($UseValgrind && !check_valgrind("$LastBlockName (at nginx exit)")
        && defined $status && !($status & 127) && ($status >> 8) == $ValgrindExitCode)
    {
        Test::More::fail("$LastBlockName - valgrind exit code reports errors");
    }
    undef $ChildPid;
    undef $PrevConf;
}

sub nginx_cmd (;$) {
    my $no_valgrind = shift;
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    push @cmd, '-e', $ErrLogFile if has_dash_e();
    if ($UseValgrind && !$no_valgrind) {
        my @opts = ('-q', '--num-callers=100', '--leak-check=full',
                    '--show-possibly-lost=no', '--errors-for-leak-kinds=definite',
                    '--gen-suppressions=all',
                    "--error-exitcode=$ValgrindExitCode", "--log-file=$ValgrindLog");
        push @opts, '--suppressions=' . File::Spec->rel2abs('valgrind.suppress')
            if -f 'valgrind.suppress';
        push @opts, split ' ', $UseValgrind if $UseValgrind !~ /^\d+$/;
        unshift @cmd, 'valgrind', @opts;
    }
    return @cmd;
}

sub spawn (@) {
    my @cmd = @_;
    vlog("starting: @cmd");
    my $pid = fork;
    die "fork failed: $!\n" if !defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $StderrFile;
        open STDERR, '>&', \*STDOUT;
        { exec { $cmd[0] } @cmd }
        print STDERR "cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    return $pid;
}

sub pid_file_is ($) {
    my $pid = shift;
    open my $in, '<', $PidFile or return 0;
    my $p = <$in> // '';
    close $in;
    $p =~ s/\s+//g;
    return $p eq $pid;
}

sub port_accepts () {
    my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPort,
                                  Proto => 'tcp', Timeout => 0.5);
    return 0 unless $s;
    close $s;
    return 1;
}

# Wait until nginx ($pid) serves the port, or exits.
# Returns ('up') or ('exited', $status) or ('timeout').
sub wait_startup ($$) {
    my ($pid, $limit) = @_;
    my $deadline = time + $limit;
    my $step = 0.005;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return ('exited', $?) if $r == $pid;
        return ('up') if pid_file_is($pid) && port_accepts();
        sleep $step;
        $step *= 1.5 if $step < 0.1;
    }
    return ('timeout');
}

sub startup_output () {
    my ($stderr) = read_file_from($StderrFile, 0);
    my ($log) = read_file_from($ErrLogFile, 0);
    return ($stderr, $log);
}

# Start nginx with the config already written. Returns undef on success or
# an error message.
sub start_nginx ($) {
    my $name = shift;
    my $deadline = time + 5;
    while (1) {
        my $pid = spawn(nginx_cmd());
        $ChildPid = $pid;
        my ($res, $status) = wait_startup($pid, $StartupWait);
        return undef if $res eq 'up';
        my ($stderr, $log) = startup_output();
        if ($res eq 'timeout') {
            kill_tree($pid, 2);
            undef $ChildPid;
            return "nginx did not start serving port $ServerPort within "
                 . "${StartupWait}s\n$stderr$log";
        }
        undef $ChildPid;
        # A previous instance may still be releasing the port.
        if ("$stderr$log" =~ /Address already in use/ && time < $deadline) {
            sleep 0.2;
            next;
        }
        return "nginx exited during startup (" . status_str($status) . ")\n"
             . "--- stderr:\n$stderr--- error.log:\n" . tail($log, 30);
    }
}

sub tail ($$) {
    my ($text, $n) = @_;
    my @l = split /^/m, $text;
    @l = @l[-$n .. -1] if @l > $n;
    return join '', @l;
}

# HTTP GET used to poll the hidden /ver server in HUP mode.
sub fetch_version () {
    my ($raw) = http_exchange(["GET /ver HTTP/1.1\r\nHost: Test-Nginx\r\n"
                               . "Connection: close\r\n\r\n"], 1, 0, undef);
    my $res = parse_response($raw // '', 0);
    return $res && defined $res->{code} && $res->{code} == 200 ? $res->{body} : '';
}

sub reload_nginx ($$) {
    my ($blk, $conf) = @_;
    my $version = join '', map { ('a' .. 'z')[rand 26] } 1 .. 12;
    (my $text = $conf) =~ s/\@\@CONF_VERSION\@\@/$version/;
    write_file($ConfFile, $text);
    write_user_files($blk);
    my @old_workers = child_pids($ChildPid);
    my $log_pos = file_size($ErrLogFile);
    kill SIGHUP, $ChildPid or return 0;
    # Done when the new config answers and the old workers are gone (they
    # could otherwise still take new connections for a moment).
    my $deadline = time + ($UseValgrind ? 60 : 10);
    my $old_deadline = time + 5;
    while (time < $deadline) {
        return 0 if waitpid($ChildPid, WNOHANG) == $ChildPid;
        # the master keeps the old config when the new one is invalid
        return 0 if (read_file_from($ErrLogFile, $log_pos))[0] =~ /\[emerg\]/;
        my @left = time < $old_deadline ? grep { is_running($_) } @old_workers : ();
        return 1 if !@left && fetch_version() eq $version;
        sleep 0.01;
    }
    return 0;
}

# Make sure nginx runs with the block's config.
# Returns ($how, $log_pos) where $how is 'started', 'reloaded' or 'reused';
# returns () when nginx could not be started (a failure was reported).
sub ensure_nginx ($$) {
    my ($blk, $rep) = @_;
    my $name = $blk->name;
    my $conf = config_text($blk, '@@CONF_VERSION@@');

    if (defined $ChildPid && waitpid($ChildPid, WNOHANG) == $ChildPid) {
        Test::More::diag("$name - nginx (pid $ChildPid) had exited ("
                         . status_str($?) . "); restarting");
        undef $ChildPid;
        undef $PrevConf;
    }

    my $running = defined $ChildPid;
    # a block without --- config uses whatever nginx is running (like upstream)
    return ('reused', file_size($ErrLogFile)) if $running && $blk->{_tn_no_config};
    if ($running && defined $PrevConf && $conf eq $PrevConf
        && !($rep == 0 && ($ForceRestart || $UseHup)))
    {
        return ('reused', file_size($ErrLogFile));
    }

    if ($running && $UseHup) {
        my $pos = file_size($ErrLogFile);
        if (reload_nginx($blk, $conf)) {
            $PrevConf = $conf;
            return ('reloaded', $pos);
        }
        Test::More::diag("$name - HUP reload failed; restarting nginx");
    }

    stop_nginx();
    if ($FirstStart) {
        kill_stale_nginx();
        undef $FirstStart;
    }
    setup_server_root();
    write_user_files($blk);
    (my $text = $conf) =~ s/\@\@CONF_VERSION\@\@/initial/;
    write_file($ConfFile, $text);
    ($ValgrindPos, $SanLogPos, $SanStderrPos) = (0, 0, 0);
    my $err = start_nginx($name);
    if (defined $err) {
        Test::More::fail("$name - nginx failed to start");
        Test::More::diag($err);
        return ();
    }
    $PrevConf = $conf;
    return ('started', 0);
}

#---------------------------------------------------------------------------
# HTTP client
#---------------------------------------------------------------------------

# Send packets on a new connection and read until the peer closes.
# Returns ($raw_response, $error) where $error is undef, 'timeout' or a
# message.  $timeout applies to each connect/write/read step.
sub http_exchange ($$$$) {
    my ($packets, $timeout, $delay, $shutdown) = @_;
    my $sock;
    for my $try (1 .. 20) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock || !$!{ECONNREFUSED};
        sleep 0.05;
    }
    return (undef, "cannot connect to $ServerAddr:$ServerPortForClient: $!") unless $sock;
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my $resp = '';

  WRITE:
    for my $i (0 .. $#$packets) {
        sleep $delay if $i && $delay;
        my ($buf, $off) = ($packets->[$i], 0);
        while ($off < length $buf) {
            return ($resp, 'timeout') unless $sel->can_write($timeout);
            my $n = syswrite($sock, $buf, length($buf) - $off, $off);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                last WRITE;    # peer closed early; read what it sent
            }
            $off += $n;
        }
    }
    shutdown($sock, $shutdown) if defined $shutdown;

    while (1) {
        return ($resp, 'timeout') unless $sel->can_read($timeout);
        my $n = sysread($sock, my $chunk, 65536);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            last if $!{ECONNRESET};
            return ($resp, "read error: $!");
        }
        last if $n == 0;
        $resp .= $chunk;
    }
    close $sock;
    return ($resp, undef);
}

# Parse one HTTP response from the front of $raw.  Returns a hash ref with
# code, raw_headers, headers (lowercase name => joined value), body, left
# (bytes after this response) and error; undef when there is no status line.
sub parse_response ($$) {
    my ($raw, $head_req) = @_;
    return undef unless $raw =~ m{\AHTTP/\d+\.\d+[ \t]+(\d{3})[^\r\n]*\r?\n}g;
    my %res = (code => $1, headers => {}, body => '', left => '', error => undef);
    my $hstart = pos $raw;
    my ($raw_headers, $rest);
    if ($raw =~ /\G(.*?\r?\n)?\r?\n/gs) {
        $raw_headers = $1 // '';
        $rest = substr $raw, pos $raw;
    } else {
        $raw_headers = substr $raw, $hstart;
        $rest = '';
        $res{error} = 'incomplete response header';
    }
    $res{raw_headers} = $raw_headers;
    for my $line (split /\r?\n/, $raw_headers) {
        next unless $line =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/;
        my $k = lc $1;
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $2" : $2;
    }
    my $h = $res{headers};
    my $code = $res{code};
    if ($head_req || $code =~ /^1/ || $code == 204 || $code == 304) {
        $res{left} = $rest;
    } elsif (($h->{'transfer-encoding'} // '') =~ /\bchunked\b/i) {
        my ($body, $pos) = ('', 0);
        while (1) {
            if ($rest !~ /\G[ \t]*([0-9a-fA-F]+)[^\r\n]*\r\n/gc) {
                $res{error} = 'bad or truncated chunked body';
                last;
            }
            my $size = hex $1;
            if ($size == 0) {
                # optional trailers, then CRLF
                if ($rest =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc) {
                    $res{left} = substr $rest, pos $rest;
                } else {
                    $res{error} = 'missing CRLF after the last chunk';
                }
                last;
            }
            $pos = pos $rest;
            if (length($rest) < $pos + $size + 2
                || substr($rest, $pos + $size, 2) ne "\r\n")
            {
                $body .= substr $rest, $pos, $size;
                $res{error} = 'truncated chunk data';
                last;
            }
            $body .= substr $rest, $pos, $size;
            pos($rest) = $pos + $size + 2;
        }
        $res{body} = $body;
    } elsif (defined $h->{'content-length'} && $h->{'content-length'} =~ /^\d+$/) {
        my $len = $h->{'content-length'};
        $res{body} = substr $rest, 0, $len;
        $res{left} = length $rest > $len ? substr $rest, $len : '';
        $res{error} = "response body truncated: $len bytes expected, got "
                      . length($rest) if length $rest < $len;
    } else {
        $res{body} = $rest;
    }
    return \%res;
}

sub parse_more_headers ($) {
    my $text = shift // '';
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        $line =~ s/\r$//;
        next if $line =~ /^\s*(#|$)/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $k =~ s/^\s+//;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v =~ /chunked/i;
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [VERSION]]\n[body]" + more_headers -> raw request bytes.
sub build_request ($$$) {
    my ($req, $more, $conn) = @_;
    die "empty --- request\n" if !defined $req;
    1 while $req =~ s/\A\s*#[^\n]*\n// || $req =~ s/\A\s+//;
    my ($first, $body) = split /\n/, $req, 2;
    die "empty --- request\n" if !defined $first || $first !~ /\S/;
    $first =~ s/\r$//;
    my ($meth, $uri, $ver) = split ' ', $first;
    die "bad request line '$first'\n" if $first =~ /^\s*\S+(?:\s+\S+){3,}/;
    $uri //= '/';
    $ver //= 'HTTP/1.1';
    my ($hdrs, $chunked) = parse_more_headers($more);
    my $h = '';
    $h .= "Host: $ServerName\r\n" unless $hdrs =~ /^Host:/mi;
    $h .= "Connection: $conn\r\n" unless $hdrs =~ /^Connection:/mi;
    $h .= $hdrs;
    $body //= '';
    if ($body ne '' && !$chunked && $hdrs !~ /^Content-Length:/mi) {
        $body =~ s/^\s+|\s+$//g;
        $h .= "Content-Length: " . length($body) . "\r\n";
    }
    return ("$meth $uri $ver\r\n$h\r\n$body", uc $meth eq 'HEAD');
}

#---------------------------------------------------------------------------
# Checks
#---------------------------------------------------------------------------

# Expected value for request $i: arrays are indexed when several requests
# are sent.  Returns ($value, $error).
sub indexed ($$$) {
    my ($v, $i, $need_array) = @_;
    if (ref $v eq 'ARRAY') {
        return (undef, "has no entry for request $i") if $i > $#$v;
        return ($v->[$i]);
    }
    return (undef, 'must be an ARRAY ref when several requests are sent')
        if $need_array;
    return ($v);
}

sub parse_header_spec ($) {
    my $text = shift // '';
    my @spec;
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @spec, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @spec, [$k, $v // ''];
        }
    }
    return @spec;
}

sub subst_port ($) {
    my $s = shift;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    return $s;
}

sub check_response ($$$$$) {
    my ($t, $res, $i, $need_array, $rtag) = @_;
    my $name = $t->name;
    my $code = $res && defined $res->{code} ? $res->{code} : '';
    my $headers = $res ? $res->{headers} : {};
    my $body = $res ? $res->{body} : '';
    my $get = sub {
        my ($sect) = @_;
        my ($v, $err) = indexed(sect($t, $sect), $i, $need_array);
        $v = expand_env($v, $name, $sect, $t->{_tn_rand_ports}) unless $err;
        Test::More::fail("$name - --- $sect $err") if $err;
        return ($v, $err);
    };

    if ($res && $res->{error}) {
        Test::More::fail("$name - invalid response ($rtag): $res->{error}");
    }

    # status code
    if (defined sect($t, 'error_code_like')) {
        my ($v, $e) = $get->('error_code_like');
        Test::More::like($code, qr/$v/sm, "$name - status code ok") unless $e;
    } else {
        my ($v, $e) = defined sect($t, 'error_code') ? $get->('error_code') : (200);
        unless ($e) {
            $v =~ s/^\s+|\s+$//g if defined $v;
            Test::More::is($code, $v, "$name - status code ok");
        }
    }

    for my $sect (qw(raw_response_headers_like raw_response_headers_unlike)) {
        next unless defined sect($t, $sect);
        my ($v, $e) = $get->($sect);
        next if $e;
        my $raw = $res ? $res->{raw_headers} : '';
        if ($sect =~ /unlike/) {
            Test::More::unlike($raw, qr/$v/s, "$name - raw resp headers unlike");
        } else {
            Test::More::like($raw, qr/$v/s, "$name - raw resp headers like");
        }
    }

    if (defined sect($t, 'response_headers')) {
        my ($v, $e) = $get->('response_headers');
        for my $h ($e ? () : parse_header_spec($v)) {
            my ($k, $want) = @$h;
            if (!defined $want) {
                my $raw = $res ? $res->{raw_headers} : '';
                Test::More::unlike($raw, qr/^\s*\Q$k\E\s*:/mi,
                                   "$name - header $k not present in the raw headers");
                next;
            }
            is_str($headers->{lc $k} // '', subst_port($want), "$name - header $k ok");
        }
    }
    if (defined sect($t, 'response_headers_like')) {
        my ($v, $e) = $get->('response_headers_like');
        for my $h ($e ? () : parse_header_spec($v)) {
            my ($k, $want) = @$h;
            if (!defined $want) {
                Test::More::ok(!exists $headers->{lc $k}, "$name - header $k not present");
                next;
            }
            Test::More::like($headers->{lc $k} // '', qr/^$want$/,
                             "$name - header $k like ok");
        }
    }

    if (defined sect($t, 'response_body')) {
        my ($v, $e) = $get->('response_body');
        is_str($body, subst_port($v),
               "$name - response_body - response is expected ($rtag)") unless $e;
    } elsif (defined sect($t, 'response_body_like')) {
        my ($v, $e) = $get->('response_body_like');
        Test::More::like($body, qr/${\ subst_port($v)}/s,
                         "$name - response_body_like - response is expected ($rtag)")
            unless $e;
    }
    if (defined sect($t, 'response_body_unlike')) {
        my ($v, $e) = $get->('response_body_unlike');
        Test::More::unlike($body, qr/${\ subst_port($v)}/s,
                           "$name - response_body_unlike - response is expected ($rtag)")
            unless $e;
    }
}

# Section value -> list of patterns (strings match literally, qr// as regex).
sub patterns ($) {
    my $v = shift;
    return () if !defined $v;
    return ($v) if ref $v eq 'Regexp';
    return grep { defined && (ref || /\S/) } @$v if ref $v eq 'ARRAY';
    chomp(my $s = $v);
    return grep { /\S/ } split /\n+/, $s;
}

sub pat_matches ($$) {
    my ($pat, $line) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub mentions ($$) {
    my ($pats, $level) = @_;
    return scalar grep { (ref $_ ? "$_" : $_) =~ /\Q[$level\E/ } @$pats;
}

# error_log / no_error_log / default [alert] [crit] [emerg] checks.
sub check_log_lines ($$$$) {
    my ($t, $lines, $tag, $default_checks) = @_;
    my $name = $t->name;
    my $rp = $t->{_tn_rand_ports};
    my @want = patterns(expand_env(sect($t, 'error_log'), $name, 'error_log', $rp));
    my @deny = patterns(expand_env(sect($t, 'no_error_log'), $name, 'no_error_log', $rp));

    for my $p (@want) {
        my $found = grep { pat_matches($p, $_) } @$lines;
        my $d = ref $p ? "$p" : $p;
        if ($found) {
            Test::More::pass("$name - pattern \"$d\" matches a line in error.log ($tag)");
        } else {
            Test::More::fail("$name - pattern \"$d\" should match a line in error.log ($tag)");
        }
    }
    for my $p (@deny) {
        my ($line) = grep { pat_matches($p, $_) } @$lines;
        my $d = ref $p ? "$p" : $p;
        if (defined $line) {
            chomp $line;
            Test::More::fail("$name - pattern \"$d\" should not match any line in "
                             . "error.log but matches line \"$line\" ($tag)");
        } else {
            Test::More::pass("$name - pattern \"$d\" does not match a line in error.log ($tag)");
        }
    }

    return unless $default_checks;
    for my $level (qw(alert crit emerg)) {
        next if mentions([@want, @deny], $level);
        my @bad = grep { /\[$level\]/ } @$lines;
        next unless @bad;
        chomp(my $first = $bad[0]);
        Test::More::fail("$name - unexpected [$level] in error.log ($tag): $first");
        Test::More::diag(join '', @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
    }
}

sub check_grep_error_log ($$$) {
    my ($t, $lines, $rep) = @_;
    my $name = $t->name;
    my $pat = sect($t, 'grep_error_log');
    return unless defined $pat;
    $pat = $pat->[$rep] if ref $pat eq 'ARRAY';
    my $want = sect($t, 'grep_error_log_out');
    $want = $want->[$rep] if ref $want eq 'ARRAY';
    if (!ref $pat) { chomp $pat }
    my $got = '';
    for my $l (@$lines) {
        if (ref $pat ? $l =~ $pat : $l =~ /\Q$pat\E/) {
            $got .= "$&\n" if $& !~ /\n/;
        }
    }
    is_str($got, $want, "$name - grep_error_log_out (req $rep)");
}

sub check_access_log ($$$) {
    my ($t, $text, $tag) = @_;
    my $name = $t->name;
    my @lines = split /^/m, $text;
    for my $p (patterns(sect($t, 'access_log'))) {
        my $found = grep { pat_matches($p, $_) } @lines;
        Test::More::ok($found, "$name - pattern \"$p\" matches a line in access.log ($tag)");
    }
    for my $p (patterns(sect($t, 'no_access_log'))) {
        my $found = grep { pat_matches($p, $_) } @lines;
        Test::More::ok(!$found,
                       "$name - pattern \"$p\" does not match a line in access.log ($tag)");
    }
}

#---------------------------------------------------------------------------
# Block runner
#---------------------------------------------------------------------------

# The requests of a block: list of { packets, head, n } (n > 1: pipelined).
sub requests_of ($) {
    my $t = shift;
    my $name = $t->name;
    my $rp = $t->{_tn_rand_ports};
    my $more = expand_env(sect($t, 'more_headers'), $name, 'more_headers', $rp);
    my $more_for = sub {
        my $i = shift;
        return $more if ref $more ne 'ARRAY';
        die "--- more_headers has no entry for request $i\n" if $i > $#$more;
        return $more->[$i];
    };

    my $raw = expand_env(sect($t, 'raw_request'), $name, 'raw_request', $rp);
    if (defined $raw) {
        my $packets = ref $raw eq 'ARRAY' ? $raw : [$raw];
        return ({ packets => $packets, head => join('', @$packets) =~ /^\s*HEAD\s/ ? 1 : 0,
                  n => 1 });
    }

    my $pipe = expand_env(sect($t, 'pipelined_requests'), $name, 'pipelined_requests', $rp);
    if (defined $pipe) {
        die "--- pipelined_requests must be an ARRAY ref\n" if ref $pipe ne 'ARRAY';
        my $data = '';
        my @head;
        for my $i (0 .. $#$pipe) {
            my ($r, $h) = build_request($pipe->[$i], $more_for->($i),
                                        $i == $#$pipe ? 'close' : 'keep-alive');
            $data .= $r;
            push @head, $h;
        }
        return ({ packets => [$data], head => \@head, n => scalar @$pipe });
    }

    my $req = expand_env(sect($t, 'request'), $name, 'request', $rp);
    die "no --- request, --- raw_request or --- pipelined_requests section\n"
        if !defined $req;
    # like upstream: no code refs (an eval's sub is never called)
    die "--- request must be a string or an ARRAY ref, not " . ref($req) . "\n"
        if ref $req && ref $req ne 'ARRAY';
    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    my @out;
    for my $i (0 .. $#reqs) {
        my $r = $reqs[$i];
        # a request given as packets is sent in one go
        $r = join '', @$r if ref $r eq 'ARRAY';
        my ($data, $head) = build_request($r, $more_for->($i), 'close');
        push @out, { packets => [$data], head => $head, n => 1 };
    }
    return @out;
}

sub run_must_die ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    stop_nginx();
    if ($FirstStart) { kill_stale_nginx(); undef $FirstStart }
    setup_server_root();
    write_user_files($block);
    write_file($ConfFile, config_text($block, 'must-die'));

    my $pid = spawn(nginx_cmd(1));
    $ChildPid = $pid;
    my ($res, $status) = wait_startup($pid, 5);
    if ($res eq 'exited') {
        undef $ChildPid;
    } else {
        stop_nginx();
    }

    my $t = $block;
    my $want = sect($t, 'must_die');
    $want =~ s/^\s+|\s+$//g if defined $want;
    if ($res ne 'exited') {
        Test::More::fail("$name - nginx must die but it started (req $rep)");
    } elsif (defined $want && looks_like_number($want)) {
        Test::More::is($status >> 8, $want, "$name - die with the expected exit code");
    } else {
        Test::More::ok($status != 0, "$name - die as expected");
    }
    my ($stderr, $log) = startup_output();
    check_log_lines($t, [split /^/m, "$stderr$log"], "req $rep", 0);
    undef $PrevConf;
    return 'ok';
}

# The error log checks of one request: like upstream, each request of a
# block sees only the lines logged since the previous check; the block's
# first check starts where the block began (0 after a fresh start), so
# start-up lines are visible to the first request only.
sub check_logs ($$$) {
    my ($t, $rep, $tag) = @_;
    sleep $Settle * 3;
    my $from = $CheckAccumErrLog ? $t->{_tn_log_pos0} : $t->{_tn_log_pos};
    my ($log, $end) = read_file_from($ErrLogFile, $from);
    $t->{_tn_log_pos} = $end;
    my @lines = split /^/m, $log;
    check_log_lines($t, \@lines, $tag, 1);
    check_grep_error_log($t, \@lines, $rep);
    if (defined sect($t, 'access_log') || defined sect($t, 'no_access_log')) {
        my ($acc) = read_file_from($AccLogFile, $t->{_tn_acc_pos});
        check_access_log($t, $acc, $tag);
    }
}

sub run_once ($$) {
    my ($t, $rep) = @_;
    my $name = $t->name;
    $LastBlockName = $name;

    my ($how, $log_pos) = ensure_nginx($t, $rep);
    return 'startfail' unless $how;
    if ($rep == 0) {
        ($t->{_tn_log_pos0}, $t->{_tn_log_pos}) = ($log_pos, $log_pos);
        $t->{_tn_acc_pos} = $how eq 'started' ? 0 : file_size($AccLogFile);
    } elsif ($how ne 'reused') {
        # restarted between repetitions: a new log
        ($t->{_tn_log_pos0}, $t->{_tn_log_pos}, $t->{_tn_acc_pos}) = ($log_pos, $log_pos, 0);
    }
    write_user_files($t) if $how eq 'reused' && $rep == 0;

    # like upstream: once per block, after nginx is up, in Test::Nginx::Util
    if ($rep == 0 && defined(my $init = sect($t, 'init'))) {
        eval_init_code($init);
        die "--- init failed: $@" if $@;
    }

    my $timeout = parse_time(sect($t, 'timeout')) // $Timeout;
    $timeout *= $ValgrindIOFactor if $UseValgrind;
    my $delay = parse_time(sect($t, 'raw_request_middle_delay'));
    my $shutdown = sect($t, 'shutdown');
    $shutdown = ($shutdown =~ /^\s*(\d)\s*$/ ? $1 : 1) if defined $shutdown;
    my $wait = parse_time(sect($t, 'wait'));

    my @reqs = requests_of($t);
    my $total = 0;
    $total += $_->{n} for @reqs;
    my $need_array = $total > 1;
    my $idx = 0;
    my $rtag_of = sub { $RepeatEach > 1 ? "repeat $rep, req $_[0]" : "req $_[0]" };

    for my $r (@reqs) {
        my ($raw, $err) = http_exchange($r->{packets}, $timeout, $delay, $shutdown);
        if (defined $err) {
            if ($err eq 'timeout') {
                Test::More::fail("$name - client socket timed out ("
                                 . $rtag_of->($idx) . ")") unless defined sect($t, 'abort');
            } else {
                Test::More::fail("$name - $err (" . $rtag_of->($idx) . ")");
            }
        }
        $raw //= '';
        for my $k (1 .. $r->{n}) {
            my $head = ref $r->{head} ? $r->{head}[$k - 1] : $r->{head};
            my $res = parse_response($raw, $head);
            # skip interim responses such as "100 Continue"
            while ($res && $res->{code} =~ /^1/ && $res->{code} != 101
                   && $res->{left} =~ m{^HTTP/})
            {
                $res = parse_response($res->{left}, $head);
            }
            if (!defined sect($t, 'ignore_response')) {
                Test::More::diag("$name - no HTTP response (" . $rtag_of->($idx)
                                 . "), received " . escape_str(short $raw)) if !$res;
                check_response($t, $res, $idx, $need_array, $rtag_of->($idx));
            }
            $raw = $res ? $res->{left} : '';
            sleep $wait if $wait;
            check_logs($t, $rep, $rtag_of->($idx));
            $idx++;
        }
    }

    if (defined $ChildPid && waitpid($ChildPid, WNOHANG) == $ChildPid) {
        Test::More::fail("$name - nginx exited unexpectedly (" . status_str($?) . ")");
        undef $ChildPid;
        undef $PrevConf;
    }

    check_valgrind($name);
    check_sanitizers($name);
    return 'ok';
}

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;
    $block->{_tn_rand_ports} ||= {};

    # upstream checks only the first of response_body, response_body_like
    # and response_body_unlike: a block relying on more would lose checks
    my @body = grep { defined sect($block, $_) }
               qw(response_body response_body_like response_body_unlike);
    Test::More::fail("$name - --- @body: upstream Test::Nginx checks only --- $body[0]")
        if @body > 1;

    if (defined sect($block, 'config')) {
        $PrevConfigSection = sect($block, 'config');
    } else {
        # Reuse the running nginx; if none runs, start one with the previous
        # block's --- config.
        $block->{_tn_no_config} = 1;
        $block->{config} = [$PrevConfigSection // ''];
    }

    for my $rep (0 .. $RepeatEach - 1) {
        my $res = eval {
            defined sect($block, 'must_die') ? run_must_die($block, $rep)
                                             : run_once($block, $rep);
        };
        if (!defined $res) {
            my $err = $@ || 'unknown error';
            chomp $err;
            Test::More::fail("$name - $err");
        } elsif ($res eq 'startfail') {
            last;
        }
    }
}

sub run_tests () {
    bail_out("cannot find the nginx binary '$NginxBinary' (set TEST_NGINX_BINARY)")
        unless can_run($NginxBinary);
    bail_out("TEST_NGINX_USE_VALGRIND is set but valgrind is not installed")
        if $UseValgrind && !can_run('valgrind');
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    # Like upstream: every block is filtered (its evals run) now, before any
    # nginx starts; the preprocessors run per block, right before it.
    Test::Base::filters_delay(1);
    my @blocks = Test::Base::blocks();
    for my $block (@blocks) {
        filter_block($block) unless $block->is_filtered;
    }
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        my $name = $block->name;
        if (defined $block->{_tn_filter_error}) {
            Test::More::fail("$name - $block->{_tn_filter_error}");
            next;
        }
        if (!eval { $_->($block) for @BlockPreprocessors; 1 }) {
            (my $err = $@ || 'unknown error') =~ s/\s+\z//;
            Test::More::fail("$name - block preprocessor failed: $err");
            next;
        }
        run_test($block);
    }
    cleanup();

    my $tb = Test::More->builder;
    Test::More::done_testing() if !$tb->has_plan;
}

sub cleanup () {
    return if $$ != $MainPid;
    for my $h (@CleanupHandlers) {
        eval { $h->() };
    }
    stop_nginx();
}

END {
    local $?;
    cleanup() if $$ == $MainPid;
}

$SIG{PIPE} = 'IGNORE';
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        cleanup();
        $SIG{$sig} = 'DEFAULT';
        kill $sig, $$;
    };
}

# Like upstream: section evals run in package Test::Base::Filter under
# strict and warnings, so a test file's helpers must be fully qualified.
package Test::Base::Filter;
sub Test::Nginx::Util::eval_section_code ($) {
    use strict;
    use warnings;
    return eval $_[0];
}

1;
