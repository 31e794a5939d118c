"""Where a flanmix build spends its time: cProfile of one in-process build of the speed corpus.

Usage: python benchmarks/profile_build.py [--rows 100000] [--top 25] [--out prof.pstats]

Generates the benchmarks/corpus.py corpus, builds it with `flanmix.build.build(...,
runner="direct", workers=1)` under cProfile (the in-memory FnApiRunner executes bundles in the
calling thread, so the DoFns are profiled too), and prints the top functions by cumulative and
by own time, each with its share of the whole build.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import generate


def top(stats: pstats.Stats, key: str, n: int, total: float) -> str:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats(key).print_stats(n)
    lines = [f"top {n} by {key} (share of {total:.1f} s):"]
    rows = stats.stats  # type: ignore[attr-defined]
    order = sorted(rows.items(), key=lambda kv: -(kv[1][3] if key == "cumulative" else kv[1][2]))
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in order[:n]:
        where = f"{Path(file).name}:{line}" if line else file
        value = cumtime if key == "cumulative" else tottime
        lines.append(f"{value / total:6.1%} {value:8.2f} s {ncalls:>10,} calls  {func} ({where})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="also keep the raw pstats file here")
    args = parser.parse_args()

    from flanmix.build import build
    from flanmix.spec.load import load_mixture

    with tempfile.TemporaryDirectory(prefix="flanmix-profile-") as tmp:
        mixture = load_mixture(str(generate(Path(tmp) / "corpus", args.rows)))
        profiler = cProfile.Profile()
        profiler.enable()
        build(mixture, Path(tmp) / "out", runner="direct", workers=1)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    if args.out:
        stats.dump_stats(args.out)
    print(top(stats, "cumulative", args.top, total))
    print()
    print(top(stats, "tottime", args.top, total))


if __name__ == "__main__":
    main()
