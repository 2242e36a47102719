# Shared settings of e2e/cluster/{up,down,smoke.sh}. Sourced, not run.
# shellcheck shell=bash

E2E_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PARK_K8S_CACHE:-$HOME/.cache/park/k8s}"
BIN="$CACHE/bin"
STATE="${PARK_E2E_DIR:-$HOME/.cache/park/e2e}"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KUBECONFIG_ADMIN="$STATE/kubeconfig"

# Listeners are on 127.0.0.1 (the apiserver, kubelet, CoreDNS and MinIO also on the real node's
# bridge address); ports are PARK_E2E_PORT_BASE + a fixed offset
# so that two clusters (two state dirs) can run side by side.
PORT_BASE="${PARK_E2E_PORT_BASE:-16400}"
ETCD_PORT=$((PORT_BASE + 79))       # 16479 etcd clients (plain http, loopback)
ETCD_PEER_PORT=$((PORT_BASE + 80))  # 16480 etcd peers
API_PORT=$((PORT_BASE + 43))        # 16443 kube-apiserver (https)
KCM_PORT=$((PORT_BASE + 57))        # 16457 kube-controller-manager (https healthz)
SCHED_PORT=$((PORT_BASE + 59))      # 16459 kube-scheduler (https healthz)
KWOK_PORT=$((PORT_BASE + 50))       # 16450 kwok server
KR_METRICS_PORT=$((PORT_BASE + 81)) # 16481 KubeRay metrics
KR_PROBE_PORT=$((PORT_BASE + 82))   # 16482 KubeRay healthz/readyz
KUBELET_PORT=$((PORT_BASE + 51))      # 16451 the real node's kubelet (https, on the node's bridge address)
KUBELET_HEALTHZ_PORT=$((PORT_BASE + 52)) # 16452 its healthz (loopback)
COREDNS_HEALTH_PORT=$((PORT_BASE + 53))  # 16453 CoreDNS /health (loopback); DNS itself is on the bridge, :53
COREDNS_READY_PORT=$((PORT_BASE + 54))   # 16454 CoreDNS /ready (loopback)
KUBE_PROXY_HEALTHZ_PORT=$((PORT_BASE + 55)) # 16455 kube-proxy healthz (loopback)
KUBE_PROXY_METRICS_PORT=$((PORT_BASE + 56)) # 16456 kube-proxy metrics (loopback)
MINIO_PORT=$((PORT_BASE + 90))           # 16490 MinIO, S3 (on the real node's bridge address)

# The real node's bridge network (node.sh): the node is .1, pods get .10-.250.
NODE_NET="${PARK_E2E_NODE_NET:-10.245.0}"
NODE_IP="$NODE_NET.1"
CTR_RUN="/run/park-e2e-${PORT_BASE}" # the real node's containerd: its socket and state
CTR_SOCK="$CTR_RUN/containerd.sock"

# Start order (`down` stops the apiserver clients, then the apiserver, then etcd).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kuberay-operator)
# The real node's processes (node.sh); `down` stops them, and the containers they run, first.
REAL_NODE_COMPONENTS=(kube-proxy kubelet coredns containerd)
# The object store (objectstore.sh); `down` stops it with the apiserver's clients.

log() { echo "[e2e $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_of NAME -> prints the PID recorded for NAME when that process is still
# the binary we started (guards against PID reuse); returns 1 otherwise.
pid_of() {
  local f="$PIDS/$1.pid" pid exe want
  [[ -f $f ]] || return 1
  { read -r pid; read -r want; } <"$f" || true
  [[ -n ${pid:-} && -n ${want:-} ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}"
  [[ $exe == "$want" ]] || return 1
  echo "$pid"
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
