# The e2e cluster's real node: containerd + runc (Debian packages), the CNI bridge plugin, a kubelet and
# CoreDNS and kube-proxy built from Go modules, and images made without a registry. Sourced by `up` after the control
# plane runs; defines `realnode_up`. Pods run here only when they tolerate the node's taint
# (park.dev/real-node=true:NoSchedule), so scale tests on kwok nodes never start real containers.
# shellcheck shell=bash

REAL_NODE="${PARK_E2E_REAL_NODE:-park-node-0}"
BRIDGE="${PARK_E2E_BRIDGE:-park0}"
CTR_ROOT="$STATE/containerd"
KUBELET_DIR="$STATE/kubelet"
IMAGES="$CACHE/images"
OCI_IMAGE="$E2E_HERE/../../scripts/oci_image.py" # OCI archives from tar layers (the Park image uses it too)
PAUSE_IMAGE="park.local/pause:3.10"
RUNTIME_IMAGE="park.local/park-runtime:dev"
# What the runtime image adds to Debian's minimal base: the shared libraries CPython and its wheels link
# to, wget (KubeRay's probes run it in the container) and tools to look around with.
RUNTIME_PACKAGES="ca-certificates,wget,curl,procps,iproute2,libssl3,libsqlite3-0,libffi8,libbz2-1.0"
RUNTIME_PACKAGES+=",liblzma5,libreadline8,zlib1g,libncursesw6,libgdbm6,libuuid1,libgomp1,libstdc++6"

ctr_() { ctr --address "$CTR_SOCK" -n k8s.io "$@"; }

realnode_packages() {
  local missing=() p
  for p in containerd runc containernetworking-plugins mmdebstrap iptables conntrack; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  [[ $(id -u) == 0 ]] || die "the real node needs Debian packages ${missing[*]} (run as root, or install them)"
  log "installing ${missing[*]} (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
}

realnode_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE (needs CAP_NET_ADMIN)"
  fi
  [[ "$(ip -4 addr show dev "$BRIDGE")" == *"inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-park.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "park-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_NET.0/24", "rangeStart": "$NODE_NET.10", "rangeEnd": "$NODE_NET.250", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    }
  ]
}
EOF
}

realnode_containerd_config() {
  mkdir -p "$CTR_ROOT" "$CTR_RUN"
  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc cannot lower a score without it
  # ("can't get final child's PID from pipe" on every sandbox otherwise).
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$CTR_ROOT"
state = "$CTR_RUN/state"
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_RUN/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
}

# image_stamp NAME -> what an image was built from; it is rebuilt (and re-imported) when this changes.
image_stamp() {
  case $1 in
    pause) sha256sum "$BIN/pause" "$OCI_IMAGE" | sha256sum | cut -d' ' -f1 ;;
    runtime) printf '%s\n' "$RUNTIME_PACKAGES" "$(sha256sum "$OCI_IMAGE" "$E2E_HERE/node.sh")" |
      sha256sum | cut -d' ' -f1 ;;
  esac
}

realnode_images() {
  mkdir -p "$IMAGES"
  if [[ "$(cat "$IMAGES/pause.stamp" 2>/dev/null)" != "$(image_stamp pause)" ]]; then
    python3 "$OCI_IMAGE" --name "$PAUSE_IMAGE" --out "$IMAGES/pause.oci.tar" \
      --file "$BIN/pause:/pause:0755" --entrypoint /pause
    image_stamp pause >"$IMAGES/pause.stamp"
  fi
  if [[ "$(cat "$IMAGES/runtime.stamp" 2>/dev/null)" != "$(image_stamp runtime)" ]]; then
    log "building $RUNTIME_IMAGE: a Debian root filesystem (mmdebstrap, about a minute)"
    mmdebstrap --quiet --variant=minbase --include="$RUNTIME_PACKAGES" --format=tar \
      bookworm "$IMAGES/runtime-rootfs.tar" >"$LOGS/mmdebstrap.log" 2>&1 ||
      { tail -20 "$LOGS/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $LOGS/mmdebstrap.log)"; }
    python3 "$OCI_IMAGE" --name "$RUNTIME_IMAGE" --out "$IMAGES/runtime.oci.tar" \
      --layer "$IMAGES/runtime-rootfs.tar" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd /bin/bash
    rm -f "$IMAGES/runtime-rootfs.tar"
    image_stamp runtime >"$IMAGES/runtime.stamp"
  fi
  local name file
  for name in pause runtime; do
    file="$IMAGES/$name.oci.tar"
    if [[ "$(cat "$CTR_ROOT/.imported-$name" 2>/dev/null)" != "$(cat "$IMAGES/$name.stamp")" ]]; then
      ctr_ images import "$file" >/dev/null || die "ctr images import $file failed"
      cp "$IMAGES/$name.stamp" "$CTR_ROOT/.imported-$name"
    fi
  done
}

