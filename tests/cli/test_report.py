"""`flanmix report` on a real build of the bundled demo: charts, tables, and clear refusals."""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flanmix.build import build
from flanmix.cli.main import cli
from flanmix.publish.report import CHARTS
from flanmix.spec.load import load_mixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo"
    build(load_mixture("demo"), out)
    return out


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "report" not in p.relative_to(folder).parts
    }


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_writes_charts_tables_and_a_page(demo_build: Path, tmp_path: Path) -> None:
    before = checksums(demo_build)
    result = CliRunner().invoke(cli, ["report", str(demo_build)])
    assert result.exit_code == 0, result.output
    report = demo_build / "report"
    assert f"wrote {report}: 5 chart(s)" in result.output
    page = (report / "index.html").read_text()
    for chart in CHARTS:
        data = (report / chart.file).read_bytes()
        width, height = png_size(data)
        assert width == 900 and 250 <= height <= 1600, (chart.file, width, height)
        assert 8_000 < len(data) < 500_000, chart.file
        assert f'<img src="{chart.file}"' in page
    # Self-contained: no scripts, stylesheets or anything fetched from elsewhere.
    assert "<script" not in page and "<link" not in page and "http" not in page
    assert "<td>demo_flan</td>" in page and "Drops by reason" in page
    md = (report / "summary.md").read_text()
    assert md.startswith("# demo: build report")
    assert "## Shares by collection" in md
    assert "| collection | planned share | realised share | rows |" in md
    assert "| demo_flan | 60.00% | 60.00% | 1,200 |" in md
    assert "| over_quota | 5,841 |" in md
    assert checksums(demo_build) == before  # the build's data, manifest and stats untouched


def test_report_elsewhere_gives_the_same_bytes(demo_build: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(cli, ["report", str(demo_build), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    for chart in CHARTS:
        assert (tmp_path / "a" / chart.file).read_bytes() == (
            tmp_path / "b" / chart.file
        ).read_bytes()


def test_a_folder_that_is_not_a_build_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text("{}")
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"{tmp_path} is not a finished flanmix build: _COMPLETED, manifest.json missing; "
        "it must be a `flanmix build` output folder" in result.output
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "report").exists()


def test_the_report_stays_out_of_the_data_folder(demo_build: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(demo_build), "-o", str(demo_build / "data")])
    assert result.exit_code == 1
    assert "would write the report among the build's own files" in result.output


def test_missing_matplotlib_names_the_extra(
    demo_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    result = CliRunner().invoke(cli, ["report", str(demo_build), "-o", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "pip install 'flanmix[report]'" in result.output
    assert not (tmp_path / "r").exists()
