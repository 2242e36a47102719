#!/usr/bin/env bash
# Build (or reuse) the binaries of the e2e Kubernetes test cluster.
#
#   e2e/cluster/build.sh            build what is missing or stale
#   e2e/cluster/build.sh --force    rebuild everything
#
# Each component is built from a pinned Go module (e2e/cluster/modules/*/go.mod,
# go.sum) into ${PARK_K8S_CACHE:-$HOME/.cache/park/k8s}/bin. A component is
# skipped when its binary exists and its stamp (sha256 of its module's go.mod,
# go.sum and this script) matches. Nothing is written inside the repository.
#
# Builds run under `nice -n 19` with `-p 1` so a 2-core machine stays usable;
# the first build takes a long time (see README.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PARK_K8S_CACHE:-$HOME/.cache/park/k8s}"
BIN="$CACHE/bin"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=1 -mod=readonly"
# go.mod files name go 1.26.0 at most; the machine's Go (1.26.x) is enough.
NICE=(nice -n 19)

mkdir -p "$BIN" "$CACHE/stamps" "$CACHE/logs"
exec 9>"$CACHE/.build.lock"
if ! flock -w 7200 9; then
  echo "build.sh: timed out waiting for $CACHE/.build.lock" >&2
  exit 1
fi

log() { echo "[build $(date +%H:%M:%S)] $*" >&2; }

stamp_of() { # module dir -> hash
  cat "$HERE/modules/$1/go.mod" "$HERE/modules/$1/go.sum" "$HERE/build.sh" | sha256sum | cut -d' ' -f1
}

fresh() { # name module -> 0 when the cached binary is up to date
  [[ $FORCE == 0 && -x "$BIN/$1" && -f "$CACHE/stamps/$1" ]] &&
    [[ "$(cat "$CACHE/stamps/$1")" == "$(stamp_of "$2")" ]]
}

moddir() { # module dir, module path -> its directory in the module cache
  (cd "$HERE/modules/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2")
}

modver() { # module dir, module path -> its version
  (cd "$HERE/modules/$1" && go list -m -f '{{.Version}}' "$2")
}

build_one() { # name module pkg ldflags
  local name=$1 mod=$2 pkg=$3 ldflags=$4 t0 rc
  if fresh "$name" "$mod"; then
    log "$name: cached ($BIN/$name)"
    return 0
  fi
  log "$name: building $pkg (log: $CACHE/logs/build-$name.log)"
  t0=$(date +%s)
  set +e
  (cd "$HERE/modules/$mod" &&
    "${NICE[@]}" go build -p 1 -trimpath -ldflags "-s -w $ldflags" -o "$BIN/$name.tmp" "$pkg") \
    >"$CACHE/logs/build-$name.log" 2>&1
  rc=$?
  set -e
  if [[ $rc != 0 ]]; then
    tail -30 "$CACHE/logs/build-$name.log" >&2
    log "$name: BUILD FAILED (rc=$rc)"
    return $rc
  fi
  mv -f "$BIN/$name.tmp" "$BIN/$name"
  stamp_of "$mod" >"$CACHE/stamps/$name"
  log "$name: built in $(($(date +%s) - t0))s"
  echo "$name $(($(date +%s) - t0))s $(date -Is)" >>"$CACHE/logs/build-times.txt"
}

# --- Kubernetes control plane, kubectl, and etcd at the version Kubernetes pins
K8S_VERSION="$(modver kubernetes k8s.io/kubernetes)"
K8S_MINOR="${K8S_VERSION#v1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
KV=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KV+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
  KV+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
ETCD_VERSION="$(modver kubernetes go.etcd.io/etcd/server/v3)"
build_one etcd kubernetes go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
  build_one "$c" kubernetes "k8s.io/kubernetes/cmd/$c" "$KV"
done

# --- the real node's cluster DNS (CoreDNS with the plugins it needs) and its sandbox's pause binary
build_one coredns coredns . ""
CGO_ENABLED=0 build_one pause pause . ""

# --- the object store (S3) for Park's artifacts
build_one minio minio github.com/minio/minio ""

# --- kwok (fake nodes) and its default node/pod stages
build_one kwok kwok sigs.k8s.io/kwok/cmd/kwok ""
KWOK_DIR="$(moddir kwok sigs.k8s.io/kwok)"
mkdir -p "$CACHE/kwok"
{
  for f in kustomize/stage/node/fast/node-initialize.yaml \
    kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    kustomize/stage/pod/fast/pod-ready.yaml \
    kustomize/stage/pod/fast/pod-complete.yaml \
    kustomize/stage/pod/fast/pod-delete.yaml; do
    echo "---"
    echo "# from sigs.k8s.io/kwok@$(modver kwok sigs.k8s.io/kwok)/$f"
    cat "$KWOK_DIR/$f"
  done
} >"$CACHE/kwok/stages.yaml.tmp"
mv -f "$CACHE/kwok/stages.yaml.tmp" "$CACHE/kwok/stages.yaml"

# --- KubeRay operator, its CRDs and its sample RayCluster
build_one kuberay-operator kuberay github.com/ray-project/kuberay/ray-operator ""
KR_DIR="$(moddir kuberay github.com/ray-project/kuberay/ray-operator)"
mkdir -p "$CACHE/kuberay/crds" "$CACHE/kuberay/samples"
cp -f "$KR_DIR"/config/crd/bases/*.yaml "$CACHE/kuberay/crds/"
cp -f "$KR_DIR"/config/samples/ray-cluster.sample.yaml "$CACHE/kuberay/samples/"
chmod -R u+w "$CACHE/kuberay"

cat >"$CACHE/versions.txt" <<EOF
kubernetes $K8S_VERSION
etcd $ETCD_VERSION
kwok $(modver kwok sigs.k8s.io/kwok)
kuberay $(modver kuberay github.com/ray-project/kuberay/ray-operator)
coredns $(modver coredns github.com/coredns/coredns)
minio $(modver minio github.com/minio/minio)
go $(go env GOVERSION)
EOF
log "binaries in $BIN: $(cd "$BIN" && ls | tr '\n' ' ')"
