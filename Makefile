# ngx_http_sandbox_bridge_module -- build, test and run helpers.
#
#   make / make build   build build/module/ngx_http_sandbox_bridge_module.so
#                       against Debian's nginx-dev (/usr untouched) + load test
#   make deps           install missing Debian packages (no-op when present)
#   make test           build, start private redis + dockerd, prove -r t, stop
#                       make test T=t/010-auth.t   PROVE_FLAGS=-v
#                       make test TEST_NGINX_BINARY=/path/to/nginx
#   make nginx-asan     debug+ASan nginx 1.22.1 from Debian's source package
#                       -> build/asan/sbin/nginx, build/asan/modules/*.so
#   make test-asan      the suite against the ASan nginx; fails on any report
#   make test-cluster   t/26*.t with util/cluster.sh (Redis Sentinel failover,
#                       Docker over TLS, make run-cluster, cluster.conf)
#   make test-valgrind  the suite under valgrind (TEST_NGINX_USE_VALGRIND=1)
#   make test-faults    the fault suite (t/faults/faults.pl): Redis SIGKILL
#                       and restart empty, dockerd restart, reload during
#                       streams, worker SIGKILL, a soak; prints the measured
#                       recovery times (README "Failure behaviour")
#   make test-runsc     lease/exec/stream/hardening files + t/172-gvisor.t with
#                       `sandbox_runtime runsc` on a private dockerd that has
#                       gVisor's runsc (services instance "runsc")
#   make sandbox-image  the agent sandbox image psb-agent:local
#                       (util/sandbox-image/Dockerfile) without a registry;
#                       AGENT_NPM_PACKAGES='pkg ...' adds agent CLIs
#   make test-agent     lease/exec/stream files + t/240-agent-image.t with
#                       the agent image as sandbox_image (instance "agent")
#   make test-podman    lease/exec/stream files against podman's
#                       Docker-compatible API (podman system service on a
#                       private socket, services instance "podman")
#   make fuzz           libFuzzer harnesses -> build/fuzz/bin/ (fuzz/README.md)
#   make fuzz-run       every harness FUZZ_TIME seconds (default 300)
#   make fuzz-smoke     every harness 20 s (CI)
#   make deb            Debian package (dh-sequence-nginx) ->
#                       build/deb/libnginx-mod-http-sandbox-bridge_<ver>-1_amd64.deb
#   make test-deb       make deb, apt-get install it, nginx -t + one /health
#                       request with the installed module, apt-get purge,
#                       check nothing is left (services instance "deb")
#   make test-image     the Dockerfile built on the private dockerd from a
#                       local debootstrap base (no registry), run, /health
#   make run            services + nginx in the foreground with
#                       conf-examples/quickstart.conf (Ctrl-C stops all)
#   make run-cluster    two nginx nodes, two dockerds, Redis primary +
#                       replica + three sentinels (Ctrl-C stops all)
#   make services-start / services-stop / services-status
#   make clean          remove the module build and t/servroot*
#   make distclean      remove all of build/ (nginx-dev copy, Debian source,
#                       ASan nginx)
#
# Everything that does real work lives in util/*.sh (traps, retries).

SHELL         := /bin/bash
.SHELLFLAGS   := -eu -o pipefail -c
.DEFAULT_GOAL := build

MODULE        := ngx_http_sandbox_bridge_module
BUILD         := $(CURDIR)/build
SO            := $(BUILD)/module/$(MODULE).so
ASAN_NGINX    := $(BUILD)/asan/sbin/nginx

# Test knobs (also read from the environment).
T                 ?= t
PROVE_FLAGS       ?=
TEST_NGINX_BINARY ?= /usr/sbin/nginx
NGINX_SRC_VERSION ?= 1.22.1-9+deb12u9

