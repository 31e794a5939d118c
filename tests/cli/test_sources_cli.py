"""`flanmix sources list|check` and `flanmix snapshot` through click, with the fake Hub."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fakehub import FakeHub

from flanmix.cli.main import cli

COLUMNS = (
    "collection,task,kind,location,config,split,revision,verified,sha256,columns,upstream,notes"
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_sources_list_prints_csv_and_a_table() -> None:
    code, out = run("sources", "list", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == COLUMNS
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["collection"] for r in rows} == {"flan2021", "t0", "niv2", "cot", "dialog"}
    assert len(rows) == 974
    code, out = run("sources", "list", "--collection", "cot", "--task", "cot_gsm8k")
    assert code == 0 and "cot_gsm8k" in out and "1 task(s): cot 1; 1 verified" in out


def glue_repo(folder: Path) -> Path:
    for split in ("train", "validation"):
        path = folder / "mrpc" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"sentence1": ["a"], "sentence2": ["b"], "label": [1]}), path)
    return folder


def test_sources_check_reports_ok_moved_and_missing(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_dataset("nyu-mll/glue", glue_repo(tmp_path / "glue"))
    code, out = run("sources", "check", "--task", "glue_mrpc", "--cache", str(tmp_path / "c"))
    assert code == 0, out
    assert "ok          flan2021/glue_mrpc: 1 Parquet file(s) at " in out
    hub.renamed["nyu-mll/glue"] = "glue-org/glue"
    code, out = run("sources", "check", "--task", "glue_mrpc", "--cache", str(tmp_path / "c"))
    assert code == 1 and "moved       flan2021/glue_mrpc: now glue-org/glue" in out
    code, out = run("sources", "check", "--task", "rte", "--cache", str(tmp_path / "c"))
    assert code == 1 and "missing     flan2021/rte:" in out and "no such dataset" in out


def test_sources_check_says_when_nothing_is_reachable(tmp_path: Path, monkeypatch: object) -> None:

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    code, out = run("sources", "check", "--collection", "flan2021", "--cache", str(tmp_path))
    assert code == 1 and "cannot reach the sources" in out and "needs network access" in out
