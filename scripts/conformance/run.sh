#!/usr/bin/env bash
# Checks every message the examples print (orders: spec, check ok and failed, discover, read from
# scratch, resumed and failing; sqlite_orders: the same on a demo database, with its LOG and
# ESTIMATE messages) against the published pydantic protocol models, pinned below.
# Creates its Python virtual environment under target/ on first use.
set -euo pipefail

PIN="0.18.0"
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/conformance-venv"
out="$root/target/conformance"
python="$venv/bin/python"

if ! "$python" -c "import airbyte_protocol, sys; from importlib.metadata import version; sys.exit(version('airbyte-protocol-models-pdv2') != '$PIN')" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "airbyte-protocol-models-pdv2==$PIN"
fi

cd "$root"
cargo build --quiet --example orders --example sqlite_orders --example sqlite_demo
orders="$root/target/debug/examples/orders"
examples="$root/examples/orders"
rm -rf "$out" && mkdir -p "$out"

# Runs a connector, keeping stdout; the exit status must be the one given.
run() {
    run_connector "$orders" "$@"
}

run_connector() {
    local connector="$1" expected="$2" name="$3"
    shift 3
    local status=0
    "$connector" "$@" >"$out/$name.jsonl" 2>"$out/$name.stderr" || status=$?
    if [ "$status" -ne "$expected" ]; then
        echo "conformance: \`$(basename "$connector") $*\` exited $status, expected $expected" >&2
        cat "$out/$name.stderr" >&2
        exit 1
    fi
}

echo '{"count": "many"}' >"$out/bad-config.json"
echo '{"count": 3000}' >"$out/config.json"
echo '[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"updated_at": "not a time"}}}]' >"$out/bad-state.json"

run 0 spec spec
run 0 check check --config "$examples/config.json"
run 0 check-failed check --config "$out/bad-config.json"
run 0 discover discover --config "$examples/config.json"
run 0 read read --config "$out/config.json" --catalog "$examples/catalog.json"
grep -m1 '"type":"STATE"' "$out/read.jsonl" >"$out/state.json"
run 0 read-resumed read --config "$out/config.json" --catalog "$examples/catalog.json" --state "$out/state.json"
run 1 read-bad-config read --config "$out/bad-config.json" --catalog "$examples/catalog.json"
sed 's/"orders"/"refunds"/' "$examples/catalog.json" >"$out/unknown-stream-catalog.json"
run 1 read-unknown-stream read --config "$out/config.json" --catalog "$out/unknown-stream-catalog.json"
run 1 read-bad-state read --config "$out/config.json" --catalog "$examples/catalog.json" --state "$out/bad-state.json"

# The SQLite connector on a fresh demo database, then after a day of business.
shop="$root/target/debug/examples/sqlite_orders"
sqlite="$root/examples/sqlite_orders"
"$root/target/debug/examples/sqlite_demo" "$out/shop.db" 2>/dev/null
echo "{\"path\": \"$out/shop.db\"}" >"$out/shop-config.json"
run_connector "$shop" 0 shop-spec spec
run_connector "$shop" 0 shop-check check --config "$out/shop-config.json"
run_connector "$shop" 0 shop-discover discover --config "$out/shop-config.json"
run_connector "$shop" 0 shop-read read --config "$out/shop-config.json" --catalog "$sqlite/catalog.json"
grep '"type":"STATE"' "$out/shop-read.jsonl" >"$out/shop-state.json"
"$root/target/debug/examples/sqlite_demo" "$out/shop.db" --business 10 2>/dev/null
run_connector "$shop" 0 shop-read-resumed read --config "$out/shop-config.json" --catalog "$sqlite/catalog.json" --state "$out/shop-state.json"
echo '{"path": "/nonexistent/shop.db"}' >"$out/shop-missing.json"
run_connector "$shop" 0 shop-check-failed check --config "$out/shop-missing.json"
run_connector "$shop" 1 shop-read-failed read --config "$out/shop-missing.json" --catalog "$sqlite/catalog.json"

# The validator must reject a malformed message, or passing proves nothing.
echo '{"type": "RECORD", "record": {"stream": "orders", "data": {}}}' >"$out/malformed.jsonl"
echo '{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}}, "sourcestats": {}}}' >"$out/unknown-field.jsonl"
for bad in malformed unknown-field; do
    if "$python" "$root/scripts/conformance/validate.py" "$out/$bad.jsonl" 2>/dev/null; then
        echo "conformance: the validator accepted $out/$bad.jsonl" >&2
        exit 1
    fi
done

"$python" "$root/scripts/conformance/validate.py" \
    "$out/spec.jsonl" "$out/check.jsonl" "$out/check-failed.jsonl" "$out/discover.jsonl" \
    "$out/read.jsonl" "$out/read-resumed.jsonl" "$out/read-bad-config.jsonl" \
    "$out/read-unknown-stream.jsonl" "$out/read-bad-state.jsonl" \
    "$out"/shop-*.jsonl
