"""Runs the sqlite_orders image through PyAirbyte's docker executor, as an Airbyte user would.

spec, check, discover, then two incremental reads into a local DuckDB cache: the first reads the
whole demo database, the second (after a day of business in the database) only what changed,
resumed from the state PyAirbyte kept in its cache. Exits 1 naming the first count that differs
from what is expected, and fails if PyAirbyte tried to open any network connection.

Called by run.sh, which sets the environment: the docker socket, PyAirbyte's offline mode and
its project, temp, log and cache directories.
"""

import time

BEGAN = time.monotonic()

import argparse
import re
import socket
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

# Every host name PyAirbyte looks up and every network connection it opens is refused and
# remembered, so a run proves it works offline (a refused registry lookup or telemetry call could
# otherwise pass unnoticed). Unix sockets are left alone; the docker CLI, a child process, is not
# affected either way.
NETWORK_ATTEMPTS = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def refuse_lookup(host, *args, **kwargs):
    NETWORK_ATTEMPTS.append(f"lookup of {host}")
    raise socket.gaierror(socket.EAI_NONAME, f"no network here (looked up {host})")


def refuse_connection(sock, address, connect):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        NETWORK_ATTEMPTS.append(f"connection to {address}")
        raise ConnectionRefusedError(f"no network here (connected to {address})")
    return connect(sock, address)


socket.getaddrinfo = refuse_lookup
socket.socket.connect = lambda sock, address: refuse_connection(sock, address, _connect)
socket.socket.connect_ex = lambda sock, address: refuse_connection(sock, address, _connect_ex)

# Google's client libraries (for PyAirbyte's cloud caches) warn about the Python version.
warnings.filterwarnings("ignore", category=FutureWarning)

import airbyte as ab  # after the guard above, so it covers import time too
from sqlalchemy import func, select

NAME = "source-sqlite-shop"
STREAMS = ("orders", "customers")
# What sqlite_demo creates (examples/sqlite_orders/demo.rs).
FIRST_READ = {"orders": 20_000, "customers": 2_500}


class Failure(Exception):
    """A check that did not hold; the message says which and how."""


def step(name, started):
    print(f"docker:   {name}: {time.monotonic() - started:.1f}s", flush=True)


def expect(what, got, expected):
    if got != expected:
        raise Failure(f"{what}: got {got}, expected {expected}")


def rows(cache, since=None):
    """Rows of each stream in the cache; with `since`, only those extracted since then."""
    counts = {}
    with cache.get_sql_engine().connect() as conn:
        for stream in STREAMS:
            table = cache[stream].to_sql_table()
            query = select(func.count()).select_from(table)
            if since is not None:
                query = query.where(table.c._airbyte_extracted_at >= since)
            counts[stream] = conn.execute(query).scalar_one()
    return counts


def saved_state(cache):
    """The state PyAirbyte keeps in its cache for each stream (None if it has none)."""
    provider = cache.get_state_provider(NAME)
    states = {}
    for stream in STREAMS:
        message = provider.get_stream_state(stream, not_found=None)
        states[stream] = message and message.stream.stream_state.model_dump()
    return states


def sync(args):
    step("start Python, import PyAirbyte", BEGAN)

    # PyAirbyte's docker executor mounts <project dir>/<connector name> at /local (and its temp
    # directory, where it writes the config, catalog and state files, at /airbyte/tmp): the
    # database goes in the former, and the config names it by its path inside the container.
    db = args.mounted / "shop.db"
    db.unlink(missing_ok=True)
    subprocess.run([args.demo, db], check=True, capture_output=True)

    started = time.monotonic()
    source = ab.get_source(NAME, docker_image=args.image, config={"path": "/local/shop.db"})
    expect("spec: config properties", sorted(source.config_spec.get("properties", {})), ["path"])
    step("spec", started)

    started = time.monotonic()
    source.check()
    step("check", started)

    started = time.monotonic()
    expect("discover: streams", sorted(source.get_available_streams()), sorted(STREAMS))
    step("discover", started)

    source.select_all_streams()
    cache = ab.new_local_cache("sqlite_shop", cache_dir=args.cache)

    started = time.monotonic()
    first = source.read(cache=cache)
    expect("first read: records", first.processed_records, sum(FIRST_READ.values()))
    expect("first read: rows per stream in the cache", rows(cache), FIRST_READ)
    kept = saved_state(cache)
    # Customers are synced by id, and the demo's ids run from 1.
    expect("first read: state kept for customers", kept["customers"],
           {"id": FIRST_READ["customers"]})
    if not kept["orders"]:
        raise Failure("first read: PyAirbyte kept no state for orders")
    step(f"read from scratch ({first.processed_records} records; state kept: {kept})", started)

    # A day of business: COUNT shipped orders delivered and COUNT new orders, each by a new
    # customer, all stamped one second ago. The demo says what it changed; the second read must
    # return exactly that, resumed from the state PyAirbyte kept.
    said = subprocess.run(
        [args.demo, db, "--business", str(args.business)],
        check=True, capture_output=True, text=True,
    ).stderr.strip()
    match = re.match(r"(\d+) orders changed and (\d+) new orders", said)
    if not match:
        raise Failure(f"sqlite_demo said {said!r}, not how many orders it changed")
    changed, new = int(match[1]), int(match[2])

    started = time.monotonic()
    # The cache keeps extraction times as UTC without a zone; compare like with like.
    since = datetime.now(timezone.utc).replace(tzinfo=None)
    second = source.read(cache=cache)
    changes = {"orders": changed + new, "customers": new}
    expect("second read: records", second.processed_records, sum(changes.values()))
    expect("second read: records per stream", rows(cache, since), changes)
    # Merged by primary key: a changed order replaces its row.
    totals = {"orders": FIRST_READ["orders"] + new, "customers": FIRST_READ["customers"] + new}
    expect("second read: rows per stream in the cache", rows(cache), totals)
    moved = saved_state(cache)
    expect("second read: state kept for customers", moved["customers"],
           {"id": FIRST_READ["customers"] + new})
    if not moved["orders"] or moved["orders"] == kept["orders"]:
        raise Failure(f"second read: the state of orders did not move from {kept['orders']}")
    step(f"incremental read ({second.processed_records} records; the demo: {said}; "
         f"state kept: {moved})", started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the connector image, name:tag")
    parser.add_argument("--demo", required=True, type=Path, help="the sqlite_demo binary")
    parser.add_argument("--mounted", required=True, type=Path,
                        help="the directory PyAirbyte mounts at /local in the container")
    parser.add_argument("--cache", required=True, type=Path, help="the DuckDB cache directory")
    parser.add_argument("--business", type=int, default=25, help="changes between the reads")
    args = parser.parse_args()
    try:
        sync(args)
    except Failure as failure:
        sys.exit(f"docker: {failure}")
    finally:
        if NETWORK_ATTEMPTS:
            print(f"docker: PyAirbyte tried to reach the network: {', '.join(NETWORK_ATTEMPTS)}",
                  file=sys.stderr)
    if NETWORK_ATTEMPTS:
        sys.exit(1)


if __name__ == "__main__":
    main()
