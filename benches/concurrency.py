#!/usr/bin/env python3
"""Records/s of the `github` example reading concurrently from `github_mock`, next to the ideal and,
interleaved in the same run, the Airbyte Python CDK reading the same mock at the same concurrency.

Starts `github_mock --latency-ms 50` (100 records per page, so one partition read at a time
gives at most 2,000 records/s: the ideal at concurrency c is c x 2,000 records/s) and, for each
concurrency c, reads only the `issues` stream (incremental, from no state) of `k x c` repositories
(`--repos-per-slot` k), sized so that a run takes about `--seconds` at the ideal rate. Runs are
interleaved: tidemark at c = 1, the CDK at c = 1, tidemark at c = 4, ... Records are counted from
stdout, and both programs must read every issue of the listed repositories. For each program:
records/s (records / wall time, start-up included), CPU% (user + sys / wall, threads included)
and peak RSS; medians over `--rounds`.

The CDK side is `benches/cdk_github/manifest.yaml`, a low-code manifest with `concurrency_level`
and a `ListPartitionRouter` over the repositories, run by the CDK's `source-declarative-manifest`
from a virtual environment made at `target/bench-venv` on first use (from
`benches/cdk_github/requirements.txt`; PyPI must be reachable then).

`--rss` measures instead the peak RSS of `github` at concurrency 64, latency 0, for about 1M and
10M records (64 repositories of N / 64 issues, so that only the number of records changes; more
with `--rss-repos`), with stdout read slowly (64 KiB pieces, throttled to `--rss-mbps`), each size
twice: under glibc's malloc as it comes, and with its per-thread cache off
(`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`; see BENCHMARKS.md for why). Peak RSS comes
from GNU time (`/usr/bin/time`) when it is installed, else from the last `VmHWM` seen in /proc: a
process started from Python is charged Python's pages by `ru_maxrss`.

`github` reads partitions at once only when its config schema has `concurrency` (`github spec`);
before that it reads them one by one, whatever c, and the table says so. Standard library only.

    python3 benches/concurrency.py                          # c = 1, 4, 16, 64; one round
    python3 benches/concurrency.py --rounds 3 --seconds 8
    python3 benches/concurrency.py --concurrency 1 4 --seconds 2 --no-cdk
    python3 benches/concurrency.py --rss                     # 1M and 10M records
    python3 benches/concurrency.py --rss --rss-records 100000 1000000
    python3 benches/concurrency.py --rss --rss-repos 640    # 10 times the repositories
    python3 benches/concurrency.py --baseline OTHER/github --latency-ms 0 --rounds 5

`--baseline BIN` compares `github` with another build of it (say, an earlier commit's, built
into another directory), run by run against the same mock, usually without latency: what the
client itself costs.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release" / "examples"
GITHUB = RELEASE / "github"
MOCK = RELEASE / "github_mock"
CATALOG = ROOT / "examples" / "github" / "catalog.json"
CDK_DIR = ROOT / "benches" / "cdk_github"
MANIFEST = CDK_DIR / "manifest.yaml"
REQUIREMENTS = CDK_DIR / "requirements.txt"
VENV = ROOT / "target" / "bench-venv"
GNU_TIME = Path("/usr/bin/time")
ORG = "acme"
TOKEN = "bench-token"
# The start of every RECORD line, as both tidemark and the CDK write it (`type` first).
RECORD_LINE = b'\n{"type":"RECORD"'


class BenchError(Exception):
    """A failure that ends the run with a message (and the mock stopped)."""


class Mock:
    """`github_mock` on a free port, stopped when the `with` block ends, however it ends."""

    def __init__(self, repos, issues_per_repo, latency_ms):
        self.args = [
            MOCK, "--port", "0", "--org", ORG, "--repos", str(repos),
            "--issues-per-repo", str(issues_per_repo), "--comments-per-issue", "0",
            "--events-per-repo", "0", "--latency-ms", str(latency_ms), "--token", TOKEN,
        ]
        self.process = None
        self.url = None

    def __enter__(self):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.process.stdout.readline().decode().strip()
        prefix = "listening on "
        if not line.startswith(prefix):
            self.__exit__(None, None, None)
            self.stderr.seek(0)
            raise BenchError(f"github_mock did not start: {line!r} {self.stderr.read().decode()}")
        self.url = line[len(prefix):]
        return self

    def __exit__(self, *_):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def requests(self):
        """API requests answered so far (`/_mock/stats`)."""
        with urllib.request.urlopen(f"{self.url}/_mock/stats", timeout=10) as answer:
            return json.load(answer)["requests"]


def repositories(count):
    return [f"{ORG}/repo-{n:04}" for n in range(1, count + 1)]


def github_has_concurrency():
    """Whether `github spec` lists `concurrency` in its connectionSpecification."""
    out = subprocess.run([GITHUB, "spec"], capture_output=True, check=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("type") == "SPEC":
            properties = message["spec"]["connectionSpecification"].get("properties", {})
            return "concurrency" in properties
    raise BenchError("`github spec` printed no SPEC message")


def issues_catalog(tmp):
    """A configured catalog with only `issues`, incremental, from examples/github/catalog.json."""
    catalog = json.loads(CATALOG.read_text())
    streams = [entry for entry in catalog["streams"] if entry["stream"]["name"] == "issues"]
    if len(streams) != 1:
        raise BenchError(f"{CATALOG} has no single `issues` stream")
    streams[0]["sync_mode"] = "incremental"
    path = Path(tmp) / "issues-catalog.json"
    path.write_text(json.dumps({"streams": streams}))
    return path


def cdk_catalog(tmp):
    path = Path(tmp) / "cdk-catalog.json"
    path.write_text(json.dumps({"streams": [{
        "stream": {
            "name": "issues",
            "json_schema": {"type": "object"},
            "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_cursor": True,
            "default_cursor_field": ["updated_at"],
            "source_defined_primary_key": [["id"]],
        },
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "cursor_field": ["updated_at"],
        "primary_key": [["id"]],
    }]}))
    return path


def config(tmp, name, url, repos, page_size, concurrency):
    """A config file; `concurrency` is left out when None (a `github` without it)."""
    body = {"api_url": url, "token": TOKEN, "repositories": repos, "page_size": page_size}
    if concurrency is not None:
        body["concurrency"] = concurrency
    path = Path(tmp) / f"{name}.json"
    path.write_text(json.dumps(body))
    return path


def venv_python():
    """A Python the CDK supports (3.10 to 3.14) for the virtual environment."""
    if (3, 10) <= sys.version_info[:2] <= (3, 14):
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11", "python3.10"):
        if found := shutil.which(name):
            return found
    raise BenchError("the Python CDK needs Python 3.10 to 3.14: none found")


def ensure_venv(venv):
    """`source-declarative-manifest` of the pinned CDK, installing it into `venv` if missing."""
    program = venv / "bin" / "source-declarative-manifest"
    if program.exists():
        return program
    print(f"making {venv} (airbyte-cdk from {REQUIREMENTS.relative_to(ROOT)})", file=sys.stderr)
    subprocess.run([venv_python(), "-m", "venv", venv], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS],
        check=True,
    )
    if not program.exists():
        raise BenchError(f"{program} is missing after installing {REQUIREMENTS}")
    return program


def environment(changes):
    """This process's environment with `changes` made: a value of None removes the variable."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def peak_hwm(pid, seen):
    """Polls /proc/PID/status for VmHWM (KiB) until the process is gone; the last value in seen[0]."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    seen[0] = max(seen[0], int(line.split()[1]))
        except (OSError, ValueError):
            return
        time.sleep(0.05)


class Run:
    """One whole-process run: records counted on stdout, wall seconds, CPU seconds, peak KiB."""

    def __init__(self, args, mbps=None, chunk=1 << 20, env=None):
        self.records = 0
        self.bytes = 0
        self.first = None  # seconds from the start to the first RECORD line
        rss_file = None
        if GNU_TIME.exists():
            rss_file = tempfile.NamedTemporaryFile(suffix=".rss", delete=False)
            rss_file.close()
            args = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *args]
        stderr = tempfile.TemporaryFile()
        start = time.perf_counter()
        # Its own process group: on Ctrl-C or an error the reader (and GNU time's child) is killed
        # here, never left running.
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
                                   env=None if env is None else environment(env))
        hwm = [0]
        if rss_file is None:
            threading.Thread(target=peak_hwm, args=(process.pid, hwm), daemon=True).start()
        reaped = False
        try:
            tail = b"\n"
            while piece := process.stdout.read1(chunk):
                self.bytes += len(piece)
                window = tail + piece
                self.records += window.count(RECORD_LINE)
                if self.first is None and self.records:
                    self.first = time.perf_counter() - start
                tail = window[-(len(RECORD_LINE) - 1):]
                if mbps:
                    # Sleep until the bytes read so far are within the rate.
                    ahead = self.bytes / (mbps * 1e6) - (time.perf_counter() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            _, status, usage = os.wait4(process.pid, 0)
            reaped = True
        finally:
            if not reaped:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            process.stdout.close()
            peak = Path(rss_file.name).read_text() if rss_file and reaped else None
            if rss_file:
                os.unlink(rss_file.name)
        self.wall = time.perf_counter() - start
        self.cpu = usage.ru_utime + usage.ru_stime
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code
        stderr.seek(0)
        if code != 0:
            message = stderr.read().decode(errors="replace")[-2000:]
            raise BenchError(f"{' '.join(map(str, args))} exited with {code}:\n{message}")
        if peak is not None:
            self.peak_kib = int(peak.split()[-1])
        else:
            self.peak_kib = hwm[0]

    @property
    def rate(self):
        return self.records / self.wall

    @property
    def cpu_percent(self):
        return 100 * self.cpu / self.wall


def throughput(options, tmp):
    latency = options.latency_ms
    if latency <= 0:
        raise BenchError("--latency-ms must be positive: the ideal is page_size / latency per partition")
    per_slot = options.page_size * 1000 / latency  # records/s of one partition at a time
    k = options.repos_per_slot
    pages = max(1, round(options.seconds * per_slot / k / options.page_size))
    per_repo = pages * options.page_size
    most = k * max(options.concurrency)
    if most * per_repo > 10_000_000:
        raise BenchError(f"{most} x {per_repo} issues is more than the mock's 10,000,000")
    concurrent = github_has_concurrency()
    catalog = issues_catalog(tmp)
    sdm = None if options.no_cdk else ensure_venv(options.venv)
    cdk_cat = cdk_catalog(tmp)
    print(
        f"github_mock: latency {latency} ms, {most} repositories x {per_repo} issues; "
        f"{k} x c repositories per run; page_size {options.page_size}; "
        f"github {'reads' if concurrent else 'has no `concurrency`: reads'} "
        f"{'c partitions at once' if concurrent else 'one partition at a time'}",
        file=sys.stderr,
    )
    results = {(c, name): [] for c in options.concurrency for name in ("tidemark", "cdk")}
    with Mock(most, per_repo, latency) as mock:
        for round_number in range(1, options.rounds + 1):
            for c in options.concurrency:
                repos = repositories(k * c)
                expected = len(repos) * per_repo
                programs = {
                    "tidemark": [GITHUB, "read", "--config",
                                 config(tmp, f"tidemark-{c}", mock.url, repos, options.page_size,
                                        c if concurrent else None),
                                 "--catalog", catalog],
                }
                if sdm:
                    programs["cdk"] = [sdm, "read", "--manifest-path", MANIFEST, "--config",
                                       config(tmp, f"cdk-{c}", mock.url, repos, options.page_size, c),
                                       "--catalog", cdk_cat]
                for name, args in programs.items():
                    before = mock.requests()
                    run = Run(args)
                    requests = mock.requests() - before
                    if run.records != expected:
                        raise BenchError(f"{name} at c={c} read {run.records} records, not {expected}")
                    results[(c, name)].append(run)
                    print(
                        f"round {round_number} c={c:<3} {name:<8} {run.records:>9} records "
                        f"{requests:>6} requests "
                        f"{run.wall:>7.2f} s {run.rate:>9,.0f}/s CPU {run.cpu_percent:>4.0f}% "
                        f"RSS {run.peak_kib / 1024:.1f} MiB, first record at {run.first:.2f} s",
                        file=sys.stderr,
                    )
    print()
    if not concurrent:
        print("`github` has no `concurrency` in its config yet: it read one partition at a time.\n")
    print("| concurrency | ideal rec/s | tidemark rec/s | / ideal | tidemark CPU% | tidemark RSS MiB "
          "| CDK rec/s | CDK CPU% | CDK RSS MiB | tidemark / CDK |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    median = lambda runs, what: statistics.median(getattr(run, what) for run in runs)
    all_runs = lambda name: [run for (_, who), runs in results.items() if who == name for run in runs]
    for c in options.concurrency:
        ideal = c * per_slot
        ours = results[(c, "tidemark")]
        rate = median(ours, "rate")
        row = [f"{c}", f"{ideal:,.0f}", f"{rate:,.0f}", f"{rate / ideal:.2f}",
               f"{median(ours, 'cpu_percent'):.0f}", f"{median(ours, 'peak_kib') / 1024:.1f}"]
        theirs = results[(c, "cdk")]
        if theirs:
            cdk_rate = median(theirs, "rate")
            row += [f"{cdk_rate:,.0f}", f"{median(theirs, 'cpu_percent'):.0f}",
                    f"{median(theirs, 'peak_kib') / 1024:.1f}", f"{rate / cdk_rate:.1f}x"]
        else:
            row += ["-"] * 4
        print("| " + " | ".join(row) + " |")
    print(f"\n{options.rounds} round(s), medians; {k} x c repositories of {per_repo} issues per run, "
          f"page_size {options.page_size}, latency {latency} ms. Wall time includes start-up: the "
          f"first record came after a median {median(all_runs('tidemark'), 'first'):.2f} s (tidemark)"
          + (f" and {median(all_runs('cdk'), 'first'):.2f} s (CDK)" if sdm else "") + ".")


# The allocator settings `--rss` measures `github` under: glibc's defaults (any GLIBC_TUNABLES
# of the caller's environment left out), and glibc with its per-thread cache off (a tunable
# read when the process starts, added to the caller's; other C libraries ignore the variable,
# and both rows then measure the same thing).
TCACHE_OFF = "glibc.malloc.tcache_count=0"
MALLOC_SETTINGS = [
    ("defaults", {"GLIBC_TUNABLES": None}),
    ("tcache off", {"GLIBC_TUNABLES": ":".join(filter(None, [os.environ.get("GLIBC_TUNABLES"),
                                                              TCACHE_OFF]))}),
]


def rss(options, tmp):
    """Peak RSS of `github` for each size: `--rss-repos` repositories (default: the concurrency) of
    size / repositories issues each, from a mock of that shape with no latency; each size under
    each of MALLOC_SETTINGS, one after the other."""
    c = options.rss_concurrency
    count = options.rss_repos or c
    shapes = [(n, max(1, n // count)) for n in options.rss_records]
    for n, per_repo in shapes:
        if count * per_repo > 10_000_000:
            raise BenchError(f"{count} x {per_repo} issues is more than the mock's 10,000,000")
    concurrent = github_has_concurrency()
    catalog = issues_catalog(tmp)
    if not concurrent:
        print("`github` has no `concurrency` in its config yet: it reads one partition at a time.",
              file=sys.stderr)
    print(f"{'records':>10} {'repositories':>12} {'malloc':>11} {'wall s':>8} {'records/s':>10} "
          f"{'MB/s':>6} {'peak RSS MiB':>13}")
    peaks = {name: [] for name, _ in MALLOC_SETTINGS}
    repos = repositories(count)
    for n, per_repo in shapes:
        with Mock(count, per_repo, 0) as mock:
            expected = count * per_repo
            args = [GITHUB, "read", "--config",
                    config(tmp, f"rss-{n}", mock.url, repos, options.page_size,
                           c if concurrent else None),
                    "--catalog", catalog]
            for name, env in MALLOC_SETTINGS:
                run = Run(args, mbps=options.rss_mbps, chunk=64 << 10, env=env)
                if run.records != expected:
                    raise BenchError(f"read {run.records} records, not {expected}")
                peaks[name].append(run.peak_kib / 1024)
                print(f"{run.records:>10} {count:>12} {name:>11} {run.wall:>8.1f} {run.rate:>10,.0f} "
                      f"{run.bytes / run.wall / 1e6:>6.1f} {run.peak_kib / 1024:>13.1f}", flush=True)
    print(f"\nconcurrency {c}, latency 0, stdout read in 64 KiB pieces at up to {options.rss_mbps} MB/s; "
          "goal: within 1 MiB, under 32 MiB")
    for name, env in MALLOC_SETTINGS:
        setting = " ".join(f"{key}={value}" for key, value in env.items() if value) or "glibc's defaults"
        print(f"peak RSS spread {max(peaks[name]) - min(peaks[name]):.1f} MiB, "
              f"highest {max(peaks[name]):.1f} MiB: {name} ({setting})")


def versus(options, tmp):
    """Records/s of `github` and of the `--baseline` build of it (another commit's), interleaved
    run by run against one mock with `--latency-ms` (0 by default here: the client's own cost, not
    the API's, is what is measured), `--versus-records` issues per run over k x c repositories."""
    latency = options.latency_ms
    k = options.repos_per_slot
    most = k * max(options.concurrency)
    catalog = issues_catalog(tmp)
    programs = {"github": GITHUB, "baseline": options.baseline}
    # The same repositories and issues for every c: the largest c's shape, read by k x c of them.
    per_repo = max(1, options.versus_records // most)
    print(f"github_mock: latency {latency} ms, {most} repositories x {per_repo} issues; "
          f"k x c repositories per run; baseline {options.baseline}", file=sys.stderr)
    results = {(c, name): [] for c in options.concurrency for name in programs}
    with Mock(most, per_repo, latency) as mock:
        for round_number in range(1, options.rounds + 1):
            for c in options.concurrency:
                repos = repositories(k * c)
                expected = len(repos) * per_repo
                path = config(tmp, f"versus-{c}", mock.url, repos, options.page_size, c)
                for name, binary in programs.items():
                    run = Run([binary, "read", "--config", path, "--catalog", catalog])
                    if run.records != expected:
                        raise BenchError(f"{name} at c={c} read {run.records} records, not {expected}")
                    results[(c, name)].append(run)
                    print(f"round {round_number} c={c:<3} {name:<8} {run.records:>9} records "
                          f"{run.wall:>7.2f} s {run.rate:>9,.0f}/s CPU {run.cpu_percent:>4.0f}% "
                          f"RSS {run.peak_kib / 1024:.1f} MiB", file=sys.stderr)
    print("| concurrency | github rec/s | CPU% | baseline rec/s | CPU% | github / baseline |")
    print("|---|---|---|---|---|---|")
    median = lambda runs, what: statistics.median(getattr(run, what) for run in runs)
    for c in options.concurrency:
        ours, theirs = results[(c, "github")], results[(c, "baseline")]
        rate, base = median(ours, "rate"), median(theirs, "rate")
        print(f"| {c} | {rate:,.0f} | {median(ours, 'cpu_percent'):.0f} | {base:,.0f} | "
              f"{median(theirs, 'cpu_percent'):.0f} | {rate / base:.2f} |")
    print(f"\n{options.rounds} round(s), medians, interleaved; {k} x c repositories of {per_repo} "
          f"issues per run, page_size {options.page_size}, latency {latency} ms.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=50, help="the mock's wait per request")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=6.0, help="a run's duration at the ideal rate")
    parser.add_argument("--repos-per-slot", type=int, default=2,
                        help="k: a run at concurrency c reads k x c repositories")
    parser.add_argument("--no-cdk", action="store_true", help="tidemark only")
    parser.add_argument("--venv", type=Path, default=VENV, help="the Python CDK's virtual environment")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    parser.add_argument("--rss", action="store_true", help="peak RSS with a slow reader instead")
    parser.add_argument("--rss-records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--rss-concurrency", type=int, default=64)
    parser.add_argument("--rss-repos", type=int, default=None,
                        help="repositories of each --rss size (default: --rss-concurrency)")
    parser.add_argument("--rss-mbps", type=float, default=25.0, help="the slow reader's MB/s")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another build of `github`: compare the two, interleaved, instead")
    parser.add_argument("--versus-records", type=int, default=400_000,
                        help="issues per --baseline run")
    options = parser.parse_args()
    if min(options.concurrency) < 1 or options.rounds < 1 or options.repos_per_slot < 1:
        parser.error("--concurrency, --rounds and --repos-per-slot must be at least 1")
    if options.rss_concurrency < 1 or (options.rss_repos is not None and options.rss_repos < 1):
        parser.error("--rss-concurrency and --rss-repos must be at least 1")
    if not 1 <= options.page_size <= 100:
        parser.error("--page-size must be 1 to 100")

    # SIGTERM ends the run as Ctrl-C does: through the `finally`s that stop the mock and the reader.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not options.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--example", "github", "--example", "github_mock"],
            cwd=ROOT, check=True,
        )
    for binary in (GITHUB, MOCK):
        if not binary.exists():
            sys.exit(f"{binary} is missing: cargo build --release --example github --example github_mock")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if options.baseline:
                versus(options, tmp)
            else:
                (rss if options.rss else throughput)(options, tmp)
    except BenchError as error:
        sys.exit(f"concurrency.py: {error}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
