"""Runner profiles: the Dataflow job graph built offline (Beam's dry run), Flink and Spark
profiles validated as option sets, and the errors a bad profile or option gives. Nothing here
submits a job or contacts the cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from flanmix.cli.main import cli
from flanmix.errors import FlanmixError
from flanmix.pipeline.options import load_profile, pipeline_setup

STAGES = [
    "ListSourceShards", "SpreadShards", "PoolShards", "PoolCandidates", "Pools", "PoolExamples",
    "RenderWindows", "SumCounts", "GroupCandidates", "Choose", "CollectChoices", "NumShards",
    "ShardIndices", "SpreadIndices", "WriteShards", "FlattenParts", "CollectParts", "WriteParts",
]  # fmt: skip


@pytest.fixture
def gcp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.cloud.storage", reason="needs pip install 'flanmix[dataflow]'")
    monkeypatch.setenv("GCP_PROJECT", "flanmix-dry-run")
    monkeypatch.setenv("FLANMIX_GCS", "gs://flanmix-dry-run/flanmix")


def dry_run(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["build", "--mixture", "demo", "--out", str(tmp_path / "out"), "--dry-run", *args],
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out").exists()  # a dry run writes no output
    return result.output


def test_dataflow_dry_run_builds_every_stage_offline(gcp_env: None, tmp_path: Path) -> None:
    output = dry_run(tmp_path, "--runner", "dataflow")
    assert "dry run on DataflowRunner: the job graph was built, nothing was submitted" in output
    steps = {line.strip() for line in output.splitlines() if line.startswith("  ")}
    assert set(STAGES) <= steps
    staged = output.split("staged packages: ", 1)[1].splitlines()[0].strip()
    assert Path(staged).name.startswith("flanmix-") and staged.endswith(".whl")
    assert Path(staged).is_file()
    # the demo reads files on this disk: the dry run says a real run would stop on them
    assert "warning: a real run would stop here: " in output and "read local files" in output


def test_dataflow_dry_run_with_hygiene_has_the_dedup_stages(gcp_env: None, tmp_path: Path) -> None:
    evals = tmp_path / "heldout.jsonl"
    evals.write_text('{"id": "q1", "question": "a held out question of some length here"}\n')
    output = dry_run(
        tmp_path, "--runner", "dataflow", "--dedup", "mixture", "--decontaminate", str(evals)
    )
    steps = {line.strip() for line in output.splitlines() if line.startswith("  ")}
    assert set(STAGES) | {"DedupParts", "GroupDedupKeys", "FindDuplicates"} <= steps


def test_dataflow_placeholders_are_refused_before_beam(
    gcp_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLANMIX_GCS")  # the profile's default is gs://YOUR-BUCKET/…
    result = CliRunner().invoke(
        cli,
        ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--runner", "dataflow", "--dry-run"],
    )
    assert result.exit_code == 1 and "set FLANMIX_GCS to a gs://bucket/path" in result.output


def test_boolean_and_list_options_become_beam_flags() -> None:
    from flanmix.pipeline.options import to_flags

    flags = to_flags(
        {"use_public_ips": "false", "save_main_session": True, "experiments": ["a", "b"]}
    )
    assert flags == [
        "--no_use_public_ips",
        "--save_main_session",
        "--experiment=a",
        "--experiment=b",
    ]


@pytest.mark.parametrize("runner", ["flink", "spark"])
def test_flink_and_spark_profiles_are_valid_option_sets(runner: str, tmp_path: Path) -> None:
    setup = pipeline_setup(runner)
    assert setup.runner == {"flink": "FlinkRunner", "spark": "SparkRunner"}[runner]
    assert setup.options.get_all_options()["environment_type"] == "LOOPBACK"
    steps = {line.strip() for line in dry_run(tmp_path, "--runner", runner).splitlines()}
    assert set(STAGES) <= steps


def test_a_remote_run_needs_everything_at_urls(gcp_env: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["build", "--mixture", "demo", "--out", str(tmp_path / "o"), "--runner", "spark"],
    )
    assert result.exit_code == 1 and "give --out a bucket URL" in result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(
        cli, ["build", "--mixture", "demo", "--out", "memory://b/o", "--runner", "spark"]
    )
    assert result.exit_code == 1 and "task(s) demo_arithmetic_cot" in result.output
    assert "read local files; copy them to a bucket" in result.output


def test_profile_errors_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GCP_PROJECT", raising=False)
    with pytest.raises(FlanmixError, match="environment variable GCP_PROJECT is not set"):
        load_profile("dataflow")
    bad = tmp_path / "bad.yaml"
    bad.write_text("runner: DataflowRunner\noptions: {projet: x, max_num_workers: 3}\n")
    with pytest.raises(FlanmixError, match=r"unknown Beam pipeline option\(s\) 'projet'"):
        load_profile(str(bad))
    bad.write_text("runner: DataflowRunner\nstaging: wheel\n")
    with pytest.raises(FlanmixError, match="unknown key 'staging'; did you mean 'stage'"):
        load_profile(str(bad))
    result = CliRunner().invoke(
        cli, ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--option", "num_worker=2"]
    )
    assert result.exit_code == 1 and "'num_worker': did you mean 'num_workers'?" in result.output
