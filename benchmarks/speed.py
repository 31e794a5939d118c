"""Speed and memory of `flanmix build` against a hand-written pipeline and Hugging Face datasets.

Usage: python benchmarks/speed.py --rows 100000 1000000 [10000000] [--workers 1 2]
       [--format parquet|jsonl] [--mem-limit-gb 18] [--timeout S] [--flanmix-rev HEAD]
       [--json results.json]

For each size, benchmarks/corpus.py writes a synthetic Flan-like corpus (50 tasks, half
few-shot, ~67% of the rows kept), then each pipeline builds it in a fresh subprocess:
flanmix (`flanmix.build.build(..., runner="direct", workers=W)` for each W), the hand-written
pyarrow + jinja2 + multiprocessing baseline and the `datasets` baseline (benchmarks/baselines.py).
Measured per run: wall time (process start to exit, imports included), rows written (from the
Parquet footers), rows/s, the peak RSS of the largest process (`wait4`'s ru_maxrss, which covers
every descendant the child waited for) and the peak of the summed RSS of the whole process tree
(sampled every 0.2 s from /proc; a page shared after fork counts in every process), and the CPU
that other processes on the machine used meanwhile ("other load", in cores). A run whose
tree grows past --mem-limit-gb, or runs past --timeout, is killed and reported as such.
Outputs and corpora are deleted (--keep keeps them). Prints Markdown tables (see README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    rows_in: int
    pipeline: str  # flanmix | handwritten | datasets
    workers: int
    seconds: float
    rows: int
    max_rss_mb: float  # the largest single process
    tree_rss_mb: float  # the whole process tree, summed (sampled)
    status: str  # ok | failed (exit code N) | killed (memory) | killed (time)
    attempts: int = 1
    earlier: list[str] = field(default_factory=list)  # outcomes of retried attempts
    other_load: float = 0.0  # cores used by processes outside the run, meanwhile

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.ok and self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _tree_rss(root: int) -> int:
    total = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all processes, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(
    cmd: list[str], log: Path, env: dict[str, str], mem_limit: float, timeout: float
) -> tuple[float, float, float, str, float]:
    """Run `cmd` in its own session; return (seconds, max RSS MB, tree RSS MB, status, other
    load): other load is the CPU (in cores) that processes outside the run used meanwhile."""
    peak = 0
    status = "ok"
    with open(log, "w") as out:
        busy = busy_cpu_seconds()
        start = time.perf_counter()
        # Run in the scratch folder: Beam starts its workers with `python -m`, which puts the
        # current folder first on sys.path, so from a checkout they would import its flanmix
        # instead of the one PYTHONPATH pins.
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=log.parent,
        )
        done = threading.Event()

        def watch() -> None:
            nonlocal peak, status
            while not done.wait(0.2):
                rss = _tree_rss(proc.pid)
                peak = max(peak, rss)
                over_time = time.perf_counter() - start > timeout
                if rss > mem_limit or over_time:
                    status = "killed (time)" if over_time else "killed (memory)"
                    os.killpg(proc.pid, signal.SIGKILL)  # the session we started for it
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, wait_status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
    own = usage.ru_utime + usage.ru_stime
    other = max(0.0, busy_cpu_seconds() - busy - own) / seconds
    if status == "ok" and proc.returncode:
        status = f"failed (exit code {proc.returncode})"
    return seconds, usage.ru_maxrss / 1024, peak / 2**20, status, other


def rows_written(out: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(out.glob("data/*.parquet")))


def commands(
    mixture: Path, out: Path, args: argparse.Namespace
) -> list[tuple[str, int, list[str]]]:
    py = sys.executable
    runs = []
    if "flanmix" in args.pipelines:
        for w in args.workers:
            runs.append(
                (
                    "flanmix",
                    w,
                    [py, str(HERE / "speed.py"), "_flanmix", str(mixture), str(out), str(w)],
                )
            )
    base = [py, str(HERE / "baselines.py")]
    if "handwritten" in args.pipelines:
        runs.append(
            (
                "handwritten",
                args.procs,
                [
                    *base,
                    "handwritten",
                    "--mixture",
                    str(mixture),
                    "--out",
                    str(out),
                    "--procs",
                    str(args.procs),
                ],
            )
        )
    if "datasets" in args.pipelines:
        runs.append(
            (
                "datasets",
                args.procs,
                [
                    *base,
                    "datasets",
                    "--mixture",
                    str(mixture),
                    "--out",
                    str(out),
                    "--num-proc",
                    str(args.procs),
                    "--cache",
                    f"{out}_hf",
                ],
            )
        )
    return runs


def bench_size(rows: int, work: Path, args: argparse.Namespace, env: dict[str, str]) -> list[Run]:
    corpus = work / f"corpus-{rows}"
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "corpus.py"),
            "--rows",
            str(rows),
            "--out",
            str(corpus),
            "--seed",
            str(args.seed),
            "--format",
            args.format,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    info = json.loads((corpus / "corpus.json").read_text())
    print(
        f"corpus {rows:,} rows: {time.perf_counter() - start:.1f} s, cap {info['cap']:,}, "
        f"{info['kept_planned']:,} rows planned",
        file=sys.stderr,
    )
    results = []
    for pipeline, workers, cmd in commands(corpus / "mixture.yaml", work / "out", args):
        out = work / "out"
        attempts = 0
        earlier: list[str] = []
        while True:
            attempts += 1
            log = work / f"{pipeline}-{workers}-{rows}-{attempts}.log"
            seconds, max_rss, tree_rss, status, other = measure(
                cmd, log, env, args.mem_limit_gb * 2**30, args.timeout
            )
            n = rows_written(out) if status == "ok" else 0
            for path in (out, Path(f"{out}_hf")):
                shutil.rmtree(path, ignore_errors=True)
            retry = status.startswith("failed") and attempts <= args.retries
            if status != "ok":
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                print(
                    f"{pipeline} w{workers} {rows:,}: {status}; {' | '.join(tail)}", file=sys.stderr
                )
            if not retry:
                break
            error = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            text = error[0][:160].replace("|", "/")
            earlier.append(f"{status} after {seconds:.0f} s: {text}")
        run = Run(
            rows, pipeline, workers, seconds, n, max_rss, tree_rss, status, attempts, earlier, other
        )
        print(
            f"{pipeline} w{workers} {rows:,}: {run.seconds:.1f} s, {run.rows:,} rows, "
            f"{run.max_rss_mb:,.0f} / {run.tree_rss_mb:,.0f} MB, {run.status}",
            file=sys.stderr,
        )
        results.append(run)
    if not args.keep:
        shutil.rmtree(corpus, ignore_errors=True)
    return results


def table(runs: list[Run]) -> str:
    lines = [
        "| source rows | pipeline | workers | rows written | seconds | rows/s "
        "| peak RSS, largest process (MB) | peak RSS, all processes (MB) | other load (cores) "
        "| status |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r.rows_in:,} | {r.pipeline} | {r.workers} | {r.rows:,} | {r.seconds:.1f} | "
            f"{r.rows_per_s:,.0f} | {r.max_rss_mb:,.0f} | {r.tree_rss_mb:,.0f} | "
            f"{r.other_load:.2f} | {r.status}"
            + "".join(f"; attempt {i}: {e}" for i, e in enumerate(r.earlier, 1))
            + " |"
        )
    return "\n".join(lines)


def ratios(runs: list[Run]) -> str:
    """Throughput ratios (rows/s) of flanmix's best worker count to each baseline."""
    lines = [
        "| source rows | flanmix (best) rows/s | hand-written rows/s | datasets rows/s "
        "| flanmix / hand-written | flanmix / datasets |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sorted({r.rows_in for r in runs}):
        best: dict[str, float] = {}
        for r in runs:
            if r.rows_in == n and r.ok:
                best[r.pipeline] = max(best.get(r.pipeline, 0.0), r.rows_per_s)
        fm, hw, hf = (best.get(p, 0.0) for p in ("flanmix", "handwritten", "datasets"))

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.2f}×" if a and b else "n/a"

        lines.append(
            f"| {n:,} | {fm:,.0f} | {hw:,.0f} | {hf:,.0f} | {ratio(fm, hw)} | {ratio(fm, hf)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    import apache_beam
    import datasets
    import pyarrow

    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"Beam {apache_beam.__version__}, pyarrow {pyarrow.__version__}, "
        f"datasets {datasets.__version__}"
    )


