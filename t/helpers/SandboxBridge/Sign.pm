package SandboxBridge::Sign;

# Signing helpers for the tests of signed requests (t/110-hmac.t,
# t/120-ownership.t).  The signatures come from the shipped reference
# signer, util/psb-sign, and nowhere else: this module only runs it.
#
#   my $s = SandboxBridge::Sign->new(keys => "k1 0123456789abcdef\n");
#   my $auth = $s->sign('k1', 'POST', 'http://localhost/api/...', $body);
#   my $old  = $s->sign('k1', 'GET', $url, '', now => time - 3600);
#   my %h    = SandboxBridge::Sign::parse($auth);   # keyId ts nonce sig
#   my $hdr  = SandboxBridge::Sign::header(%h);     # and back
#
# keys is the text of a sandbox_auth_hmac_key_file ("keyId secret [admin]"
# lines); it is written to a private temporary file for the signer.  The
# body, when not empty, goes to a temporary file too (the signer hashes the
# file's bytes).  now => <epoch seconds> runs the signer with a fake clock:
# the signer takes its timestamp from `date +%s`, so a directory holding a
# `date` script that prints that time (and runs the real date for anything
# else) is put first in its PATH.  Nothing else in the signer changes.

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Spec ();
use File::Temp ();

our $Root   = Cwd::abs_path(File::Spec->catdir(File::Basename::dirname(__FILE__),
                                               File::Spec->updir, File::Spec->updir,
                                               File::Spec->updir));
our $Signer = "$Root/util/psb-sign";

my ($RealDate) = grep { -x } map { "$_/date" } split /:/, ($ENV{PATH} // '/usr/bin:/bin');
$RealDate //= '/bin/date';

sub new {
    my ($class, %opt) = @_;
    die "SandboxBridge::Sign->new: keys => <key file text> is required\n"
        unless defined $opt{keys};
    die "SandboxBridge::Sign: the signer $Signer is missing\n" unless -x $Signer;
    my $dir = File::Temp::tempdir('psb-sign-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless { dir => $dir, keys => "$dir/keys", n => 0 }, $class;
    write_file($self->{keys}, $opt{keys});
    chmod 0600, $self->{keys};
    return $self;
}

sub key_file { $_[0]{keys} }

sub write_file {
    my ($path, $data) = @_;
    open my $fh, '>', $path or die "cannot write $path: $!\n";
    binmode $fh;
    print {$fh} $data;
    close $fh or die "cannot write $path: $!\n";
}

# The value of the Authorization header, from util/psb-sign.
sub sign {
    my ($self, $key_id, $method, $url, $body, %opt) = @_;
    my @args = ($self->{keys}, $key_id, $method, $url);
    if (defined $body && length $body) {
        my $f = "$self->{dir}/body-" . ++$self->{n};
        write_file($f, $body);
        push @args, $f;
    }

    local $ENV{PATH} = $ENV{PATH};
    if (defined $opt{now}) {
        my $now = int $opt{now};
        my $bin = "$self->{dir}/clock-$now";
        if (!-d $bin) {
            mkdir $bin or die "mkdir $bin: $!\n";
            write_file("$bin/date", <<"_SH_");
#!/bin/sh
# fake clock for util/psb-sign: "date +%s" prints $now
if [ "\$#" = 1 ] && [ "\$1" = "+%s" ]; then echo $now; exit 0; fi
exec $RealDate "\$@"
_SH_
            chmod 0755, "$bin/date";
        }
        $ENV{PATH} = "$bin:$ENV{PATH}";
    }

    my $pid = open(my $out, '-|') // die "fork: $!\n";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec($Signer, @args) or do { print "exec $Signer: $!\n"; require POSIX; POSIX::_exit(127) };
    }
    local $/;
    my $text = <$out> // '';
    close $out;
    my $rc = $? >> 8;
    die "util/psb-sign @args[1 .. $#args] failed ($rc): $text\n" if $rc;
    $text =~ s/\n\z//;
    die "util/psb-sign printed no header: '$text'\n"
        unless $text =~ /^PSB-HMAC-SHA256 keyId=\S+, ts=\d+, nonce=\S+, sig=[0-9a-f]{64}\z/;
    return $text;
}

# "PSB-HMAC-SHA256 keyId=a, ts=1, nonce=n, sig=s" -> (keyId => a, ...)
sub parse {
    my $h = shift;
    $h =~ s/^PSB-HMAC-SHA256 // or die "not a PSB-HMAC-SHA256 header: $h\n";
    return map { split /=/, $_, 2 } split /, /, $h;
}

sub header {
    my %h = @_;
    return "PSB-HMAC-SHA256 keyId=$h{keyId}, ts=$h{ts}, nonce=$h{nonce}, sig=$h{sig}";
}

1;
