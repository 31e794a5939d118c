"""Super-NaturalInstructions task files: one JSON file per task, its instances as records.

Each record carries the task-level fields too (definition, positive and negative examples), so
templates can render NIv2's own formats. An instance with several outputs gives one record
whose `output` is the first (`outputs: first`), or one record per output (`outputs: all`).

Ingest rules follow the repository's own: only tasks of the train split, never the
MMLU-derived tasks Flan holds out, and its validation checks (more than 25 and at most 6,500
instances, unique inputs) reported without aborting.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

FIELDS = (
    "id",
    "input",
    "output",
    "outputs",
    "definition",
    "positive_examples",
    "negative_examples",
    "categories",
    "task_file",
)
REQUIRED_KEYS = ("Definition", "Positive Examples", "Instances")
SPLITS = ("train", "test", "excluded")
MIN_INSTANCES, MAX_INSTANCES = 25, 6500  # the repository's validation bounds: (25, 6500]


def task_number(name: str) -> int | None:
    m = re.match(r"task(\d+)_", name)
    return int(m.group(1)) if m else None


def is_mmlu_task(name: str) -> bool:
    """The MMLU-derived tasks Flan 2022 drops so MMLU stays held out (664–667, 685–737)."""
    n = task_number(name)
    return n is not None and (664 <= n <= 667 or 685 <= n <= 737)


def split_lists(splits_dir: str) -> dict[str, set[str]]:
    """`splits/default/{train,test,excluded}_tasks.txt` of a checkout (a local folder or an
    fsspec URL), by split name; the lists that are missing are left out."""
    from flanmix.sources.files import open_path

    out = {}
    for split in SPLITS:
        try:
            with open_path(f"{splits_dir}/{split}_tasks.txt", "r", encoding="utf-8") as f:
                out[split] = {line.strip() for line in f if line.strip()}
        except FileNotFoundError:
            continue
    return out


def split_of(task: str, lists: dict[str, set[str]]) -> str | None:
    return next((s for s in SPLITS if task in lists.get(s, ())), None)


def _examples(items: Any) -> list[dict[str, str]]:
    out = []
    for item in items or []:
        output = item.get("output", "")
        out.append(
            {
                "input": str(item.get("input", "")),
                "output": str(output[0] if isinstance(output, list) and output else output),
                "explanation": str(item.get("explanation", "")),
            }
        )
    return out


def parse_task(text: str, task_file: str) -> dict[str, Any]:
    """A task file's JSON, checked for the keys flanmix reads. Raises ValueError."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a Super-NaturalInstructions task file (not a JSON object)")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(
            f"not a complete Super-NaturalInstructions task file: missing {', '.join(missing)} "
            f"(it has: {', '.join(data)})"
        )
    if not isinstance(data["Instances"], list):
        raise ValueError("`Instances` is not a list")
    for i, instance in enumerate(data["Instances"]):
        if not isinstance(instance, dict) or "input" not in instance or "output" not in instance:
            raise ValueError(f"Instances[{i}] lacks `input` or `output`")
    data["_task_file"] = task_file
    return data


def instances(data: dict[str, Any], outputs: str = "first") -> Iterator[dict[str, Any]]:
    definition = data.get("Definition", "")
    if isinstance(definition, list):  # some tasks store the definition as a list of lines
        definition = "\n".join(str(d) for d in definition)
    shared = {
        "definition": str(definition),
        "positive_examples": _examples(data.get("Positive Examples")),
        "negative_examples": _examples(data.get("Negative Examples")),
        "categories": [str(c) for c in data.get("Categories", [])],
        "task_file": data["_task_file"],
    }
    for i, instance in enumerate(data["Instances"]):
        raw = instance.get("output", [])
        outs = [str(o) for o in raw] if isinstance(raw, list) else [str(raw)]
        base = str(instance.get("id", i))
        record = {"input": str(instance.get("input", "")), "outputs": outs, **shared}
        if outputs == "all" and len(outs) > 1:
            for k, out in enumerate(outs):
                yield {"id": f"{base}#{k}", "output": out, **record}
        else:
            yield {"id": base, "output": outs[0] if outs else "", **record}


def validation_warnings(data: dict[str, Any]) -> list[str]:
    """The repository's own checks, as findings to report (a task is kept either way)."""
    found = []
    n = len(data["Instances"])
    if not MIN_INSTANCES < n <= MAX_INSTANCES:
        found.append(
            f"{n} instances: the repository expects more than {MIN_INSTANCES} and at most "
            f"{MAX_INSTANCES}"
        )
    inputs = Counter(str(i.get("input", "")) for i in data["Instances"])
    repeated = sum(c - 1 for c in inputs.values() if c > 1)
    if repeated:
        found.append(f"{repeated} instance(s) repeat an earlier input; inputs should be unique")
    return found
