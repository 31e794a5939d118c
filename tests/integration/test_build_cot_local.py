"""cot-local: the real Flan chain-of-thought TSVs from ../shared, built end to end."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pads
import pytest

from flanmix.build import build
from flanmix.spec.load import load_mixture


def test_cot_local_builds_from_the_real_tsvs(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLAN_V2_DIR", str(shared_data / "flan_v2"))
    mixture = load_mixture("cot-local")
    result = build(mixture, tmp_path / "out", limit_per_task=60)
    rows = pads.dataset(str(tmp_path / "out" / "data"), format="parquet").to_table().to_pylist()
    assert len(rows) == result.plan.total > 0
    assert {r["task_source"] for r in rows} == {"CoT"}
    assert {r["task_name"] for r in rows} == set(mixture.tasks)
    # Literal "\n" sequences in the TSVs are unescaped into real newlines.
    assert not any("\\n" in r["inputs"] or "\\n" in r["targets"] for r in rows)
    gsm = [r for r in rows if r["task_name"] == "cot_gsm8k"]
    assert all(r["example_id"].isdigit() for r in gsm)
    for leaf in result.stats["leaves"]:
        assert leaf["available"] == leaf["written"] + sum(leaf["dropped"].values())


def test_cot_local_counts_match_the_source_files(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flanmix.build import count_sources
    from flanmix.sources.snapshot import prepare_sources

    monkeypatch.setenv("FLAN_V2_DIR", str(shared_data / "flan_v2"))
    mixture, _ = prepare_sources(load_mixture("cot-local"))
    counts = count_sources(mixture, limit=None)
    assert counts["cot_gsm8k"].rows == 7473  # SOURCE.md: one row per line
    assert counts["cot_qasc"].rows == 1084


def test_niv2_local_builds_from_the_real_task_files(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIV2_DIR", str(shared_data / "niv2"))
    result = build(load_mixture("niv2-local"), tmp_path / "out")
    rows = pads.dataset(str(tmp_path / "out" / "data"), format="parquet").to_table().to_pylist()
    assert {r["task_source"] for r in rows} == {"NIv2"}
    fewshot = [r for r in rows if r["template_type"] == "fs_opt"]
    assert fewshot and all(len(r["exemplar_ids"]) == 2 for r in fewshot)
    for leaf in result.stats["leaves"]:
        assert leaf["available"] == leaf["written"] + sum(leaf["dropped"].values())


@pytest.mark.parametrize(
    ("mixture", "env", "folder", "leaf_types"),
    [
        ("cot-local", "FLAN_V2_DIR", "flan_v2", ["zs_opt", "fs_opt", "fs_opt+x_shot"]),
        ("niv2-local", "NIV2_DIR", "niv2", ["zs_opt", "fs_opt"]),
    ],
)
def test_preview_shows_every_format_on_the_shared_data(
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    mixture: str,
    env: str,
    folder: str,
    leaf_types: list[str],
) -> None:
    from click.testing import CliRunner

    from flanmix.cli.main import cli

    monkeypatch.setenv(env, str(shared_data / folder))
    result = CliRunner().invoke(cli, ["preview", "-m", mixture, "-n", "1"])
    assert result.exit_code == 0, result.output
    for leaf_type in leaf_types:
        assert f" / {leaf_type} · example" in result.output, leaf_type
    assert "RENDER FAILED" not in result.output
    if mixture == "cot-local":
        assert "_ii / zs_opt" in result.output  # the inverted CoT-II tasks
