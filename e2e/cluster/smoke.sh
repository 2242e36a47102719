#!/usr/bin/env bash
# Prove the chain: apiserver -> KubeRay operator -> scheduler -> kwok nodes.
# Brings the cluster up (idempotent), applies KubeRay's own sample RayCluster
# (from the ray-operator module, copied by build.sh) and a RayCluster with a
# GPU worker group, waits until every Ray pod is Running on a kwok node and
# both RayClusters report state "ready", then deletes the namespace and waits
# until it is gone (namespace controller + garbage collector + kwok pod-delete).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

NS=park-smoke
"$E2E_HERE/up" >/dev/null
T0=$(date +%s)

kubectl_ delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
kubectl_ create namespace "$NS" >/dev/null
kubectl_ -n "$NS" apply -f "$CACHE/kuberay/samples/ray-cluster.sample.yaml"
kubectl_ -n "$NS" apply -f - <<'EOF'
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: park-gpu
spec:
  rayVersion: '2.46.0'
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.46.0
          resources:
            requests: {cpu: "2", memory: 4Gi}
            limits: {cpu: "2", memory: 4Gi}
  workerGroupSpecs:
  - groupName: gpu
    replicas: 2
    minReplicas: 0
    maxReplicas: 4
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-worker
          image: rayproject/ray:2.46.0
          resources:
            requests: {cpu: "8", memory: 64Gi, nvidia.com/gpu: "4"}
            limits: {cpu: "8", memory: 64Gi, nvidia.com/gpu: "4"}
EOF

all_running() { # expect N pods, all Running, all on kwok nodes
  local want=$1 out
  out=$(kubectl_ -n "$NS" get pods -l ray.io/is-ray-node=yes \
    -o jsonpath='{range .items[*]}{.status.phase}{" "}{.spec.nodeName}{"\n"}{end}')
  [[ $(grep -c '^Running park-kwok-' <<<"$out") -eq $want && $(wc -l <<<"$out") -eq $want ]]
}
clusters_ready() {
  [[ "$(kubectl_ -n "$NS" get raycluster raycluster-kuberay -o jsonpath='{.status.state}')" == ready &&
     "$(kubectl_ -n "$NS" get raycluster park-gpu -o jsonpath='{.status.state}')" == ready ]]
}
wait_until() { # SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs; i++)); do
    "$@" 2>/dev/null && return 0
    sleep 1
  done
  kubectl_ -n "$NS" get raycluster,pods -o wide >&2 || true
  kubectl_ -n "$NS" get events --sort-by=.lastTimestamp 2>/dev/null | tail -20 >&2 || true
  die "smoke: timed out after ${secs}s waiting for $what"
}

# 2 pods from the sample (head + 1 worker) + 3 from park-gpu (head + 2 GPU workers)
wait_until 180 "5 Ray pods Running on kwok nodes" all_running 5
wait_until 120 "RayClusters ready" clusters_ready
echo "--- nodes"
kubectl_ get nodes -o custom-columns='NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory,GPU:.status.allocatable.nvidia\.com/gpu,VERSION:.status.nodeInfo.kubeletVersion'
echo "--- rayclusters"
kubectl_ -n "$NS" get rayclusters
echo "--- pods"
kubectl_ -n "$NS" get pods -o wide
echo "--- services"
kubectl_ -n "$NS" get services
echo "smoke: Ray pods Running and RayClusters ready after $(($(date +%s) - T0))s"

kubectl_ delete namespace "$NS" --wait=true --timeout=180s >/dev/null
echo "smoke: namespace $NS deleted after $(($(date +%s) - T0))s"
echo "smoke: OK"
