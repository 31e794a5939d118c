"""Counts from a file, so a mixture can be planned before anything is downloaded.

Accepted CSV layouts (by header):
- per task: `task,n`;
- per leaf: `task,leaf_type,n` (leaf types as `flanmix plan` prints them, e.g. `fs_opt+x_shot`;
  an empty leaf_type gives the task's count);
- Flan's own table, as in `mixture_rates.csv`: `base_task,template_type,template_kind,num_cases`
  (template_kind zero_shot / five_shot / x_shot; `t0_task_adaptation:` prefixes are dropped).
A leaf takes its own count when the file has one, else its task's. Several files combine (a
later file's counts replace an earlier one's), e.g. Flan's table plus per-task NIv2 counts.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flanmix.errors import FlanmixError
from flanmix.spec.load import Leaf, Mixture, make_leaf_type

FLAN_KINDS = {"zero_shot": None, "five_shot": "template_mix", "x_shot": "x_shot"}
T0_PREFIX = "t0_task_adaptation:"


@dataclass
class Counts:
    tasks: dict[str, int] = field(default_factory=dict)
    leaves: dict[Leaf, int] = field(default_factory=dict)


def read_counts(path: Path) -> Counts:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: spreadsheets' BOM
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise FlanmixError(f"cannot read counts file {path}: {e.strerror}") from None
    header = set(rows[0]) if rows else set()
    counts = Counts()
    for line, row in enumerate(rows, 2):
        where = f"{path}:{line}"
        if {"base_task", "template_type", "template_kind", "num_cases"} <= header:
            kind = row["template_kind"]
            if kind not in FLAN_KINDS:
                raise FlanmixError(
                    f"{where}: unknown template_kind '{kind}' (zero_shot, five_shot, x_shot)"
                )
            task = row["base_task"].removeprefix(T0_PREFIX)
            leaf_type = make_leaf_type(row["template_type"], FLAN_KINDS[kind])
            _put(counts.leaves, (task, leaf_type), _number(row["num_cases"], where), where)
        elif {"task", "leaf_type", "n"} <= header and row["leaf_type"]:
            _put(counts.leaves, (row["task"], row["leaf_type"]), _number(row["n"], where), where)
        elif {"task", "n"} <= header:
            _put(counts.tasks, row["task"], _number(row["n"], where), where)
        else:
            raise FlanmixError(
                f"{path}: a counts file needs the columns `task,n`, `task,leaf_type,n` or Flan's "
                f"`base_task,template_type,template_kind,num_cases`; it has {sorted(header)}"
            )
    return counts


def _put(into: dict[Any, int], key: Any, n: int, where: str) -> None:
    if key in into:
        raise FlanmixError(f"{where}: a second count for {key}; keep one row per task or leaf")
    into[key] = n


def merged(files: list[Counts]) -> Counts:
    out = Counts()
    for c in files:
        out.tasks.update(c.tasks)
        out.leaves.update(c.leaves)
    return out


def _number(text: str, where: str) -> int:
    try:
        n = int(float(text))
    except (ValueError, OverflowError):
        raise FlanmixError(f"{where}: count '{text}' is not a whole number") from None
    if n < 0:
        raise FlanmixError(f"{where}: count {n} is negative")
    return n


def leaf_counts(mixture: Mixture, counts: Counts, source: str) -> dict[Leaf, int]:
    """Every leaf's count from the file; names the tasks it does not cover."""
    out: dict[Leaf, int] = {}
    missing: list[str] = []
    for task, leaf_type in mixture.leaves():
        n = counts.leaves.get((task, leaf_type), counts.tasks.get(task))
        if n is None:
            missing.append(f"{task}/{leaf_type}")
        else:
            out[(task, leaf_type)] = n
    if missing:
        more = f" … ({len(missing) - 10} more)" if len(missing) > 10 else ""
        raise FlanmixError(
            f"{source} has no count for {len(missing)} leaf(s): {', '.join(missing[:10])}{more}; "
            "add rows `task,n` (or per leaf) for them"
        )
    return out
