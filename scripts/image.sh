#!/usr/bin/env bash
# Build the mediator's container image with buildah (mediator/deploy/Dockerfile), then run it
# once: the image must start, answer /livez and /readyz, and serve its invitation.
#
# With a registry reachable the whole Dockerfile is built. Without one (these machines reach
# package registries only), the build stage runs on the host instead (the same
# build-static.sh) and buildah builds the Dockerfile's own final stage from that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
command -v buildah >/dev/null || { need_root apt-get update -qq && need_root apt-get install -y -qq buildah; }
command -v musl-gcc >/dev/null || { need_root apt-get update -qq && need_root apt-get install -y -qq musl-tools; }

image=localhost/didcomm-edge-mediator:$(./scripts/version.sh 2>/dev/null || echo dev)
bah() { buildah --storage-driver vfs "$@"; }
rust_image=$(sed -n 's/^ARG RUST_IMAGE=//p' mediator/deploy/Dockerfile)
if timeout 60 buildah --storage-driver vfs pull -q "$rust_image" >/dev/null 2>&1; then
    bah bud -f mediator/deploy/Dockerfile -t "$image" .
else
    echo "image: $rust_image cannot be pulled here; building the static binary on the host"
    context=target/image-context
    rm -rf "$context" && mkdir -p "$context/out/data"
    mediator/deploy/build-static.sh "$context/out"
    cp LICENSE NOTICE "$context/out/"
    # The Dockerfile from its final `FROM scratch` on, reading /out from the context.
    sed -n '/^FROM scratch/,$p' mediator/deploy/Dockerfile \
        | sed 's#COPY --from=build #COPY #; /^COPY/s# /out/# out/#g' \
        > "$context/Containerfile"
    grep -q 'from=build' "$context/Containerfile" && { echo "unrewritten COPY --from" >&2; exit 1; }
    bah bud -f "$context/Containerfile" -t "$image" "$context"
fi
echo "image: built $image ($(bah images --format '{{.Size}}' "$image"))"

# Smoke run: chroot isolation shares the host's network, so the listeners go on loopback.
port=$((20000 + RANDOM % 20000)); admin=$((port + 1))
container=$(bah from "$image")
# The run gets a session of its own, so that stopping it stops the mediator inside as well.
trap 'kill -TERM -- "-${run_pid:-0}" 2>/dev/null || true; sleep 1; bah rm "$container" >/dev/null 2>&1 || true' EXIT
bah config --env MEDIATOR_LISTEN="127.0.0.1:$port" --env MEDIATOR_ADMIN_LISTEN="127.0.0.1:$admin" "$container"
setsid buildah --storage-driver vfs run --isolation chroot "$container" -- \
    /usr/local/bin/didcomm-edge-mediator --database-url memory \
    > target/image-run.log 2>&1 &
run_pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$admin/livez" >/dev/null
curl -fsS "http://127.0.0.1:$admin/readyz"; echo
curl -fsS "http://127.0.0.1:$port/oob" | grep -q 'did:peer:2' \
    || { echo "the image served no invitation"; cat target/image-run.log; exit 1; }
echo "image: $image starts, is ready and serves its invitation"
