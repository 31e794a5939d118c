"""How long `flanmix plan` takes on the Flan 2022 mixtures, from a counts file (no data).

    python benchmarks/plan_speed.py [--repeat 5]

flan2022-upstream plans Flan's own table (../shared/data/flan_v2/mixture_rates.csv); flan2022
(per-task NIv2) plans the same table with a synthetic count for each of its 699 NIv2 tasks.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from flanmix.plan.counts import leaf_counts, read_counts
from flanmix.plan.plan import make_plan
from flanmix.spec.load import load_mixture

ORACLE = Path(__file__).resolve().parents[2] / "shared/data/flan_v2/mixture_rates.csv"


def counts_for(mixture: str, folder: Path) -> Path:
    if mixture == "flan2022-upstream":
        return ORACLE
    path = folder / "counts.csv"
    with open(ORACLE, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["submix"] != "niv2_submix"]
    niv2 = sorted(
        t
        for t, c in ((n, t.collection) for n, t in load_mixture(mixture).tasks.items())
        if c == "niv2"
    )
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["base_task", "template_type", "template_kind", "num_cases"])
        writer.writerows(
            [r["base_task"], r["template_type"], r["template_kind"], r["num_cases"]] for r in rows
        )
        for i, task in enumerate(niv2):
            for tt, kind in (
                ("zs_opt", "zero_shot"),
                ("fs_opt", "five_shot"),
                ("fs_opt", "x_shot"),
            ):
                writer.writerow([task, tt, kind, 100 + i])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| mixture | leaves | load (s) | counts + plan (s) |")
    print("| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("flan2022-upstream", "flan2022"):
            counts = counts_for(name, Path(tmp))
            loads, plans = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                m = load_mixture(name)
                t1 = time.perf_counter()
                plan = make_plan(m, leaf_counts(m, read_counts(counts), str(counts)))
                plans.append(time.perf_counter() - t1)
                loads.append(t1 - t0)
            print(f"| {name} | {len(plan.leaves):,} | {min(loads):.3f} | {min(plans):.3f} |")


if __name__ == "__main__":
    main()
