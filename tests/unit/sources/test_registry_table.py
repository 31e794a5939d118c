"""The shipped registry of Flan 2022 tasks (flanmix/registry/flan2022.csv) and its generator."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = ROOT / "flanmix" / "registry" / "flan2022.csv"
SCRIPT = ROOT / "scripts" / "make_registry.py"
SHARED_DATA = ROOT.parent / "shared" / "data"

HEADER = [
    "collection",
    "task",
    "kind",
    "location",
    "config",
    "split",
    "revision",
    "verified",
    "sha256",
    "columns",
    "upstream",
    "notes",
]
COUNTS = {"flan2021": 71, "t0": 193, "niv2": 699, "cot": 9, "dialog": 2}
KINDS = {"flan2021": {"hub"}, "t0": {"hub"}, "niv2": {"niv2"}, "cot": {"cot"}, "dialog": {"dialog"}}
VERIFIED = {"yes", "unverified"}
MMLU_IDS = set(range(664, 668)) | set(range(685, 738))
SUBMIX = {
    "flan2021_submix": "flan2021",
    "t0_submix": "t0",
    "cot_submix": "cot",
    "dialog_submix": "dialog",
}
HEX64 = re.compile(r"[0-9a-f]{64}")


def read_rows() -> list[dict[str, str]]:
    with open(REGISTRY, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def tasks_of(rows: list[dict[str, str]], collection: str) -> set[str]:
    return {r["task"] for r in rows if r["collection"] == collection}


@pytest.fixture
def shared() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"{SHARED_DATA} is absent: checking the registry against the Flan/NIv2 inventories "
            "and regenerating it need the shared data beside the repo"
        )
    return SHARED_DATA


def test_header_is_exact() -> None:
    with open(REGISTRY, encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == HEADER


def test_rows_per_collection() -> None:
    assert Counter(r["collection"] for r in read_rows()) == COUNTS


def test_rows_are_unique_and_in_order() -> None:
    rows = read_rows()
    keys = [(r["collection"], r["task"]) for r in rows]
    assert len(set(keys)) == len(keys)
    order = list(COUNTS)
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))


def test_every_row_is_complete_and_uses_allowed_values() -> None:
    for row in read_rows():
        assert set(row) == set(HEADER), row
        assert row["kind"] in KINDS[row["collection"]], row
        assert row["verified"] in VERIFIED, row
        assert row["task"] and row["location"] and row["split"] and row["revision"], row
        assert row["upstream"], row
        if row["sha256"]:
            assert HEX64.fullmatch(row["sha256"]), row


def test_cot_rows_point_at_one_flan_commit() -> None:
    cot = [r for r in read_rows() if r["collection"] == "cot"]
    commits = {r["revision"] for r in cot}
    assert len(commits) == 1
    commit = commits.pop()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    for row in cot:
        url = row["location"]
        assert url.startswith("https://raw.githubusercontent.com/google-research/FLAN/"), row
        assert commit in url and url.endswith(row["upstream"].rsplit("/", 1)[1]), row
        if row["verified"] == "yes":
            assert HEX64.fullmatch(row["sha256"]), row
        else:
            assert row["sha256"] == "" and "sha256" in row["notes"], row


def test_niv2_rows_exclude_mmlu() -> None:
    rows = [r for r in read_rows() if r["collection"] == "niv2"]
    for row in rows:
        match = re.fullmatch(r"task(\d+)_\S+", row["task"])
        assert match, row
        assert int(match.group(1)) not in MMLU_IDS, row
        assert row["upstream"] == f"tasks/{row['task']}.json", row
        assert row["verified"] == "yes", row


def test_tasks_match_the_flan_mixture(shared: Path) -> None:
    expected: dict[str, set[str]] = {name: set() for name in SUBMIX.values()}
    with open(shared / "flan_v2" / "mixture_rates.csv", encoding="utf-8", newline="") as f:
        for record in csv.DictReader(f):
            collection = SUBMIX.get(record["submix"])
            task = record["base_task"]
            if collection is None or "input_inversion" in task:
                continue
            expected[collection].add(task.removeprefix("t0_task_adaptation:"))
    rows = read_rows()
    for collection, tasks in expected.items():
        assert tasks_of(rows, collection) == tasks, collection


def test_niv2_tasks_match_the_official_train_split(shared: Path) -> None:
    text = (shared / "niv2" / "splits" / "default" / "train_tasks.txt").read_text()
    train = {line.strip() for line in text.splitlines() if line.strip()}
    kept = {t for t in train if int(t.split("_", 1)[0].removeprefix("task")) not in MMLU_IDS}
    assert len(train) - len(kept) == 57
    assert tasks_of(read_rows(), "niv2") == kept


def test_script_reproduces_the_committed_csv(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "flan2022.csv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--data", str(shared)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes() == REGISTRY.read_bytes()
