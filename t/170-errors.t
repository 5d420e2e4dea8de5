# The fixed error texts: one table in src/ngx_http_sandbox_bridge_request.c,
# and README's "Errors" table, must agree to the byte (README "Errors").
# Formatted messages (ngx_http_sandbox_bridge_failf/error_jsonf) must have
# every literal part of their format in README's table. The other test
# files assert each body exactly through nginx.
use strict;
use warnings;
use FindBin ();
use Test::More;

my $root = "$FindBin::Bin/..";

sub slurp { local (@ARGV, $/) = @_; return scalar <> }

my $src    = slurp("$root/src/ngx_http_sandbox_bridge_request.c");
my $input  = slurp("$root/src/ngx_http_sandbox_bridge_input.h");
my $readme = slurp("$root/README.md");

my %status = (NGX_HTTP_BAD_REQUEST => 400, NGX_HTTP_NOT_FOUND => 404,
              NGX_HTTP_CONFLICT => 409, NGX_HTTP_INTERNAL_SERVER_ERROR => 500,
              NGX_HTTP_SERVICE_UNAVAILABLE => 503);

my %define = $input =~ /#define\s+(NGX_\w+)\s+(\d+)/g;

# C string literals (and ngx_value(MACRO)) of one table entry, concatenated
sub c_text {
    my $t = shift;
    my $out = '';
    while ($t =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|ngx_value\((\w+)\))/gc) {
        if (defined $1) {
            (my $s = $1) =~ s/\\(.)/$1/g;
            $out .= $s;
        } else {
            die "unknown macro $2" unless defined $define{$2};
            $out .= $define{$2};
        }
    }
    return $out;
}

my ($table) = $readme =~ /^## Errors\n(.*?)^## /ms;
ok(defined $table, 'README has an Errors section');
$table //= '';

my %rows;
while ($table =~ /^\| (\d{3}) \| `(\w+)` \| (.*?) \|$/mg) {
    my ($st, $code, $msgs) = ($1, $2, $3);
    $rows{"$st $code $1"} = 1 while $msgs =~ /`([^`]+)`/g;
}

my @entries = $src =~ /ngx_http_sandbox_bridge_err\((NGX_HTTP_\w+),\s*"(\w+)",((?:\s*(?:"(?:[^"\\]|\\.)*"|ngx_value\(\w+\)))+)\s*\)/g;
ok(@entries >= 3 * 10, 'the fixed error table is found in request.c');

while (my ($st, $code, $msg) = splice @entries, 0, 3) {
    my $text = c_text($msg);
    ok($rows{"$status{$st} $code $text"},
       "README lists $status{$st} $code \"$text\"");
}

# every literal piece of each formatted message is in README's table
for my $f (glob "$root/src/*.c") {
    my $c = slurp($f);
    while ($c =~ /(?:failf\([^,]+,\s*\w+,|error_jsonf\()\s*"(\w+)",((?:\s*"(?:[^"\\]|\\.)*")+)/g) {
        my ($code, $fmt) = ($1, c_text($2));
        for my $piece (grep { length >= 8 } split /%[-*0-9.]*[a-zA-Z]+/, $fmt) {
            ok(index($table, $piece) >= 0,
               "README's Errors table has \"$piece\" ($code, "
               . ($f =~ s{.*/}{}r) . ')');
        }
    }
}

done_testing();
