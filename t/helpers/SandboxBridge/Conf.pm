package SandboxBridge::Conf;

# Configuration tests (t/030, t/201, t/251; base_server also t/020 and
# t/090): a complete, valid bridge server that blocks add their mistake
# to, the block defaults those files share, and the [emerg] line a
# mistake must produce.

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(names base_server conf_blocks);

# One [emerg] line that names the directive and contains every given text.
sub names {
    my ($directive, @texts) = @_;
    my $re = '\[emerg\](?=.*\b' . quotemeta($directive) . '\b)';
    $re .= '(?=.*' . quotemeta($_) . ')' for @texts;
    return qr/$re/;
}

# A valid bridge server with the private dockerd as its one Docker host.
sub base_server {
    return <<'_EOC_';
    sandbox_auth bearer;
    sandbox_auth_token_file $TEST_NGINX_HTML_DIR/tokens;
    sandbox_docker_location /_docker;
    sandbox_image $TEST_NGINX_SANDBOX_IMAGE;
    location /api/paperclip-sandbox/v1 { sandbox_bridge; }
    location /_docker/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_DOCKER_SOCKET:/v1.41/;
        proxy_read_timeout 1d;
    }
_EOC_
}

# Block defaults: wait for Redis, the http_config given, the token file;
# config and more_headers when given.
sub conf_blocks {
    my %o = @_;

    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value('init', 'main::wait_redis_ready()')
            unless defined $block->{init};
        $block->set_value('http_config', $o{http_config})
            unless defined $block->{http_config};
        $block->set_value('config', $o{config})
            if defined $o{config} && !defined $block->{config};
        $block->set_value('user_files', ">>> tokens\nsecret-token\n")
            unless defined $block->{user_files};
        $block->set_value('more_headers', $o{more_headers})
            if defined $o{more_headers} && !defined $block->{more_headers};
    });
}

1;