realnode_kubelet_config() {
  mkdir -p "$KUBELET_DIR"
  umask 077
  leaf "kubelet-$REAL_NODE" ca "/O=system:nodes/CN=system:node:$REAL_NODE" "$CLIENT"
  leaf "kubelet-serving" ca "/CN=$REAL_NODE" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:$NODE_IP,DNS:$REAL_NODE\n"
  umask 022
  kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$REAL_NODE" "kubelet-$REAL_NODE"
  # cgroupfs + failCgroupV1: the host has cgroup v1 and no systemd. Image GC is off: images here cannot
  # be pulled again. Evictions only at nearly full disk or memory: the machine is shared with the tests.
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CTR_SOCK
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $STATE/resolv.conf
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
registerWithTaints:
- {key: park.dev/real-node, value: "true", effect: NoSchedule}
EOF
  : >"$STATE/resolv.conf" # pods ask the cluster DNS only; nothing outside is reachable anyway
}

realnode_coredns_config() {
  cat >"$STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:$COREDNS_HEALTH_PORT
    ready 127.0.0.1:$COREDNS_READY_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_ADMIN
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
}

# kube-proxy (iptables mode) makes Service ClusterIPs work, for pods and for this host: a test reaches a
# Serve endpoint through its Service as a client inside the cluster would. It leaves the host's conntrack
# sysctls alone (not writable here) and does not route localhost NodePorts.
realnode_kube_proxy() {
  umask 077
  leaf kube-proxy ca "/CN=system:kube-proxy" "$CLIENT"
  umask 022
  kubeconfig "$STATE/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
  start kube-proxy "$KUBE_PROXY_HEALTHZ_PORT" \
    --kubeconfig "$STATE/kube-proxy.kubeconfig" --hostname-override "$REAL_NODE" \
    --proxy-mode iptables --cluster-cidr "$NODE_NET.0/24" \
    --healthz-bind-address "127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT" \
    --metrics-bind-address "127.0.0.1:$KUBE_PROXY_METRICS_PORT" \
    --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
    --iptables-localhost-nodeports=false --v 1
  wait_for "kube-proxy /healthz" 60 kube-proxy curl -sf --max-time 3 "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"
}

realnode_up() {
  local b
  for b in kubelet coredns pause kube-proxy; do
    [[ -x "$BIN/$b" ]] || die "missing $BIN/$b (run e2e/cluster/build.sh)"
  done
  realnode_packages
  realnode_network
  realnode_containerd_config
  realnode_kubelet_config
  realnode_coredns_config
  start_cmd containerd - /usr/bin/containerd --config "$STATE/containerd.toml"
  wait_for "containerd" 60 containerd ctr_ version
  realnode_images
  start coredns - -conf "$STATE/Corefile"
  start kubelet "$KUBELET_HEALTHZ_PORT" \
    --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --hostname-override "$REAL_NODE" --node-ip "$NODE_IP" --root-dir "$KUBELET_DIR" \
    --node-labels "park.dev/real-node=true" --v 1
  wait_for "CoreDNS ready" 60 coredns curl -sf --max-time 3 "http://127.0.0.1:$COREDNS_READY_PORT/ready"
  real_node_ready() {
    [[ "$(kubectl_ get node "$REAL_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
  }
  wait_for "node $REAL_NODE Ready" 120 kubelet real_node_ready
  realnode_kube_proxy
}
