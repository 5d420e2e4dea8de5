# sandbox_redis with Sentinel: mistakes fail `nginx -t` naming the
# directive; secrets come from files and never reach the output.  Needs
# no running service (nginx -t resolves addresses only).
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/helpers";
use Test::More;
use File::Temp qw(tempdir);

use SandboxBridge::Scenario ();

my $dir = tempdir(CLEANUP => 1);
for my $f (['pw', "redis-secret-t262\n"], ['spw', "sentinel-secret-t262\n"]) {
    open my $fh, '>', "$dir/$f->[0]" or die $!;
    print $fh $f->[1];
    close $fh;
}

sub nginx_t {
    my ($redis, $opts) = @_;
    my $ng = SandboxBridge::Scenario::Nginx->new(
        name => 't262', prefix => 't262:', redis => $redis, redis_opts => $opts,
        docker_socket => '/nonexistent/docker.sock', image => 'x:y');
    $ng->write_conf;
    my ($rc, $out) = SandboxBridge::Scenario::nginx_t($ng->nginx_cmd('-t'));
    $ng->cleanup;
    return ($rc, $out);
}

my $S = 'sentinel=127.0.0.1:26379,127.0.0.1:26380,localhost';
my ($rc, $out) = nginx_t($S, "master=mymaster password_file=$dir/pw"
                          . " sentinel_password_file=$dir/spw wait=1,500ms");
is($rc, 0, 'sentinel=, master=, both password files and wait= pass nginx -t')
    or diag($out);
unlike($out, qr/secret-t262/, 'no secret in the output');

($rc, $out) = nginx_t('127.0.0.1:6379', 'wait=2,1s');
is($rc, 0, 'wait= also with a plain primary') or diag($out);

for my $case (
    [ $S, '', qr/"sandbox_redis" directive needs master=<name> with sentinel=/ ],
    [ '127.0.0.1:6379', 'master=m', qr/"sandbox_redis" directive takes master= only with sentinel=/ ],
    [ '127.0.0.1:6379', "sentinel_password_file=$dir/spw",
      qr/"sandbox_redis" directive takes sentinel_password_file= only with sentinel=/ ],
    [ 'sentinel=', 'master=m', qr/invalid sentinel "" in "sandbox_redis" directive/ ],
    [ 'sentinel=127.0.0.1:1,,127.0.0.1:2', 'master=m', qr/invalid sentinel "" in "sandbox_redis" directive/ ],
    [ 'sentinel=127.0.0.1:99999', 'master=m', qr/invalid sentinel "127\.0\.0\.1:99999" in "sandbox_redis" directive/ ],
    [ $S, 'master=', qr/invalid parameter "master=" in "sandbox_redis" directive/ ],
    [ $S, 'master=m wait=0,1s', qr/invalid parameter "wait=0,1s" in "sandbox_redis" directive/ ],
    [ $S, 'master=m wait=1', qr/invalid parameter "wait=1" in "sandbox_redis" directive/ ],
    [ $S, 'master=m wait=1,soon', qr/invalid parameter "wait=1,soon" in "sandbox_redis" directive/ ],
    [ $S, 'master=m sentinel_password_file=', qr/invalid parameter "sentinel_password_file=" in "sandbox_redis" directive/ ],
    [ $S, "master=m sentinel_password_file=$dir/missing", qr/\Q$dir\E\/missing/ ],
) {
    my ($redis, $opts, $want) = @$case;
    ($rc, $out) = nginx_t($redis, $opts);
    isnt($rc, 0, "nginx -t fails: sandbox_redis $redis $opts");
    like($out, $want, '... naming the directive and the mistake');
}

done_testing();
