"""Shared fixtures: small mixtures written into tmp folders, and the optional ../shared data."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flanmix-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(_session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots go to a cache shared by this test session, never ~/.cache; retries are quick."""
    monkeypatch.setenv("FLANMIX_CACHE", str(_session_cache))
    monkeypatch.setenv("FLANMIX_RETRY_BACKOFF", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A loopback fake Hub (tests/fakehub.py) that flanmix's Hub code talks to via HF_ENDPOINT,
    with xet off, no token and a private Hugging Face cache."""
    from fakehub import FakeHub
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-cache")))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip saying why (a fresh clone without it still passes)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: these tests need the shared Flan/NIv2 data beside the repo")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return path


TINY_TEMPLATES = """\
family: tiny
description: Two classification templates and a generation template for tests.
templates:
  - id: tiny_01
    input: |-
      Text: {{ text }}
      Is it good?

      {{ options_ }}
    target: "{{ label }}"
    answer_choices: ["good", "bad"]
  - id: tiny_02
    input: "Label the text: {{ text }}\\n\\n{{ options_ }}"
    target: "{{ label }}"
    answer_choices: ["good", "bad"]
"""


@pytest.fixture
def make_mixture(tmp_path: Path) -> Callable[..., Path]:
    """Write a mixture YAML (dedented), its template families and JSONL data into tmp_path.

    `data` maps a file name under data/ to records; `templates` maps a family to its YAML.
    Returns the mixture file's path.
    """

    def make(
        mixture_yaml: str,
        data: dict[str, list[dict]] | None = None,
        templates: dict[str, str] | None = None,
        name: str = "mix.yaml",
    ) -> Path:
        for file, records in (data or {}).items():
            write_jsonl(tmp_path / "data" / file, records)
        tdir = tmp_path / "templates"
        tdir.mkdir(exist_ok=True)
        for family, text in (
            templates if templates is not None else {"tiny": TINY_TEMPLATES}
        ).items():
            (tdir / f"{family}.yaml").write_text(text)
        path = tmp_path / name
        path.write_text(textwrap.dedent(mixture_yaml))
        return path

    return make


def tiny_records(n: int, prefix: str = "r") -> list[dict]:
    return [
        {"id": f"{prefix}{i:04d}", "text": f"item number {i}", "label": "good" if i % 3 else "bad"}
        for i in range(n)
    ]


TINY_MIXTURE = """\
name: tiny
seed: 7
templates_dir: templates
epoch: first_exhausted
collections:
  c1:
    weight: 2
    template_types: {zs_opt: 1, zs_noopt: 1}
    tasks:
      a: {templates: tiny, source: {kind: jsonl, path: data/a.jsonl, id_field: id}}
      b: {templates: tiny, source: {kind: jsonl, path: data/b.jsonl, id_field: id}}
  c2:
    weight: 1
    template_types: {zs_opt: 1}
    tasks:
      c: {templates: tiny, source: {kind: jsonl, path: data/c.jsonl, id_field: id}}
"""


def tiny_data() -> dict[str, list[dict]]:
    """The three tasks of TINY_MIXTURE: 40, 25 and 30 rows."""
    return {
        "a.jsonl": tiny_records(40, "a"),
        "b.jsonl": tiny_records(25, "b"),
        "c.jsonl": tiny_records(30, "c"),
    }


@pytest.fixture
def tiny_mixture(make_mixture: Callable[..., Path]) -> Path:
    return make_mixture(TINY_MIXTURE, data=tiny_data())
