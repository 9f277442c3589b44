#!/usr/bin/env bash
# `make image`: build docker/Dockerfile into ibpilot:sim (GATEWAY=sim) with Docker, buildah or podman.
#
#   scripts/build-image.sh                 build (and tag IMAGE_TAG, default ibpilot:$GATEWAY)
#   scripts/build-image.sh --check         only the sandbox checks: a builder, the base image, a RUN step
#
# Docker (when its engine answers) builds the Dockerfile as it is, on debian:bookworm-slim. Without Docker,
# buildah (or podman) builds it with chroot isolation on a Debian bookworm base made here with mmdebstrap
# from the Debian mirror this machine's apt uses (read from /etc/apt/sources.list* at run time), imported
# once as $BASE_IMAGE (default localhost/ibpilot-debian:bookworm-slim) and kept: delete it
# (`buildah rmi localhost/ibpilot-debian:bookworm-slim`) or set REBUILD_BASE=1 to make it again.
#
# Settings (environment): GATEWAY (sim|real), IMAGE_TAG, IMAGE_BUILDER (auto|docker|buildah|podman),
# BASE_IMAGE, REBUILD_BASE=1, CONTAINERS_CONF (default: a file here with `default_ulimits = []`, since a
# sandbox may refuse setrlimit).
#
# Exit codes: 0 built; 1 the build failed; 3 this machine cannot build images (the step and its error are
# printed on the line starting `image: refused:`), e.g. no builder installed or the sandbox refused a step.
set -euo pipefail
cd "$(dirname "$0")/.."

GATEWAY=${GATEWAY:-sim}
IMAGE_TAG=${IMAGE_TAG:-ibpilot:${GATEWAY}}
IMAGE_BUILDER=${IMAGE_BUILDER:-auto}
CACHE=${IBPILOT_IMAGE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ibpilot-image}
SUITE=bookworm
check_only=no
[ "${1:-}" = "--check" ] && check_only=yes

say() { echo "image: $*" >&2; }
refused() {  # refused STEP LOGFILE|TEXT: this machine cannot do STEP; exit 3 with the error's last lines
    local step=$1 detail=$2
    [ -f "$detail" ] && detail=$(grep -v '^time=' "$detail" | tail -n 3 | tr '\n' ' ')
    echo "image: refused: ${step}: ${detail}" >&2
    exit 3
}

# --- which builder -----------------------------------------------------------------------------------
builder=""
case "$IMAGE_BUILDER" in
  auto)
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
    elif command -v buildah >/dev/null; then builder=buildah
    elif command -v podman >/dev/null; then builder=podman
    fi ;;
  docker) if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker; fi ;;
  buildah|podman) command -v "$IMAGE_BUILDER" >/dev/null && builder=$IMAGE_BUILDER ;;
  *) echo "IMAGE_BUILDER=$IMAGE_BUILDER: expected auto, docker, buildah or podman" >&2; exit 2 ;;
esac
if [ -z "$builder" ] && [ "$IMAGE_BUILDER" != auto ]; then
  refused "find a builder" "IMAGE_BUILDER=$IMAGE_BUILDER is not installed (or, for docker, its engine does not answer)"
fi
[ -n "$builder" ] || refused "find a builder" \
  "none of docker (with a running engine), buildah, podman on PATH (scripts/install-system-deps.sh --image installs buildah and podman)"
say "builder: $builder"

