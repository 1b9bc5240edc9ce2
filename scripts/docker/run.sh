#!/usr/bin/env bash
# Builds the sqlite_orders example's connector image and runs it the way Airbyte runs one:
# through PyAirbyte's docker executor (spec, check, discover, a read from scratch and an
# incremental read after the database changed). Needs root (apt, dockerd) and Debian's package
# mirror; reaches no image registry and gives containers no network.
#
# Usage: run.sh [--profile release|dev]. The image holds the release build, as users build it,
# unless `--profile dev` says to use the dev build (say, one that is already there).
#
# What it keeps: under target/docker/ the docker daemon's data root (delete the directory to
# start over), the logs and the PyAirbyte run's files. Downloads that do not depend on the
# checkout are cached for the machine, as cargo caches crates, in $TIDEMARK_CACHE_DIR (default
# ~/.cache/tidemark): the debootstrap tarball of the base image and the Python virtual
# environment of the pinned PyAirbyte (about 180 packages: minutes to install). The docker
# daemon it starts is its own and is stopped on exit.
set -euo pipefail

AIRBYTE_PIN="0.71.3"
profile=release
case "${1:-} ${2:-}" in
    " ") ;;
    "--profile release" | "--profile dev") profile="$2" ;;
    *) echo "usage: $0 [--profile release|dev]" >&2 && exit 2 ;;
esac
# Cargo's directory for the profile.
built="target/$([ "$profile" = dev ] && echo debug || echo release)/examples"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/target/docker"
cache="${TIDEMARK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark}"
venv="$cache/docker-venv-airbyte-$AIRBYTE_PIN"
example="$root/examples/sqlite_orders"
started_all=$EPOCHREALTIME

fail() {
    echo "docker: $*" >&2
    exit 1
}

# Runs a command and prints its wall time under the given name.
step() {
    local name="$1" started=$EPOCHREALTIME
    shift
    "$@"
    echo "docker: $name: $(elapsed "$started")s"
}

