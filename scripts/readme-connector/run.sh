#!/usr/bin/env bash
# Builds the README's "A complete connector" as a user would: a fresh crate outside the workspace
# made of the README's blocks as written (its [dependencies], src/main.rs and config.json), with
# the `tidemark-cdk` dependency pointed at this checkout. Then runs spec, check, discover and read
# and checks that stdout is Airbyte protocol messages. Only the download cache and the crate's own
# target directory (target/readme-connector/target) outlive a run; its Cargo.lock does not.
# Needs python3 (3.11+, standard library).
set -euo pipefail

started=$SECONDS
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/scripts/readme-connector"
work="$root/target/readme-connector"
crate="$work/crate"
out="$work/out"
export CARGO_TARGET_DIR="$work/target"

rm -rf "$crate" "$out"
mkdir -p "$crate" "$out"
python3 "$here/readme.py" crate "$root/README.md" "$root/runtime" "$crate"

cargo build --quiet --manifest-path "$crate/Cargo.toml"
connector="$CARGO_TARGET_DIR/debug/readme-connector"

# Runs the connector; it must exit 0 and print protocol messages that pass the command's check.
run() {
    local name="$1"
    shift
    if ! "$connector" "$@" >"$out/$name.jsonl" 2>"$out/$name.stderr"; then
        echo "readme-connector: \`$*\` failed:" >&2
        cat "$out/$name.stderr" >&2
        exit 1
    fi
    python3 "$here/readme.py" check "$name" "$out/$name.jsonl"
}

run spec spec
run check check --config "$crate/config.json"
run discover discover --config "$crate/config.json"
python3 "$here/readme.py" catalog "$out/discover.jsonl" >"$out/catalog.json"
run read read --config "$crate/config.json" --catalog "$out/catalog.json"

echo "readme-connector: the README's connector built and ran spec, check, discover and read in $((SECONDS - started)) s" >&2
