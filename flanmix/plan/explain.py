"""`flanmix plan` output: every leaf's numbers, totals by collection, template type and task,
and what one `first_exhausted` epoch comes to."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from typing import Any

from flanmix.plan.plan import LeafPlan, Plan
from flanmix.spec.load import parse_leaf_type

GROUPS = ("task_source", "collection", "template_type", "task")


def group_key(lp: LeafPlan, by: str) -> str:
    if by == "template_type":  # fs_opt and its x-shot leaf are one template type
        return parse_leaf_type(lp.template_type)[0]
    return str(getattr(lp, by))


def totals(plan: Plan, by: str) -> list[dict[str, Any]]:
    """Leaves, rows, requested and realised share per group, largest share first."""
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"leaves": 0, "n": 0, "share": 0.0, "quota": 0}
    )
    for lp in plan.leaves:
        g = acc[group_key(lp, by)]
        g["leaves"] += 1
        g["n"] += lp.available
        g["share"] += lp.share
        g["quota"] += lp.quota
    total = plan.total
    out = [
        {by: name, **g, "realised_share": g["quota"] / total if total else 0.0}
        for name, g in acc.items()
    ]
    return sorted(out, key=lambda g: (-g["share"], g[by]))


def epoch_note(plan: Plan) -> str:
    done = plan.exhausted()
    if plan.epoch != "first_exhausted" or not done:
        return f"epoch {plan.epoch}: {plan.total:,} rows"
    names = ", ".join(f"{lp.leaf} ({lp.available:,} rows)" for lp in done[:3])
    more = f" and {len(done) - 3} more" if len(done) > 3 else ""
    return f"one first_exhausted epoch: {plan.total:,} rows; exhausted first: {names}{more}"


def format_plan(plan: Plan, fmt: str, group_by: str | None = None) -> str:
    rows = totals(plan, group_by) if group_by else plan.rows()
    if fmt == "json":
        return json.dumps(
            {
                "mixture": plan.mixture,
                "seed": plan.seed,
                "epoch": plan.epoch,
                "total": plan.total,
                "exhausted": [lp.leaf for lp in plan.exhausted()],
                "totals": {by: totals(plan, by) for by in GROUPS if by != "task"},
                ("groups" if group_by else "leaves"): rows,
            },
            indent=2,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    title = f"mixture {plan.mixture}  seed {plan.seed}  epoch {plan.epoch}  rows {plan.total:,}"
    if group_by:
        body = _table(_group_table(rows, group_by), right_from=1)
        return "\n".join([title, body, epoch_note(plan)])
    parts = [title, _table(_leaf_table(plan), right_from=3)]
    for by in ("task_source", "collection", "template_type"):
        parts += ["", _table(_group_table(totals(plan, by), by), right_from=1)]
    return "\n".join([*parts, "", epoch_note(plan)])


def _leaf_table(plan: Plan) -> list[tuple[str, ...]]:
    header = ("collection", "task", "type", "n", "cap", "rate", "share", "quota", "realised")
    body = [
        (
            str(r["collection"]),
            str(r["task"]),
            str(r["leaf_type"]),
            f"{r['n']:,}",
            "-" if r["cap"] is None else f"{r['cap']:,}",
            f"{r['rate']:.4g}",
            f"{r['share']:.4%}",
            f"{r['quota']:,}",
            f"{r['realised_share']:.4%}",
        )
        for r in plan.rows()
    ]
    n = sum(lp.available for lp in plan.leaves)
    footer = ("total", "", "", f"{n:,}", "", "", "100%", f"{plan.total:,}", "100%")
    return [header, *body, footer]


def _group_table(groups: list[dict[str, Any]], by: str) -> list[tuple[str, ...]]:
    header = (by, "leaves", "n", "share", "quota", "realised")
    return [
        header,
        *(
            (
                str(g[by]),
                f"{g['leaves']:,}",
                f"{g['n']:,}",
                f"{g['share']:.4%}",
                f"{g['quota']:,}",
                f"{g['realised_share']:.4%}",
            )
            for g in groups
        ),
    ]


def _table(rows: list[tuple[str, ...]], right_from: int) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        cells = (
            c.rjust(w) if i >= right_from else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *map(line, rows[1:])])
