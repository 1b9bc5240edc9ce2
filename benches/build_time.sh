#!/usr/bin/env bash
# The first build of a new connector: the README's "A complete connector", with the
# dependencies the README names, built cold in release (fresh target directory, download cache
# warm). Prints the crates compiled and the CPU seconds (user + sys) of the build.
#
# usage: benches/build_time.sh [RUNTIME_DIR]
#   RUNTIME_DIR: the tidemark runtime crate to build against (default: this checkout's), e.g.
#   an older revision unpacked with `git archive REV | tar -x -C /tmp/rev`.
# Needs GNU time (/usr/bin/time). Keeps the build directory and prints its path, for
# `cargo build --release --timings` there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runtime="$(cd "${1:-$root/runtime}" && pwd)"
dir="$(mktemp -d /tmp/tidemark-build-time.XXXXXX)"
mkdir "$dir/src"
cat > "$dir/Cargo.toml" <<EOF
[package]
name = "readme-connector"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
tidemark = { path = "$runtime" }
serde = { version = "1", features = ["derive"] }
schemars = "1"
chrono = "0.4"
EOF
# The README's complete connector: the first rust block after its heading.
awk '/^## A complete connector/ { found = 1 } found' "$root/README.md" |
    awk '/^```rust/ { inside = 1; next } /^```/ { if (inside) exit } inside' > "$dir/src/main.rs"
# The dependency versions that runtime's workspace is tested with.
if [ -f "$runtime/../Cargo.lock" ]; then cp "$runtime/../Cargo.lock" "$dir/"; fi
cd "$dir"
cargo fetch --quiet
/usr/bin/time -f '%U %S %e' -o time.txt cargo build --release 2> build.log
read -r user sys wall < time.txt
echo "built in $dir"
echo "crates compiled: $(grep -c ' Compiling ' build.log)"
awk -v u="$user" -v s="$sys" -v w="$wall" \
    'BEGIN { printf "CPU: %.1f s (user %s, sys %s); wall: %s s\n", u + s, u, s, w }'