def pinned_checkout(rev: str, dest: Path) -> str:
    """Export flanmix at `rev` (git archive; the repository is only read) into `dest`, so the
    runs measure that commit even while the working tree changes."""
    repo = HERE.parent
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return f"commit {commit}"


def flanmix_child(mixture: str, out: str, workers: int) -> None:
    """The flanmix run itself, as a library call (a fresh process per measurement)."""
    from flanmix.build import build
    from flanmix.spec.load import load_mixture

    start = time.perf_counter()
    result = build(load_mixture(mixture), Path(out), runner="direct", workers=workers)
    rows = result.stats["written_rows"]
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - start, 3)}))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "_flanmix":
        flanmix_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--procs", type=int, default=2, help="baselines' processes")
    parser.add_argument(
        "--pipelines",
        nargs="+",
        default=["flanmix", "handwritten", "datasets"],
        choices=["flanmix", "handwritten", "datasets"],
    )
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mem-limit-gb", type=float, default=18.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--retries", type=int, default=1, help="re-runs of a failed run")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep corpora and logs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--flanmix-rev", help="measure flanmix (and plan the baselines) at this git commit"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flanmix-speed-", dir=args.work))
    env = {
        **os.environ,
        "HF_HOME": str(work / "hf_home"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TMPDIR": str(work / "tmp"),  # Beam's and datasets' temporary files go with the rest
    }
    (work / "tmp").mkdir()
    code = "the working tree"
    if args.flanmix_rev:
        code = pinned_checkout(args.flanmix_rev, work / "flanmix-src")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(work / "flanmix-src"), env.get("PYTHONPATH", "")) if p
        )
    print(f"{machine()}; flanmix: {code}", file=sys.stderr)
    runs: list[Run] = []
    try:
        for n in args.rows:
            runs.extend(bench_size(n, work, args, env))
            print(table(runs), file=sys.stderr)
    finally:
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)
    print(f"Machine: {machine()}; flanmix: {code}\n")
    print(table(runs))
    print()
    print(ratios(runs))


if __name__ == "__main__":
    main()
