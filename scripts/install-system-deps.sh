#!/usr/bin/env bash
# Installs the Debian packages ibpilot needs, idempotently. Used by CI, by `make`, and by the Dockerfile.
#   scripts/install-system-deps.sh            runtime + build + test packages
#   scripts/install-system-deps.sh --runtime  only what a running container needs
#   scripts/install-system-deps.sh --image    what `make image` and tests/system/test_image.py need (no Docker)
set -euo pipefail
mode=${1:-all}
runtime=(
  openjdk-17-jre         # runs the Gateway/TWS JVM (and the simulated Gateway)
  xvfb x11-utils         # virtual display (+ xdpyinfo to check it is up)
  x11vnc novnc python3-websockify  # VNC and the browser view
  socat                  # API port forwarding
  openssh-client         # reverse SSH tunnels
  tini procps ca-certificates
  python3 python3-venv   # ibpilot itself (Debian 12: Python 3.11)
)
build=(openjdk-17-jdk-headless)
test=(
  openssh-server         # real sshd on loopback for the tunnel tests
  chromium               # noVNC screenshot test
  x11-apps imagemagick   # xwd screenshots of the virtual display
  iproute2
)
image=(
  buildah podman runc    # build docker/Dockerfile and run the image without a Docker engine
  mmdebstrap uidmap fuse-overlayfs  # the local Debian base image; rootless storage
)
case "$mode" in
  --runtime) pkgs=("${runtime[@]}") ;;
  --build) pkgs=("${runtime[@]}" "${build[@]}") ;;
  --image) pkgs=("${image[@]}") ;;
  all|--all) pkgs=("${runtime[@]}" "${build[@]}" "${test[@]}" "${image[@]}") ;;
  *) echo "usage: $0 [--runtime|--build|--image|--all]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all ${#pkgs[@]} packages present"; exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Slim Debian images drop /usr/share/man; openjdk's postinst still links a man page into man1.
$SUDO mkdir -p /usr/share/man/man1
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
