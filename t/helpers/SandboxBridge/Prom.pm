# Prometheus text exposition, parsed by a real parser: Debian's
# python3-prometheus-client (prometheus_client.parser
# .text_string_to_metric_families), so a format mistake fails the test.
#
#   my $m = SandboxBridge::Prom::parse($text);   # dies on a parse error
#   $m->{families}{sandbox_bridge_requests}{type}        # "counter"
#   $m->{families}{sandbox_bridge_requests}{help}
#   SandboxBridge::Prom::value($m, 'sandbox_bridge_requests_total',
#                              route => 'health', status => '200');  # 0 if absent
#   SandboxBridge::Prom::sum($m, 'sandbox_bridge_requests_total', route => 'exec');
package SandboxBridge::Prom;

use strict;
use warnings;

use File::Temp ();
use JSON::PP ();

our $Python = $ENV{TEST_NGINX_PYTHON3} || '/usr/bin/python3';

my $Script = <<'PY';
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
out = []
for f in text_string_to_metric_families(text):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
PY

sub available {
    system($Python, '-c', 'import prometheus_client.parser') == 0;
}

sub parse {
    my $text = shift;
    my $tmp = File::Temp->new(SUFFIX => '.prom');
    binmode $tmp;
    print $tmp $text;
    close $tmp;
    my $py = File::Temp->new(SUFFIX => '.py');
    print $py $Script;
    close $py;
    open my $fh, '-|', $Python, $py->filename, $tmp->filename
        or die "$Python: $!";
    local $/;
    my $json = <$fh>;
    close $fh;
    die "the exposition did not parse (exit $?)\n" if $? || !length($json // '');
    my $fams = JSON::PP::decode_json($json);
    my %m = (families => {}, samples => []);
    for my $f (@$fams) {
        $m{families}{ $f->{name} } = $f;
        push @{ $m{samples} }, @{ $f->{samples} };
    }
    return \%m;
}

sub _match {
    my ($s, $name, %want) = @_;
    return 0 unless $s->[0] eq $name;
    for (keys %want) {
        return 0 unless defined $s->[1]{$_} && $s->[1]{$_} eq $want{$_};
    }
    return 1;
}

# the value of the one sample with exactly these labels (a subset match
# when several could match is an error); 0 when absent
sub value {
    my ($m, $name, %want) = @_;
    my @hit = grep { _match($_, $name, %want)
                     && keys(%{ $_->[1] }) == keys(%want) } @{ $m->{samples} };
    die "several samples $name match\n" if @hit > 1;
    return @hit ? $hit[0][2] : 0;
}

sub sum {
    my ($m, $name, %want) = @_;
    my $t = 0;
    $t += $_->[2] for grep { _match($_, $name, %want) } @{ $m->{samples} };
    return $t;
}

1;
