# nginx (Debian 12) + ngx_http_sandbox_bridge_module, installed from the
# project's Debian package and configured from conf-examples/quickstart.conf
# at container start.
#
# Build:
#   docker build -t psb-bridge .
#   docker build --build-arg DEBIAN_IMAGE=registry.example/debian:bookworm -t psb-bridge .
#
# Without a registry (what CI does, util/test-docker-image.sh): make the
# base from Debian's packages with util/base-image.sh (debootstrap
# --variant=minbase + docker import -> psb-debian:bookworm), then
#   docker build --network host --build-arg DEBIAN_IMAGE=psb-debian:bookworm -t psb-bridge .
# (--network host: the RUN steps' apt-get needs the host's network on a
# dockerd without a bridge, such as util/services.sh's private one.)
#
# Build args:
#   DEBIAN_IMAGE   base image for both stages (default debian:bookworm). Both
#                  stages must see the same nginx package version: the .deb
#                  depends on the nginx ABI it was built against.
#   TEMPLATE       config template copied into the image
#                  (default conf-examples/quickstart.conf)
#
# Run (the bridge talks to the host's Docker daemon and an existing Redis):
#   docker run --rm --network host \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -e BRIDGE_REDIS=redis.example:6379 -e BRIDGE_AUTH_TOKEN=... psb-bridge
#
# Note: conf-examples/quickstart.conf listens on 127.0.0.1 only, which inside
# a container is reachable only with --network host (or from the container
# itself).  To publish the port (-p) build with a template that listens on all
# addresses: --build-arg TEMPLATE=path/to/your.conf (same ${BRIDGE_*}
# placeholders).
#
# Runtime environment: BRIDGE_REDIS (required), BRIDGE_DOCKER_SOCKET
# (/var/run/docker.sock), BRIDGE_IMAGE (psb-sandbox:local; must exist on that
# daemon: util/build-image.sh builds it), BRIDGE_PORT (8080),
# BRIDGE_AUTH_TOKEN or BRIDGE_AUTH_TOKEN_FILE (else generated and printed),
# BRIDGE_PREFIX (/var/lib/psb).  See util/docker-entrypoint.sh.

ARG DEBIAN_IMAGE=debian:bookworm

# ---------------------------------------------------------------- build
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY . /src
# same route as `make deb`: util/deps.sh installs the deb set, util/build-deb.sh
# builds the package with dh-sequence-nginx into build/deb/.
# (policy-rc.d: no service starts during the build, as in Debian's official
# images; with --network host a started nginx would bind the host's port 80)
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && util/deps.sh deb \
 && rm -rf build \
 && util/build-deb.sh \
 && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------- runtime
FROM ${DEBIAN_IMAGE}
ARG TEMPLATE=conf-examples/quickstart.conf
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /src/build/deb/libnginx-mod-http-sandbox-bridge_*.deb /tmp/deb/
# apt-get resolves the package's Depends: nginx (nginx-abi-*), libhiredis,
# libjansson, libssl, openssl.  perl: util/render-conf.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
        /tmp/deb/libnginx-mod-http-sandbox-bridge_*.deb nginx perl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/deb \
 && rm -f /etc/nginx/sites-enabled/default
COPY ${TEMPLATE} /etc/psb/quickstart.conf
COPY util/render-conf /usr/local/bin/render-conf
COPY util/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# fail the image build if this nginx cannot load the module, both by the
# entrypoint's absolute path and the Debian way (modules-enabled snippet)
RUN printf 'load_module /usr/lib/nginx/modules/ngx_http_sandbox_bridge_module.so;\nevents {}\n' > /tmp/t.conf \
 && nginx -g 'error_log /dev/null; pid /dev/null;' -t -q -c /tmp/t.conf \
 && printf 'include /etc/nginx/modules-enabled/*.conf;\nevents {}\n' > /tmp/t.conf \
 && nginx -g 'error_log /dev/null; pid /dev/null;' -t -q -c /tmp/t.conf \
 && rm /tmp/t.conf
ENV BRIDGE_PORT=8080 \
    BRIDGE_DOCKER_SOCKET=/var/run/docker.sock \
    BRIDGE_IMAGE=psb-sandbox:local \
    BRIDGE_PREFIX=/var/lib/psb
EXPOSE 8080
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
