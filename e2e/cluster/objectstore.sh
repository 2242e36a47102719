# The e2e cluster's object store: MinIO (built from its Go module by build.sh), S3-compatible, holding
# Park's artifacts (reports, checkpoints, working directories). Sourced by `up`; defines `objectstore_up`.
# It listens on the real node's bridge address (pods and the host both reach it there), or on loopback
# without a real node. Credentials are made once and kept in $STATE/objectstore.env (mode 0600).
# shellcheck shell=bash

OBJECTSTORE_BUCKET="${PARK_E2E_BUCKET:-park}"

objectstore_address() {
  if [[ "${PARK_E2E_NO_REAL_NODE:-0}" != 1 ]]; then echo "${PARK_E2E_NODE_NET:-10.245.0}.1"; else echo 127.0.0.1; fi
}

objectstore_up() {
  local address endpoint
  address="$(objectstore_address)"
  endpoint="http://$address:$MINIO_PORT"
  if [[ ! -s $STATE/objectstore.env ]]; then
    (
      umask 077
      cat >"$STATE/objectstore.env" <<ENV
AWS_ACCESS_KEY_ID=park-$(openssl rand -hex 6)
AWS_SECRET_ACCESS_KEY=$(openssl rand -hex 24)
AWS_REGION=us-east-1
ENV
    )
  fi
  # shellcheck disable=SC1091
  source "$STATE/objectstore.env"
  # Rewritten each time: the address follows the node network.
  sed -i '/^AWS_ENDPOINT_URL=/d;/^PARK_E2E_BUCKET=/d' "$STATE/objectstore.env"
  printf 'AWS_ENDPOINT_URL=%s\nPARK_E2E_BUCKET=%s\n' "$endpoint" "$OBJECTSTORE_BUCKET" >>"$STATE/objectstore.env"
  mkdir -p "$STATE/minio"
  MINIO_ROOT_USER="$AWS_ACCESS_KEY_ID" MINIO_ROOT_PASSWORD="$AWS_SECRET_ACCESS_KEY" \
    MINIO_BROWSER=off MINIO_UPDATE=off \
    start minio - server "$STATE/minio" --address "$address:$MINIO_PORT" --quiet --anonymous
  wait_for "MinIO ready" 60 minio curl -sf --max-time 3 "$endpoint/minio/health/ready"
  s3_() { curl -sf --max-time 10 --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"; }
  if ! s3_ -o /dev/null -I "$endpoint/$OBJECTSTORE_BUCKET"; then
    s3_ -X PUT "$endpoint/$OBJECTSTORE_BUCKET" >/dev/null || die "cannot create bucket $OBJECTSTORE_BUCKET in MinIO"
    log "created bucket s3://$OBJECTSTORE_BUCKET"
  fi
}