elapsed() {
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

[ "$(id -u)" -eq 0 ] || fail "needs root: it installs packages and runs dockerd"
mkdir -p "$out" "$cache"
cd "$root"

# 1. Debian's Docker engine and debootstrap, when missing.
install_packages() {
    local wanted=()
    command -v dockerd >/dev/null && command -v docker >/dev/null || wanted+=(docker.io)
    command -v debootstrap >/dev/null || wanted+=(debootstrap)
    [ ${#wanted[@]} -gt 0 ] || return 0
    # The package's maintainer scripts would start a system dockerd with its default bridge
    # network and iptables rules; a policy-rc.d that says "no" keeps them from starting anything.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    local status=0
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${wanted[@]}" >"$out/apt.log" 2>&1 || {
        # The package lists may be missing or stale on a fresh machine.
        apt-get update -q >>"$out/apt.log" 2>&1 &&
            apt-get install -y -q --no-install-recommends "${wanted[@]}" >>"$out/apt.log" 2>&1
    } || status=$?
    [ -z "$made_policy" ] || rm -f "$policy"
    if [ "$status" -ne 0 ]; then
        tail -n 20 "$out/apt.log" >&2
        fail "apt-get install ${wanted[*]} failed (log: $out/apt.log)"
    fi
}
step "install docker.io and debootstrap (when missing)" install_packages

# 2. A docker daemon of our own, so a daemon already running on this machine is neither used nor
# disturbed (nor its images retagged by the import below): its own socket, exec root and pidfile
# in a fresh temporary directory, its own containerd namespaces, and its own data root under
# target/ (kept between runs: it holds the imported base image, and deleting an unpacked Debian
# takes longer than everything else here). No bridge, no iptables rules, no IP forwarding:
# containers get only a loopback interface, and the host's network settings stay as they were.
# It is stopped on exit, however the script ends.
exec 9>"$out/lock"
flock --nonblock 9 || fail "another run of this script is using $out"
daemon="$(mktemp -d "${TMPDIR:-/tmp}/tidemark-docker.XXXXXX")"
data_root="$out/daemon"
rootfs="$out/rootfs"
dockerd_pid=""
export DOCKER_HOST="unix://$daemon/docker.sock"

# Mounts a killed daemon left under a directory, deepest first.
unmount_under() {
    awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mount; do umount -l "$mount" || true; done
}

stop_daemon() {
    local status=$? started=$EPOCHREALTIME
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill -TERM "$dockerd_pid"
        for _ in $(seq 100); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            kill -KILL "$dockerd_pid" || true
        fi
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    # dockerd stops the containerd it started; should it have been killed, stop that one too.
    local containerd_pid
    containerd_pid="$(cat "$daemon/exec/containerd/containerd.pid" 2>/dev/null || true)"
    if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
        kill -TERM "$containerd_pid" || true
        sleep 1
    fi
    unmount_under "$daemon"
    unmount_under "$data_root"
    unmount_under "$rootfs"
    rm -rf --one-file-system "$daemon"
    [ -z "$dockerd_pid" ] || echo "docker: stop dockerd: $(elapsed "$started")s"
    exit "$status"
}
trap stop_daemon EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_daemon() {
    dockerd \
        --host "$DOCKER_HOST" \
        --data-root "$data_root" \
        --exec-root "$daemon/exec" \
        --pidfile "$daemon/dockerd.pid" \
        --containerd-namespace tidemark-ci \
        --containerd-plugins-namespace tidemark-ci-plugins \
        --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
        >>"$out/dockerd.log" 2>&1 9>&- &
    dockerd_pid=$!
    for _ in $(seq 150); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.2
    done
    return 1
}
: >"$out/dockerd.log"
start_or_retry() {
    start_daemon && return 0
    # A data root left unusable (say, by a machine that went down mid-run) is only a cache.
    echo "docker: dockerd did not start; starting again on an empty data root" >&2
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill -TERM "$dockerd_pid" || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    unmount_under "$data_root"
    rm -rf --one-file-system "$data_root"
    start_daemon && return 0
    tail -n 20 "$out/dockerd.log" >&2
    fail "dockerd did not answer on $DOCKER_HOST (log: $out/dockerd.log)"
}
step "start dockerd" start_or_retry

# 3. The base image, from Debian's packages: no image registry is reachable here. Imported under
# the tag the Dockerfile's runtime stage names, so the image is built from the same FROM line.
base="$(awk '/^FROM / { image = $2 } END { print image }' "$example/Dockerfile")"
case "$base" in
    debian:bookworm*) suite=bookworm ;;
    *) fail "$example/Dockerfile runs on $base; this script makes only debian:bookworm" ;;
esac
tarball="$cache/$suite-minbase.tar"

debootstrap_base() {
    # The mirror apt already uses (the only one this machine may reach).
    local mirror
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's placeholder, not the shell's
    mirror="$(apt-get indextargets --format '$(REPO_URI)' "Codename: $suite" 'Origin: Debian' \
        'Identifier: Packages' | head -n 1)"
    mirror="${mirror:-http://deb.debian.org/debian/}"
    # --one-file-system, and unmounting first: an interrupted debootstrap leaves /proc and /sys
    # mounted inside the tree.
    unmount_under "$rootfs"
    rm -rf --one-file-system "$rootfs" "$tarball.part"
    debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 || {
        tail -n 20 "$out/debootstrap.log" >&2
        fail "debootstrap $suite from $mirror failed (log: $out/debootstrap.log)"
    }
    # The downloaded packages and package lists are of no use in the image.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf --one-file-system "$rootfs"
}
if [ ! -s "$tarball" ]; then
    step "debootstrap $suite (minbase; cached in $tarball)" debootstrap_base
fi
import_base() {
    docker import "$tarball" "$base" >/dev/null
}
# The daemon's data root keeps the image from the last run; imported again when the tarball is
# newer.
imported="$(docker image inspect --format '{{.Created}}' "$base" 2>/dev/null || true)"
if [ -z "$imported" ] || [ "$(date -d "$imported" +%s)" -lt "$(stat -c %Y "$tarball")" ]; then
    step "docker import $base" import_base
