#!/usr/bin/env bash
# A Docker network for lease containers that can reach the outside but
# neither each other nor the Docker host (README "Networking").
#
#   util/egress.sh up NAME [SUBNET] [HOST_PORT...]
#   util/egress.sh down NAME
#   util/egress.sh rules NAME        print this network's iptables rules
#
# up: `docker network create` a user-defined bridge NAME whose Linux bridge
# is also called NAME (at most 15 characters), with SUBNET (default
# 198.18.0.0/24; the host's address on it, the gateway, is the subnet's
# first one) and com.docker.network.bridge.enable_icc=false, then adds
# iptables rules of its own, in chains named after it:
#
#   FORWARD  NAME -> NAME                      DROP   (lease to lease)
#   FORWARD  NAME -> elsewhere, and replies    ACCEPT (egress)
#   INPUT    NAME -> this host, TCP HOST_PORT  ACCEPT (e.g. an HTTP proxy)
#   INPUT    NAME -> this host, replies        ACCEPT
#   INPUT    NAME -> this host, anything else  DROP   (the host's services)
#   nat POSTROUTING  SUBNET -> not NAME        MASQUERADE
#
# These are what dockerd itself would add with --iptables=true for
# enable_icc=false, plus the INPUT chain, which dockerd never adds
# (its containers reach every service of the host on the gateway address).
# They work whether dockerd manages iptables or not; util/services.sh's
# private dockerd runs with --iptables=false and --bridge=none.  Lease to
# lease traffic crosses the Linux bridge, so the FORWARD rule needs
# net.bridge.bridge-nf-call-iptables=1 (br_netfilter), which `up` sets;
# egress needs net.ipv4.ip_forward=1, which `up` sets too.  Both are
# host-wide sysctls; `down` leaves them as they are.
#
# With PSB_EGRESS_OUTSIDE=0 the sandboxes reach only HOST_PORTs (such as
# an operator's HTTP proxy): FORWARD from NAME is DROP, no MASQUERADE.
#
# down: remove the containers still on the network, the network, the rules
# and the chains.  Idempotent.  Needs root and DOCKER_HOST.  The network
# carries the label psb.egress=1; util/services.sh stop takes down every
# such network of its private dockerd.
set -euo pipefail

die() { echo "egress.sh: error: $*" >&2; exit 1; }
log() { echo "egress.sh: $*" >&2; }

cmd=${1:-}
NAME=${2:-}
[ -n "$NAME" ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
case "$NAME" in
    *[!A-Za-z0-9_-]*) die "network name: letters, digits, '_' and '-' only" ;;
esac
[ ${#NAME} -le 15 ] || die "network name longer than 15 characters (it names the Linux bridge)"
command -v iptables >/dev/null || die "iptables missing"
command -v docker >/dev/null || die "docker CLI missing"

# chain names: at most 28 characters
IN=PSB-IN-$NAME
FWD=PSB-FWD-$NAME
NAT=PSB-NAT-$NAME

ipt() { iptables -w 10 "$@"; }

rules_down() {
    while ipt -D INPUT -i "$NAME" -j "$IN" 2>/dev/null; do :; done
    while ipt -D FORWARD -i "$NAME" -j "$FWD" 2>/dev/null; do :; done
    while ipt -D FORWARD -o "$NAME" -j "$FWD" 2>/dev/null; do :; done
    while ipt -t nat -D POSTROUTING -j "$NAT" 2>/dev/null; do :; done
    local c
    for c in "$IN" "$FWD"; do
        ipt -F "$c" 2>/dev/null || true
        ipt -X "$c" 2>/dev/null || true
    done
    ipt -t nat -F "$NAT" 2>/dev/null || true
    ipt -t nat -X "$NAT" 2>/dev/null || true
}

case "$cmd" in
up)
    SUBNET=${3:-198.18.0.0/24}
    shift 3 2>/dev/null || shift $#
    for p in "$@"; do
        case "$p" in ''|*[!0-9]*) die "host port must be a number: $p" ;; esac
    done
    if ! docker network inspect "$NAME" >/dev/null 2>&1; then
        # the gateway, the host's address on the network: the subnet's first
        gw=${SUBNET%/*}
        gw=${gw%.*}.$(( ${gw##*.} + 1 ))
        docker network create --driver bridge --subnet "$SUBNET" --gateway "$gw" \
            -o com.docker.network.bridge.name="$NAME" \
            -o com.docker.network.bridge.enable_icc=false \
            -o com.docker.network.bridge.enable_ip_masquerade=true \
            --label psb.egress=1 "$NAME" >/dev/null
    fi
    SUBNET=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NAME")
    sysctl -q -w net.bridge.bridge-nf-call-iptables=1 \
        || die "cannot set net.bridge.bridge-nf-call-iptables=1 (br_netfilter)"
    sysctl -q -w net.ipv4.ip_forward=1 || die "cannot set net.ipv4.ip_forward=1"
    rules_down
    ipt -N "$FWD"
    ipt -A "$FWD" -i "$NAME" -o "$NAME" -j DROP
    ipt -A "$FWD" -o "$NAME" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    ipt -A "$FWD" -o "$NAME" -j DROP
    if [ "${PSB_EGRESS_OUTSIDE:-1}" = 0 ]; then
        ipt -A "$FWD" -i "$NAME" -j DROP
    else
        ipt -A "$FWD" -i "$NAME" -j ACCEPT
    fi
    ipt -N "$IN"
    ipt -A "$IN" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    for p in "$@"; do
        ipt -A "$IN" -p tcp --dport "$p" -j ACCEPT
    done
    ipt -A "$IN" -j DROP
    ipt -t nat -N "$NAT"
    [ "${PSB_EGRESS_OUTSIDE:-1}" = 0 ] \
        || ipt -t nat -A "$NAT" -s "$SUBNET" ! -o "$NAME" -j MASQUERADE
    ipt -I INPUT 1 -i "$NAME" -j "$IN"
    ipt -I FORWARD 1 -i "$NAME" -j "$FWD"
    ipt -I FORWARD 1 -o "$NAME" -j "$FWD"
    ipt -t nat -I POSTROUTING 1 -j "$NAT"
    log "network $NAME ($SUBNET, gateway $(docker network inspect \
        -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$NAME"))${*:+, host ports $*}"
    ;;
down)
    if docker network inspect "$NAME" >/dev/null 2>&1; then
        ids=$(docker network inspect -f '{{range $id, $c := .Containers}}{{$id}} {{end}}' "$NAME")
        # shellcheck disable=SC2086
        [ -z "$ids" ] || docker rm -f $ids >/dev/null
        docker network rm "$NAME" >/dev/null
    fi
    rules_down
    ;;
rules)
    ipt -S "$IN" 2>/dev/null || true
    ipt -S "$FWD" 2>/dev/null || true
    ipt -t nat -S "$NAT" 2>/dev/null || true
    ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2 ;;
esac
