"""`flanmix push` and `build --push-to-hub` through the real huggingface_hub client against the
loopback fake Hub: create, upload, skip what is there, resume after a failed commit, a branch
per spec hash, and the dataset read back with `datasets.load_dataset`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakehub import FakeHub

from flanmix.build import build
from flanmix.cli.main import cli
from flanmix.publish import push as push_mod
from flanmix.spec.load import load_mixture


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("push") / "demo"
    build(load_mixture("demo"), out, max_shard_bytes=300_000)  # several shards
    return out


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))
    monkeypatch.setenv("HF_TOKEN", "hf_test_write_token")


def push(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["push", *args])
    return result.exit_code, result.output


def test_push_uploads_everything_then_skips_what_is_there(
    hub: FakeHub, built: Path, token: None
) -> None:
    shards = sorted(p.name for p in (built / "data").glob("*.parquet"))
    assert len(shards) > 1
    code, out = push(str(built), "--repo-id", "org/mix")
    assert code == 0, out
    assert f"pushed {built} to {hub.url}/datasets/org/mix: {len(shards) + 3} file(s)" in out
    files = hub.files("org/mix")
    assert {f"data/{s}" for s in shards} | {"README.md", "manifest.json", "stats.json"} <= set(
        files
    )
    assert files["README.md"] == (built / "README.md").read_bytes()
    assert hub.commits[-1][2] == ["stats.json", "manifest.json", "README.md"]  # the card last
    commits = len(hub.commits)
    code, out = push(str(built), "--repo-id", "org/mix")
    assert code == 0 and "0 file(s) uploaded" in out and len(hub.commits) == commits


def test_an_interrupted_push_resumes(
    hub: FakeHub, built: Path, token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_mod, "BATCH_FILES", 1)  # one shard per commit
    hub.fail_commit(2, status=403)  # not transient: the push stops after one commit
    code, out = push(str(built), "--repo-id", "org/resume")
    assert code == 1 and "HTTP 403" in out
    first = hub.commits[-1][2]
    assert len(first) == 1 and first[0].startswith("data/")
    code, out = push(str(built), "--repo-id", "org/resume")
    assert code == 0, out
    assert "1 file(s) already on the Hub with the same content: skipped" in out
    assert first[0] not in [p for c in hub.commits[-8:] for p in c[2] if c[0] == "org/resume"][1:]


def test_a_branch_per_spec_and_the_build_option(
    hub: FakeHub, built: Path, token: None, tmp_path: Path
) -> None:
    spec = json.loads((built / "manifest.json").read_text())["spec_hash"]
    code, out = push(str(built), "--repo-id", "org/spec", "--revision-from-spec")
    assert code == 0 and f"/datasets/org/spec/tree/flanmix-{spec[:16]}" in out
    assert "README.md" in hub.files("org/spec", f"flanmix-{spec[:16]}")
    result = CliRunner().invoke(
        cli,
        ["build", "-m", "demo", "--out", str(tmp_path / "b"), "--push-to-hub", "org/built"],
    )
    assert result.exit_code == 0, result.output
    assert "manifest.json" in hub.files("org/built")


def test_the_pushed_dataset_loads_with_datasets(
    hub: FakeHub, built: Path, token: None, tmp_path: Path
) -> None:
    assert push(str(built), "--repo-id", "org/load")[0] == 0
    total = json.loads((built / "manifest.json").read_text())["total_rows"]
    code = (
        "import datasets; ds = datasets.load_dataset('org/load', split='train'); "
        "print(len(ds), sorted(ds.column_names)[:3])"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == str(total)


def test_bad_pushes_are_refused(
    hub: FakeHub, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    code, out = push(str(built), "--repo-id", "org/x")
    assert code == 1 and "needs a Hugging Face token with write access" in out
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    code, out = push(str(built), "--repo-id", "just-a-name")
    assert code == 1 and "repo id 'just-a-name' is not ORG/NAME" in out
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "manifest.json").write_text("{}")
    code, out = push(str(tmp_path / "half"), "--repo-id", "org/x")
    assert code == 1 and "is not a finished flanmix build" in out
    assert not hub.commits or all(c[0] != "org/x" for c in hub.commits)