MODULE_SRCS := $(wildcard $(CURDIR)/src/*.c $(CURDIR)/src/*.h $(CURDIR)/src/lua/*.lua) \
               $(CURDIR)/docs/openapi.json

.PHONY: all build deps deps-asan deps-valgrind test test-faults test-asan test-valgrind test-runsc deps-runsc \
        test-podman deps-podman \
        test-cluster run-cluster \
        fuzz fuzz-run fuzz-smoke deb test-deb test-image sandbox-image test-agent \
        nginx-asan run services-start services-stop services-status image \
        clean distclean help

all: build

help:
	@awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' $(firstword $(MAKEFILE_LIST))

# ---------------------------------------------------------------- deps
# util/deps.sh only touches apt when a package is missing (one dpkg-query
# call otherwise), so it is fine as a prerequisite of everything.
deps:
	@util/deps.sh build test

deps-asan: deps
	@util/deps.sh asan

deps-valgrind: deps
	@util/deps.sh valgrind

deps-runsc: deps
	@util/deps.sh runsc

deps-podman: deps
	@util/deps.sh podman

# ---------------------------------------------------------------- build
# The .so is rebuilt when config or any src/*.c|*.h is newer; util/build.sh
# reconfigures only when config/flags changed and otherwise lets nginx's own
# Makefile do the incremental compile.  `deps` is order-only: it always runs
# but never makes the .so look out of date.
build: $(SO)

$(SO): $(CURDIR)/config $(MODULE_SRCS) $(CURDIR)/util/build.sh | deps
	@util/build.sh
	@touch $@

# ---------------------------------------------------------------- ASan
nginx-asan: deps-asan
	@NGINX_SRC_VERSION='$(NGINX_SRC_VERSION)' util/build-asan.sh

# ---------------------------------------------------------------- tests
test: build
	@T='$(T)' PROVE_FLAGS='$(PROVE_FLAGS)' TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' \
	    util/test.sh

# bounded: every fault waits at most tens of seconds (about 4 minutes)
test-faults: build
	@T='t/faults/faults.pl' PROVE_FLAGS='-v $(PROVE_FLAGS)' \
	    TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' timeout 600 util/test.sh

test-asan: nginx-asan
	@T='$(T)' PROVE_FLAGS='$(PROVE_FLAGS)' util/test.sh --asan

# the local cluster's tests (README "Local cluster"); ASAN=1 under ASan
CLUSTER_T ?= t/260-sentinel-failover.t t/261-docker-tls.t t/262-sentinel-conf.t \
             t/263-run-cluster.t t/264-cluster-conf.t

test-cluster: build $(if $(ASAN),nginx-asan)
	@PSB_CLUSTER=1 T='$(CLUSTER_T)' PROVE_FLAGS='$(PROVE_FLAGS)' \
	    TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' util/test.sh $(if $(ASAN),--asan)

test-valgrind: build deps-valgrind
	@T='$(T)' PROVE_FLAGS='$(PROVE_FLAGS)' TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' \
	    util/test.sh --valgrind

# gVisor (README "gVisor"): these files with every lease container under
# runsc (scenario files too: Scenario.pm passes the runtime on).  The
# other files either bring their own bridge config (so the
# runtime would not reach them) or test nothing runtime-specific.
RUNSC_T ?= t/050-leases.t t/052-cold-acquire.t t/070-exec.t t/080-stream.t \
           t/140-hardening.t t/164-regress-kill-retry.t t/172-gvisor.t \
           t/280-warm-pool.t

test-runsc: build deps-runsc
	@PSB_DOCKER_RUNTIME=runsc PSB_INSTANCE=runsc \
	    TEST_NGINX_SANDBOX_RUNTIME=runsc \
	    TEST_NGINX_SERVROOT='$(CURDIR)/t/servroot-runsc' \
	    T='$(RUNSC_T)' PROVE_FLAGS='$(PROVE_FLAGS)' \
	    TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' util/test.sh

# Agent sandbox image (README "Agent sandbox image"): these files with
# sandbox_image psb-agent:local, built from util/sandbox-image/Dockerfile
# on a debootstrap base (util/sandbox-image.sh; cached in build/image/).
AGENT_T ?= t/050-leases.t t/070-exec.t t/080-stream.t t/240-agent-image.t

test-agent: build
	@util/deps.sh image
	@PSB_SANDBOX=agent PSB_INSTANCE=agent TEST_NGINX_AGENT_IMAGE=1 \
	    TEST_NGINX_SERVROOT='$(CURDIR)/t/servroot-agent' \
	    T='$(AGENT_T)' PROVE_FLAGS='$(PROVE_FLAGS)' \
	    TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' util/test.sh

# the image into DOCKER_HOST when set, else into the running services of
# `BRIDGE_SANDBOX=agent make run`, else only into build/image/'s cache
sandbox-image: deps
	@util/deps.sh image
	@util/sandbox-image.sh -f

# Podman (README "Podman"): the lease, exec and stream files against
# `podman system service` instead of dockerd.
PODMAN_T ?= t/050-leases.t t/070-exec.t t/080-stream.t t/270-podman.t \
           t/280-warm-pool.t

test-podman: build deps-podman
	@PSB_ENGINE=podman PSB_INSTANCE=podman \
	    TEST_NGINX_SERVROOT='$(CURDIR)/t/servroot-podman' \
	    T='$(PODMAN_T)' PROVE_FLAGS='$(PROVE_FLAGS)' \
	    TEST_NGINX_BINARY='$(TEST_NGINX_BINARY)' util/test.sh

# ---------------------------------------------------------------- fuzzing
# libFuzzer harnesses (clang + ASan + UBSan), see fuzz/README.md.
FUZZ_TIME ?= 300

fuzz: deps
	@$(MAKE) --no-print-directory -C fuzz build

fuzz-run: fuzz
	@FUZZ_NO_BUILD=1 fuzz/run.sh $(FUZZ_TIME)

# what CI runs: every harness briefly, from the committed seeds
fuzz-smoke: fuzz
	@FUZZ_NO_BUILD=1 fuzz/run.sh 20

# ---------------------------------------------------------------- Debian package
# The packaging is in util/debian/; util/build-deb.sh stages it as debian/.
deb:
	@util/deps.sh deb
	@util/build-deb.sh

test-deb: deb
	@util/deps.sh build test
	@util/test-deb.sh

# ---------------------------------------------------------------- Docker image
test-image:
	@util/deps.sh test image
	@util/test-docker-image.sh

# ---------------------------------------------------------------- services / run
services-start: deps
	@util/services.sh start

services-stop:
	@util/services.sh stop

services-status:
	@util/services.sh status

image: deps
	@util/services.sh image

run: build
	@util/run.sh

run-cluster: build
	@util/run-cluster.sh

# ---------------------------------------------------------------- cleanup
clean:
	rm -rf $(BUILD)/module $(BUILD)/smoke.conf $(BUILD)/configure.log \
	       $(CURDIR)/t/servroot*

# also drops the nginx-dev copy and the cached Debian source + ASan nginx
distclean: clean
	rm -rf $(BUILD)