fi

# 4. The connector image, from the binary built here: Dockerfile.prebuilt is the runtime stage of
# the published Dockerfile (whose build stage needs a rust image this machine cannot pull).
# The two must say the same thing besides where the binary comes from.
runtime_stage() {
    awk '/^FROM / { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' "$1" |
        grep -v -e '^#' -e '^COPY ' -e '^$'
}
diff <(runtime_stage "$example/Dockerfile") <(runtime_stage "$example/Dockerfile.prebuilt") >&2 ||
    fail "the runtime stages of Dockerfile and Dockerfile.prebuilt differ (above)"

step "cargo build --profile $profile (sqlite_orders, sqlite_demo)" \
    cargo build --quiet --profile "$profile" --example sqlite_orders --example sqlite_demo

version="$(sed -n 's/^LABEL io.airbyte.version="\(.*\)"$/\1/p' "$example/Dockerfile")"
image="source-sqlite-shop:$version"
build_image() {
    local context="$out/context"
    rm -rf "$context" && mkdir -p "$context"
    cp "$root/$built/sqlite_orders" "$context/"
    docker build --quiet -f "$example/Dockerfile.prebuilt" -t "$image" "$context" \
        >"$out/build.log" 2>&1 || {
        cat "$out/build.log" >&2
        fail "docker build of $image failed"
    }
    # The binary was linked on this host; it must run on the base image's glibc.
    docker run --rm "$image" --version >/dev/null 2>"$out/version.log" || {
        cat "$out/version.log" >&2
        fail "$image does not run the connector built on this host (glibc too new?)"
    }
    # Images the tag moved away from, so the data root does not grow run after run.
    docker image prune --force >/dev/null
}
step "docker build $image" build_image

# 5. PyAirbyte, pinned, in its own virtual environment.
make_venv() {
    local python
    python="$(command -v python3.11 || command -v python3)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "airbyte==$AIRBYTE_PIN" \
        >"$out/pip.log" 2>&1 || {
        tail -n 20 "$out/pip.log" >&2
        fail "pip install airbyte==$AIRBYTE_PIN failed (log: $out/pip.log)"
    }
}
pinned="import sys; from importlib.metadata import version as v
sys.exit(v('airbyte') != '$AIRBYTE_PIN')"
if ! "$venv/bin/python" -c "$pinned" 2>/dev/null; then
    step "python venv with airbyte==$AIRBYTE_PIN" make_venv
fi

# 6. The image through PyAirbyte. Offline: no connector registry lookups and no telemetry
# (AIRBYTE_OFFLINE_MODE implies DO_NOT_TRACK; both are set to say so); sync.py also refuses and
# reports any host name lookup or network connection. PyAirbyte's project directory (the docker
# executor mounts <project>/source-sqlite-shop at /local), temp directory (config, catalog and
# state files, mounted at /airbyte/tmp), logs and cache all under target/.
work="$out/pyairbyte"
rm -rf "$work" && mkdir -p "$work/project/source-sqlite-shop" "$work/tmp" "$work/logs"
echo "docker: PyAirbyte $AIRBYTE_PIN, docker executor, image $image ($profile build)"
run_pyairbyte() {
    env AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1 NO_LIVE_PROGRESS=1 \
        AIRBYTE_PROJECT_DIR="$work/project" AIRBYTE_TEMP_DIR="$work/tmp" \
        AIRBYTE_LOGGING_ROOT="$work/logs" AIRBYTE_CACHE_ROOT="$work/cache" \
        "$venv/bin/python" "$root/scripts/docker/sync.py" \
        --image "$image" --demo "$root/$built/sqlite_demo" \
        --mounted "$work/project/source-sqlite-shop" --cache "$work/cache" ||
        fail "the run through PyAirbyte failed (above; logs under $work/logs)"
}
step "PyAirbyte, all steps" run_pyairbyte

echo "docker: ok in $(elapsed "$started_all")s"
