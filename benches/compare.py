#!/usr/bin/env python3
"""Side by side, in one sitting and interleaved: the `orders` example, `raw_limit` (plain
serde_json writing the same bytes) and, when its virtual environment exists, the Python CDK
source, all from ../shared/bench (or $TIDEMARK_SHARED/bench). Checks first that they emit the
same record data (compare_records.py), then prints median wall times and paired ratios.
Standard library only.

    cargo build --release --example orders
    python3 benches/compare.py                            # N = 1,000,000, 7 rounds
    python3 benches/compare.py --n 200000 --cdk-python /tmp/peer-venv/bin/python
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's shared directory: `../shared` beside the checkout, or the one TIDEMARK_SHARED names.
SHARED = Path(os.environ["TIDEMARK_SHARED"]) if "TIDEMARK_SHARED" in os.environ else ROOT.parent / "shared"
BENCH = SHARED / "bench"
ORDERS = ROOT / "target" / "release" / "examples" / "orders"
CATALOG = ROOT / "examples" / "orders" / "catalog.json"
RAW_TARGET = ROOT / "target" / "raw-limit"


def programs(n, tmp, cdk_python):
    config = Path(tmp) / f"config-{n}.json"
    config.write_text(json.dumps({"count": n}))
    found = {
        "tidemark": [ORDERS, "read", "--config", config, "--catalog", CATALOG],
        "raw_limit": [RAW_TARGET / "release" / "raw_limit", str(n)],
    }
    if cdk_python:
        found["python_cdk"] = [
            cdk_python, BENCH / "python_cdk_source.py", "read",
            "--config", config, "--catalog", BENCH / "cdk_configured_catalog.json",
        ]
    return found


def wall(args):
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    default_cdk = Path("/tmp/peer-venv/bin/python")
    parser.add_argument("--cdk-python", type=Path, default=default_cdk if default_cdk.exists() else None)
    parser.add_argument("--cdk-n", type=int, default=None, help="N for the CDK (default: --n)")
    options = parser.parse_args()
    if not ORDERS.exists():
        sys.exit(f"{ORDERS} is missing: cargo build --release --example orders")
    if not BENCH.exists():
        sys.exit(
            f"{BENCH.resolve()} is missing: the bench files are read from the shared directory's "
            "bench/ (`../shared` beside the checkout, or the directory TIDEMARK_SHARED names)"
        )
    subprocess.run(
        ["cargo", "build", "--release", "--quiet"],
        cwd=BENCH / "raw_limit", env={**os.environ, "CARGO_TARGET_DIR": str(RAW_TARGET)}, check=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        # Same record data at N = 1000.
        outputs = {}
        for name, args in programs(1000, tmp, options.cdk_python).items():
            path = Path(tmp) / f"{name}.jsonl"
            with open(path, "w") as out:
                subprocess.run(args, stdout=out, stderr=subprocess.DEVNULL, check=True)
            outputs[name] = path
        for other in (name for name in outputs if name != "tidemark"):
            check = subprocess.run(
                [sys.executable, BENCH / "compare_records.py", outputs["tidemark"], outputs[other]],
                capture_output=True, text=True,
            )
            lines = check.stdout.strip().splitlines()
            verdict = next((line for line in lines if line.startswith(("SAME", "DIFFERENT"))), None)
            print(f"records, N=1000, tidemark vs {other}: {verdict or check.stdout + check.stderr}")
            if check.returncode != 0:
                sys.exit(f"record data differs from {other}")

        times = {}
        sizes = {}
        for name in programs(options.n, tmp, options.cdk_python):
            times[name] = []
            sizes[name] = options.cdk_n if name == "python_cdk" and options.cdk_n else options.n
        for _ in range(options.rounds):
            for name in times:
                args = programs(sizes[name], tmp, options.cdk_python)[name]
                times[name].append(wall(args))

    print(f"\n{'program':>12} {'N':>10} {'median s':>9} {'records/s':>12}")
    for name, walls in times.items():
        median = statistics.median(walls)
        print(f"{name:>12} {sizes[name]:>10} {median:>9.3f} {sizes[name] / median:>12,.0f}")
    pairs = [r / t for r, t in zip(times["raw_limit"], times["tidemark"])]
    print(f"\ntidemark records/s / raw_limit records/s: median {statistics.median(pairs):.2f} "
          f"(paired by round, range {min(pairs):.2f}-{max(pairs):.2f})")
    if "python_cdk" in times:
        rate = lambda name: sizes[name] / statistics.median(times[name])
        print(f"tidemark records/s / Python CDK records/s: {rate('tidemark') / rate('python_cdk'):.0f}x")


if __name__ == "__main__":
    main()
