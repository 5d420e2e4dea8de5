package Test::Nginx::Socket;

# Project-local, independently written replacement for openresty's
# Test::Nginx::Socket (not packaged in Debian, CPAN unreachable).  Test files
# written for it also run under the real module.  The engine lives in
# Test::Nginx::Util; this package only wires it into Test::Base, whose block
# parser and Test::More re-exports the test files rely on.

use strict;
use warnings;

# -base (lower case): inherit and export without Spiffy's source filter.
use Test::Base -base;
use Test::Nginx::Util;

our $VERSION = '0.1';

our @EXPORT = @Test::Nginx::Util::EXPORT;

# Section filters (eval, ...) run lazily per block, see Util::filter_sections.
Test::Base::filters_delay(1);

1;
__END__

=head1 NAME

Test::Nginx::Socket - project-local Test::Nginx compatible test scaffold

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';   # or: plan tests => N;

    repeat_each(2);
    run_tests();

    __DATA__

    === TEST 1: sanity
    --- config
        location = /t { return 200 "hi\n"; }
    --- request
    GET /t
    --- response_body
    hi
    --- no_error_log
    [error]

=head1 DESCRIPTION

Runs Test::Base blocks against a real nginx: writes F<servroot/conf/nginx.conf>,
starts nginx (always C<daemon off>, as a child process), sends the requests
over a raw TCP socket and checks status, headers, body and the new part of
the error log.

