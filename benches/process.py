#!/usr/bin/env python3
"""Whole-process benchmark of the `orders` example's `read`.

For each N and each output mode (/dev/null, a pipe this script drains), runs the release binary
several times and reports the medians of wall time, records/s, bytes/s and peak RSS, plus the
median wall time of `spec`. Standard library only.

    cargo build --release --example orders
    python3 benches/process.py                      # N = 200,000 and 1,000,000, 7 runs each
    python3 benches/process.py --n 10000000 --runs 3
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
BINARY = ROOT / "target" / "release" / "examples" / "orders"
CATALOG = ROOT / "examples" / "orders" / "catalog.json"


GNU_TIME = Path("/usr/bin/time")


def run(args, to_pipe):
    """(wall seconds, peak RSS in KiB, bytes written) of one run.

    Peak RSS comes from GNU time (`%M`) when it is installed: a process forked from Python is
    charged Python's pages until it execs, which would hide a small connector's own peak.
    """
    rss_file = None
    if GNU_TIME.exists():
        rss_file = tempfile.NamedTemporaryFile(suffix=".rss", delete=False)
        rss_file.close()
        args = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *args]
    start = time.perf_counter()
    if to_pipe:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        written = 0
        while chunk := proc.stdout.read(1 << 16):
            written += len(chunk)
        proc.stdout.close()
    else:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        written = None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(map(str, args))} failed with status {status}")
    peak = usage.ru_maxrss
    if rss_file:
        peak = int(Path(rss_file.name).read_text().split()[-1])
        os.unlink(rss_file.name)
    return wall, peak, written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--binary", type=Path, default=BINARY)
    options = parser.parse_args()
    if not options.binary.exists():
        sys.exit(f"{options.binary} is missing: cargo build --release --example orders")

    print(f"{'N':>10} {'output':>9} {'wall s':>8} {'records/s':>12} {'MB/s':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in options.n:
            config = Path(tmp) / f"config-{n}.json"
            config.write_text(json.dumps({"count": n}))
            args = [options.binary, "read", "--config", config, "--catalog", CATALOG]
            size = run(args, True)[2]
            for mode in ("/dev/null", "pipe"):
                for _ in range(options.warmup):
                    run(args, mode == "pipe")
                walls, peaks = [], []
                for _ in range(options.runs):
                    wall, peak, _ = run(args, mode == "pipe")
                    walls.append(wall)
                    peaks.append(peak)
                wall = statistics.median(walls)
                print(
                    f"{n:>10} {mode:>9} {wall:>8.3f} {n / wall:>12,.0f} {size / wall / 1e6:>8.1f} "
                    f"{statistics.median(peaks) / 1024:>13.1f}"
                )
        spec = [run([options.binary, "spec"], False)[0] for _ in range(max(options.runs, 15))]
        print(f"spec: median {statistics.median(spec) * 1000:.1f} ms over {len(spec)} runs")


if __name__ == "__main__":
    main()
