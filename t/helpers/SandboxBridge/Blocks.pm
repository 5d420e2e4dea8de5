package SandboxBridge::Blocks;

# Block set-up shared by the Test::Nginx-format test files; works under
# t/lib and under openresty's Test::Nginx alike (README "Tests").
#
#   bridge_blocks(prefix => 't070', locations => <<'_EOC_', timeout => 20,
#                 no_error_log => "[error]\n");
#
# adds the block preprocessor of such a file.  Every block that has none of
# its own gets: http_config (sandbox_redis with the prefix), config (the
# bridge server: bearer auth, /api/paperclip-sandbox/v1, the internal
# /_docker/ location, the test-only /_inspect/ proxy to Docker and the extra
# `locations`), the token file "tokens" (secret-token), the header
# "Authorization: Bearer secret-token", an --- init that waits for the
# worker's Redis connection, and the given timeout and no_error_log (only
# when the block has neither no_error_log nor error_log).  Then it does
# what prepare_block() does (below).  With TEST_NGINX_SANDBOX_RUNTIME set
# (make test-runsc), the bridge server also gets
# `sandbox_runtime $TEST_NGINX_SANDBOX_RUNTIME;`.
#
# Deferred sections: the harness evaluates every "--- X eval" when the
# file starts, before any block has run.  A section whose eval returns a
# code ref (`sub { ... }`) is computed when its block runs instead (just
# before nginx starts for it): the preprocessor calls the code, in section
# order, and the result becomes the section's value.  Use it for anything that reads state an earlier block
# made (containers, Redis records, the clock).
#
# Upstream checks response_body_unlike only when a block has no
# response_body_like, so the preprocessor folds a block's unlike patterns
# into its like patterns (one pattern per request that asserts both).
# prepare_block($block) does these two steps, for files with a preprocessor
# of their own.
#
#   cleanup_prefix('t020');
#
# adds a cleanup handler (run when the file ends) that removes the
# containers labelled with the prefix and the Redis keys under it.

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::UNIX ();
use JSON::PP ();
use SandboxBridge::Ready ();

our @EXPORT_OK = qw(bridge_blocks prepare_block cleanup_prefix);

sub prepare_block {
    my $block = shift;
    for my $sect (@{ $block->_section_order || [] }) {
        next if $sect eq 'response_body_filters';    # code refs of its own
        my $v = $block->{$sect};
        next unless ref $v eq 'ARRAY' && @$v == 1 && ref $v->[0] eq 'CODE';
        $block->set_value($sect, $v->[0]->($block));
    }

    my ($like, $unlike) = ($block->response_body_like, $block->response_body_unlike);
    return unless defined $like && defined $unlike;
    my $both = sub { my ($p, $n) = @_; qr/\A(?=.*?(?:$p))(?!.*?(?:$n))/s };
    my $v = ref $like eq 'ARRAY'
        ? [ map { $both->($like->[$_], ref $unlike eq 'ARRAY' ? $unlike->[$_] : $unlike) }
                0 .. $#$like ]
        : $both->($like, $unlike);
    $block->set_value('response_body_like', $v);
    delete $block->{response_body_unlike};
}

sub bridge_blocks {
    my (%o) = @_;
    my $prefix = $o{prefix} or die "bridge_blocks: no prefix\n";
    my $locations = $o{locations} // '';
    my $http = <<"_EOC_";
    sandbox_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT prefix=$prefix: command_timeout=1s;
    sandbox_reaper_interval 30s;
_EOC_
    my $config = <<'_EOC_' . $locations . <<'_EOC2_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
_EOC_
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
    # test only: straight to Docker, to inspect containers and events
    location /_inspect/ {
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
    }
_EOC2_
    # make test-runsc: every lease container of these blocks under gVisor
    $config = "    sandbox_runtime \$TEST_NGINX_SANDBOX_RUNTIME;\n" . $config
        if defined $ENV{TEST_NGINX_SANDBOX_RUNTIME}
           && length $ENV{TEST_NGINX_SANDBOX_RUNTIME};

    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value('http_config', $http) unless defined $block->http_config;
        $block->set_value('config', $config) unless defined $block->config;
        $block->set_value('user_files', ">>> tokens\nsecret-token\n")
            unless defined $block->user_files;
        $block->set_value('more_headers', "Authorization: Bearer secret-token\n")
            unless defined $block->more_headers;
        $block->set_value('init', 'SandboxBridge::Ready::wait_store_ready();')
            unless defined $block->init;
        $block->set_value('timeout', $o{timeout})
            if defined $o{timeout} && !defined $block->timeout;
        $block->set_value('no_error_log', $o{no_error_log})
            if defined $o{no_error_log}
               && !defined $block->no_error_log && !defined $block->error_log;
        prepare_block($block);
    });
}

# Docker Engine API request over the private dockerd's socket; the body
sub docker_api {
    my ($method, $path) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $ENV{TEST_NGINX_DOCKER_SOCKET}) or return '';
    print $s "$method /v1.41$path HTTP/1.0\r\nHost: docker\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    $r =~ s/\A.*?\r\n\r\n//s;
    return $r;
}

sub cleanup_prefix {
    my $prefix = shift;
    Test::Nginx::Util::add_cleanup_handler(sub {
        my $filter = JSON::PP::encode_json({ label => ["paperclip.bridge.prefix=$prefix:"] });
        $filter =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
        my $list = eval { JSON::PP::decode_json(docker_api('GET', "/containers/json?all=1&filters=$filter")) } || [];
        docker_api('DELETE', "/containers/$_->{Id}?force=1&v=1") for @$list;
        my $port = $ENV{TEST_NGINX_REDIS_PORT};
        my $host = $ENV{TEST_NGINX_REDIS_HOST} || "127.0.0.1";
        for my $k (split /\n/, `redis-cli -h $host -p $port --scan --pattern '$prefix:*' 2>/dev/null`) {
            `redis-cli -h $host -p $port DEL '$k'` if $k =~ /\S/;
        }
    });
}

1;
