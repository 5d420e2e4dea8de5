# nginx (Debian 12) + ngx_http_sandbox_bridge_module, configured from
# conf-examples/quickstart.conf at container start.
#
# Build:
#   docker build -t psb-bridge .
#   docker build --build-arg DEBIAN_IMAGE=registry.example/debian:bookworm -t psb-bridge .
#
# Build args:
#   DEBIAN_IMAGE   base image for both stages (default debian:bookworm). Both
#                  stages must see the same nginx package version: the module
#                  is built against nginx-dev and loads only into that nginx.
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
# placeholders).  Verified (with a debootstrap'ed debian:bookworm base):
# the image builds, the module loads, /health reaches Redis and Docker.
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
# same route as on a developer machine: util/deps.sh installs only the build
# set, util/build.sh builds against /usr/share/nginx/src and smoke-tests it.
RUN util/deps.sh build \
 && rm -rf build \
 && util/build.sh \
 && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------- runtime
FROM ${DEBIAN_IMAGE}
ARG TEMPLATE=conf-examples/quickstart.conf
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        nginx libhiredis0.14 libjansson4 libssl3 openssl perl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default
COPY --from=build /src/build/module/ngx_http_sandbox_bridge_module.so /usr/lib/nginx/modules/
COPY ${TEMPLATE} /etc/psb/quickstart.conf
COPY util/render-conf /usr/local/bin/render-conf
COPY util/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# fail the image build if this nginx cannot load the module
RUN printf 'load_module /usr/lib/nginx/modules/ngx_http_sandbox_bridge_module.so;\nevents {}\n' > /tmp/t.conf \
 && nginx -g 'error_log /dev/null; pid /dev/null;' -t -q -c /tmp/t.conf \
 && rm /tmp/t.conf
ENV BRIDGE_PORT=8080 \
    BRIDGE_DOCKER_SOCKET=/var/run/docker.sock \
    BRIDGE_IMAGE=psb-sandbox:local \
    BRIDGE_PREFIX=/var/lib/psb
EXPOSE 8080
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
