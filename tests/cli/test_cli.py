"""The command line through click's CliRunner: exit codes, output, and one-line errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from flanmix.cli.main import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_demo(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "demo"])
    assert result.exit_code == 0, result.output
    assert re.match(r"ok: demo .*6 task\(s\), 27 leaves", result.output)


def test_errors_are_one_line_with_a_fix_and_debug_shows_the_traceback(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "dmeo"])
    assert result.exit_code == 1
    assert "Error: unknown mixture 'dmeo' (did you mean 'demo'?" in result.output
    assert "Traceback" not in result.output
    debug = runner.invoke(cli, ["--debug", "validate", "dmeo"])
    assert debug.exit_code == 1
    assert type(debug.exception).__name__ == "SpecError"


def test_validate_reports_file_key_path_and_line(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nseed: 1\ncollections:\n  c:\n    wieght: 2\n")
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert (
        f"{bad}, at collections.c.wieght, line 5: unknown key 'wieght'; did you mean "
        "'weight'?" in result.output
    )


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_plan_formats(runner: CliRunner, fmt: str) -> None:
    result = runner.invoke(cli, ["plan", "--mixture", "demo", "--format", fmt])
    assert result.exit_code == 0, result.output
    out = result.stdout
    if fmt == "json":
        plan = json.loads(out)
        assert plan["total"] == 2000 == sum(leaf["quota"] for leaf in plan["leaves"])
    elif fmt == "csv":
        header, *rows = out.strip().splitlines()
        assert header.startswith("leaf,collection,template_type,task,n,cap,rate,share,quota")
        assert len(rows) == 27
    else:
        assert out.startswith("mixture demo  seed 0  epoch first_exhausted  rows 2,000")
        assert "demo_arithmetic_cot" in out


def test_build_then_refuse_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["build", "--mixture", "demo", "--out", str(out), "--limit-per-task", "40"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"built .*out: \d+ rows in 1 shard\(s\); dropped: .*over_quota", result.output)
    assert (out / "_COMPLETED").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "--limit-per-task 40" in manifest["command"]
    again = runner.invoke(cli, args)
    assert again.exit_code == 1
    assert "already exists (a finished build); pass --overwrite" in again.output
    assert runner.invoke(cli, [*args, "--overwrite", "--seed", "3"]).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3


def test_build_into_the_current_folder_is_refused(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    result = runner.invoke(cli, ["build", "-m", "demo", "-o", ".", "--overwrite"])
    assert result.exit_code == 1
    assert "is the current folder or one of its parents" in result.output
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_build_rejects_an_unknown_runner_profile(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["build", "-m", "demo", "-o", str(tmp_path / "o"), "--runner", "drect"]
    )
    assert result.exit_code == 1
    assert "unknown runner profile 'drect'; did you mean 'direct'?" in result.output
    assert not (tmp_path / "o").exists()


def test_preview_renders_real_rows(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "preview",
            "-m",
            "demo",
            "-n",
            "2",
            "--task",
            "demo_sentiment",
            "--template-type",
            "zs_opt",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("── demo_sentiment / zs_opt") == 2
    assert "positive" in result.output and "negative" in result.output  # options are shown
    assert "zs_noopt" not in result.output


def test_preview_shows_render_errors(
    runner: CliRunner, make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    from conftest import TINY_MIXTURE, tiny_records

    records = tiny_records(3, "a")
    records[0].pop("label")
    path = make_mixture(
        TINY_MIXTURE,
        data={"a.jsonl": records, "b.jsonl": tiny_records(3), "c.jsonl": tiny_records(3)},
    )
    result = runner.invoke(cli, ["preview", "-m", str(path), "--task", "a", "-n", "1"])
    assert result.exit_code == 0, result.output
    assert "RENDER FAILED: UndefinedError: 'label' is undefined" in result.output


def test_preview_unknown_task(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["preview", "-m", "demo", "--task", "nope"])
    assert result.exit_code == 1
    assert "no task 'nope' in mixture demo" in result.output


def test_templates_lint(runner: CliRunner, tmp_path: Path) -> None:
    ok = runner.invoke(cli, ["templates", "lint"])
    assert ok.exit_code == 0, ok.output
    assert "ok   " in ok.output and "FAIL" not in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "family: bad\ntemplates:\n  - id: bad_01\n    input: 'Q: {{ q }}'\n"
        "    target: '{{ a }}'\n    answer_choices: [x, y]\n"
    )
    result = runner.invoke(cli, ["templates", "lint", str(bad)])
    assert result.exit_code == 1
    assert "has answer_choices but its input never shows them" in result.output


def test_env_lists_versions(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["env"])
    assert result.exit_code == 0
    for name in ("flanmix", "python", "apache-beam", "pyarrow", "jinja2", "pydantic"):
        assert re.search(rf"^{name} \S+", result.output, re.M), name


def test_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    names = []
    for name, command in cli.commands.items():
        subs = getattr(command, "commands", None)
        names += [f"flanmix {name} {sub}" for sub in subs] if subs else [f"flanmix {name}"]
    for name in names:
        assert f"`{name}" in readme, f"README does not document `{name}`"


def test_preview_marks_rows_a_disjoint_pool_holds_out(
    runner: CliRunner, make_mixture: Callable[..., Path]
) -> None:
    from conftest import TINY_MIXTURE, tiny_data

    text = TINY_MIXTURE.replace(
        "    template_types: {zs_opt: 1, zs_noopt: 1}\n",
        "    template_types: {zs_opt: 1, fs_opt: 1}\n"
        "    fewshot: {shots: 2, pool_size: 8, exemplar_pool: disjoint}\n",
    )
    path = make_mixture(text, data=tiny_data())
    result = runner.invoke(cli, ["preview", "-m", str(path), "--task", "a", "-n", "40"])
    assert result.exit_code == 0, result.output
    # 8 pool examples, held out of both of a's leaves.
    assert result.output.count("DROPPED: in_exemplar_pool") == 16