Blocks run in random order (C<no_shuffle()> or C<TEST_NGINX_NO_SHUFFLE=1> to
disable); each block runs C<repeat_each()> times in a row.  nginx is
restarted only when the generated nginx.conf changes (set
C<TEST_NGINX_FORCE_RESTART_ON_TEST=1> to restart for every block, like
upstream's default).

=head2 Sections

C<main_config>, C<http_config>, C<config> (missing: the previous block's),
C<post_main_config>, C<user_files> (C<< >>> path [touch-date] >>> lines),
C<request> (C<METHOD [URI [VERSION]]>, body on the following lines;
C<eval> may return an ARRAY ref of requests, each sent on its own
connection), C<more_headers>, C<raw_request> (string or ARRAY ref of packets,
with C<raw_request_middle_delay>), C<pipelined_requests>, C<error_code>,
C<error_code_like>, C<response_headers> (C<!Name> = absent),
C<response_headers_like>, C<raw_response_headers_like>/C<_unlike>,
C<response_body>, C<response_body_like>, C<response_body_unlike>,
C<error_log>, C<no_error_log>, C<grep_error_log>/C<grep_error_log_out>,
C<access_log>, C<no_access_log>, C<timeout>, C<abort>, C<wait>,
C<must_die>, C<log_level>, C<server_name>, C<init>, C<shutdown>,
C<ignore_response>, C<no_check_leak> (ignored), C<SKIP>, C<ONLY>, C<LAST>.

Every section of every block is filtered (its C<eval> run) when
C<run_tests()> starts, before any nginx runs, in package
C<Test::Base::Filter> under C<use strict>; block preprocessors run right
before their block (the one added last first); C<init> runs once per block
after nginx is up, in package C<Test::Nginx::Util>.  The error log is
checked after every response, against the lines logged since the previous
check.

Any C<[alert]>, C<[crit]> or C<[emerg]> line in the new error log text is
a failure unless C<error_log> or C<no_error_log> mentions that level.  An
error while evaluating a section fails that block only.

=head2 Environment

C<TEST_NGINX_BINARY>, C<TEST_NGINX_LOAD_MODULES>, C<TEST_NGINX_SERVER_PORT>
(or C<TEST_NGINX_PORT>, default 1984), C<TEST_NGINX_CLIENT_PORT>,
C<TEST_NGINX_SERVROOT> (default F<t/servroot>), C<TEST_NGINX_LOG_LEVEL>,
C<TEST_NGINX_TIMEOUT>, C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_SLEEP>,
C<TEST_NGINX_MASTER_PROCESS>, C<TEST_NGINX_FORCE_RESTART_ON_TEST>,
C<TEST_NGINX_USE_VALGRIND> (1, or extra valgrind options),
C<TEST_NGINX_USE_HUP>, C<TEST_NGINX_VERBOSE>.  C<$TEST_NGINX_*> in sections
is expanded (an unset variable bails out); C<$TEST_NGINX_RAND_PORT_N> are
free ports.  Like upstream, the harness sets only C<TEST_NGINX_SERVER_ROOT>
(and C<TEST_NGINX_SERVER_PORT> in C<run_tests()>); a test file that uses
C<$TEST_NGINX_HTML_DIR> sets it: C<< $ENV{TEST_NGINX_HTML_DIR} ||= html_dir(); >>

=head2 Differences from upstream

A test that passes here must pass under openresty's Test::Nginx too.  What
the test files lean on behaves as upstream does, and the self-test checks
it (F<t/harness/upstream.tt>, F<t/harness/failures.tt>):

=over

=item A. C<TEST_NGINX_HTML_DIR> is not set by the harness.

=item B. C<--- X eval> runs in package C<Test::Base::Filter> under strict
(helpers of the test file must be fully qualified: C<::ex(...)>,
C<$::P>, C<${main::P}>); C<--- init> runs in package C<Test::Nginx::Util>.

=item C. All section evals run when the file starts, before nginx and
before any block; block preprocessors and C<init> run when their block
does.  An eval that needs state made by an earlier block returns a code
ref that a preprocessor calls (t/helpers/SandboxBridge/Blocks.pm).

=item D. Each request of a block is checked against the error log lines
written since the previous check, so a start-up line is seen by the first
request only.

=back

Still different (stricter here, or harness mechanics):

=over

=item * nginx runs as a child process with C<daemon off> (master off unless
C<master_on()>), so crashes are reported ("nginx exited unexpectedly") and
nothing survives the test file (stopped from C<run_tests>, C<END>, C<INT>
and C<TERM>; a stale nginx named by F<servroot/logs/nginx.pid> is killed on
the first start).

=item * nginx is reused while the generated nginx.conf stays the same;
upstream restarts it for every block by default (set
C<TEST_NGINX_FORCE_RESTART_ON_TEST=1> to restart here too).  So a block
that starts nginx sees its start-up log lines in its first request; one
that reuses nginx does not.

=item * C<[alert]>/C<[crit]>/C<[emerg]> lines and sanitizer reports
(ASan/LSan/UBSan, in error.log or nginx's stderr) are failures, not
warnings.  A section C<eval>, a block preprocessor or C<init> that dies
fails its block (upstream: an eval's error text becomes the section's
value; a dying preprocessor ends the file; a dying C<init> bails out).

=item * A block with more than one of C<response_body>,
C<response_body_like> and C<response_body_unlike> fails: upstream checks
only the first of them.  C<response_headers> and C<response_headers_like>
are both checked when both are present; header absence (C<!Name>) is
case-insensitive.

=item * Under valgrind, per-step client timeouts are tripled and
C<--errors-for-leak-kinds=definite> is used; errors are read from
F<servroot/logs/valgrind.log> after every block and when nginx exits.

=item * HUP mode (C<TEST_NGINX_USE_HUP=1>) reloads for every block and waits
until a hidden C<Test-Nginx> virtual server serves the new config version
and the old workers are gone.

=item * Test names carry no file name prefix; log check names say which
request (C<req N>), upstream's say which repetition.

=back

Not supported: HTTP/2 and HTTP/3, curl mode, leak-check and benchmark
modes (C<TEST_NGINX_CHECK_LEAK>, C<TEST_NGINX_BENCHMARK>), stap, C<tcp_listen>
/ C<udp_listen> mock servers, C<response_body_filters>,
C<shutdown_error_log>, C<skip_nginx>/C<skip_eval>/C<todo>, C<http09>,
C<TEST_NGINX_NO_NGINX_MANAGER>.  Unknown sections are ignored, as upstream.

Self-test: C<prove -v t/000-harness-selftest.t> (fixtures in F<t/harness/>).

=cut