if [ "$builder" = docker ]; then
  [ "$check_only" = yes ] && exit 0
  args=(--build-arg "GATEWAY=$GATEWAY")
  [ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  exec docker build -f docker/Dockerfile "${args[@]}" -t "$IMAGE_TAG" .
fi

# --- buildah / podman: chroot isolation, a local Debian base -------------------------------------------
mkdir -p "$CACHE"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  printf '[containers]\n# the sandbox may refuse setrlimit: set no ulimits in containers\ndefault_ulimits = []\n' \
    > "$CACHE/containers.conf"
  export CONTAINERS_CONF="$CACHE/containers.conf"
fi
BASE_IMAGE=${BASE_IMAGE:-localhost/ibpilot-debian:${SUITE}-slim}
image_exists() {
  if [ "$builder" = buildah ]; then buildah inspect --type image "$1" >/dev/null 2>&1
  else podman image exists "$1" >/dev/null 2>&1; fi
}

# The Debian sources this machine's apt uses, for the suite, as one-line entries (read at run time).
debian_sources() {
  python3 - "$SUITE" <<'EOF'
import glob, re, sys
suite = sys.argv[1]
keep = {suite, f"{suite}-updates", f"{suite}-security"}
out = []
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for path in files:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for ln in lines:
        m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", ln)
        if m and m.group(3) in keep and "main" in m.group(4).split():
            out.append(f"deb {m.group(1) or ''}{m.group(2)} {m.group(3)} main")
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields, key = {}, None
        for ln in stanza.splitlines():
            if ln.startswith("#"):
                continue
            if ln[:1].isspace() and key:
                fields[key] += " " + ln.strip()
            elif ":" in ln:
                key, _, val = ln.partition(":")
                key = key.strip().lower()
                fields[key] = val.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        if "main" not in fields.get("components", "").split():
            continue
        opts = f"[signed-by={fields['signed-by']}] " if fields.get("signed-by", "").startswith("/") else ""
        for uri in fields.get("uris", "").split():
            for s in fields.get("suites", "").split():
                if s in keep:
                    out.append(f"deb {opts}{uri} {s} main")
print("\n".join(dict.fromkeys(out)))
EOF
}

if [ "${REBUILD_BASE:-0}" = 1 ] || ! image_exists "$BASE_IMAGE"; then
  command -v mmdebstrap >/dev/null || refused "make the Debian base" "mmdebstrap is not installed (scripts/install-system-deps.sh --image)"
  sources="$CACHE/sources.list"
  debian_sources > "$sources"
  [ -s "$sources" ] || refused "make the Debian base" "no Debian $SUITE source with 'main' in /etc/apt/sources.list*"
  say "making the $SUITE base image $BASE_IMAGE with mmdebstrap (minbase, slim paths) ..."
  rm -f "$CACHE/base.tar"
  # Like Debian's -slim images: no man pages, docs or translations.
  if ! mmdebstrap --variant=minbase --format=tar \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        "$SUITE" "$CACHE/base.tar" "$sources" > "$CACHE/mmdebstrap.log" 2>&1; then
    refused "mmdebstrap $SUITE" "$CACHE/mmdebstrap.log"
  fi
  if [ "$builder" = buildah ]; then
    # buildah has no import: a scratch container with the tree added, committed as the base.
    ctr=$(buildah from scratch 2>"$CACHE/import.log") || refused "buildah from scratch" "$CACHE/import.log"
    { buildah add "$ctr" "$CACHE/base.tar" / \
      && buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr" \
      && buildah commit --rm "$ctr" "$BASE_IMAGE"; } >"$CACHE/import.log" 2>&1 \
      || refused "import the base into buildah" "$CACHE/import.log"
  else
    podman import --change 'CMD ["/bin/bash"]' "$CACHE/base.tar" "$BASE_IMAGE" >"$CACHE/import.log" 2>&1 \
      || refused "podman import the base" "$CACHE/import.log"
  fi
  rm -f "$CACHE/base.tar"
  say "base image $BASE_IMAGE ready"
fi

bud=(bud --isolation chroot)
[ "$builder" = podman ] && bud=(build --isolation chroot)

# Can this sandbox run a RUN step at all? (a one-line build on the base, not tagged)
probe="$CACHE/probe"
mkdir -p "$probe"
printf 'FROM %s\nRUN true\n' "$BASE_IMAGE" > "$probe/Containerfile"
if ! "$builder" "${bud[@]}" --no-cache --force-rm -t localhost/ibpilot-probe:latest -f "$probe/Containerfile" "$probe" \
    > "$CACHE/probe.log" 2>&1; then
  refused "$builder ${bud[*]} (a RUN step)" "$CACHE/probe.log"
fi
"$builder" rmi localhost/ibpilot-probe:latest >/dev/null 2>&1 || true
[ "$check_only" = yes ] && { say "checks passed"; exit 0; }

# pip inside the build trusts the same certificate authorities as this machine (a TLS-inspecting egress
# proxy's CA, if any): they are bind-mounted for the RUN steps only, never copied into a layer.
pipconf="$CACHE/pip"
mkdir -p "$pipconf"
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$pipconf/ca.crt" 2>/dev/null || true
if [ -s "$pipconf/ca.crt" ]; then
  printf '[global]\ncert = /etc/xdg/pip/ca.crt\n' > "$pipconf/pip.conf"
else
  : > "$pipconf/pip.conf"
fi

# buildah/podman do not resolve `FROM gateway-${GATEWAY}` to a stage: build that stage as the target (the
# Dockerfile keeps every run-time setting in `base`, so it is the same image). The docker format keeps the
# HEALTHCHECK (OCI image configs have no place for it).
say "building $IMAGE_TAG (GATEWAY=$GATEWAY) on $BASE_IMAGE ..."
start=$(date +%s)
log="$CACHE/build.log"
set +e
"$builder" "${bud[@]}" --layers --force-rm --format docker --target "gateway-$GATEWAY" \
  --build-arg "GATEWAY=$GATEWAY" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -v "$pipconf:/etc/xdg/pip:ro" \
  -f docker/Dockerfile -t "$IMAGE_TAG" . 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { say "the build failed (exit $rc); its output is in $log"; exit 1; }
say "built $IMAGE_TAG in $(( $(date +%s) - start )) s"
# Keep the layer cache of this build only: untagged images it did not use (older builds' steps, the image
# this one replaced) go, so the storage does not grow with every change. `buildah rmi --prune` drops all.
used=$(grep -oE '^--> (Using cache )?[0-9a-f]{11,64}' "$log" | grep -oE '[0-9a-f]{11,64}$' || true)
for id in $("$builder" images -q --no-trunc --filter dangling=true 2>/dev/null); do
  keep=no
  for u in $used; do case "$id" in *"$u"*) keep=yes ;; esac; done
  [ "$keep" = yes ] || "$builder" rmi "$id" >/dev/null 2>&1 || true
done
