"""Eval sets: the registry, `--decontaminate` specs, and the texts an n-gram index is built
from (local files read in place, Hub sets through a snapshot on the loopback fake Hub)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_jsonl
from fakehub import FakeHub

from flanmix.errors import FlanmixError, SourceError
from flanmix.hygiene.evalsets import (
    REGISTRY_NAMES,
    eval_texts,
    from_cli,
    load_eval_texts,
    lookup,
)
from flanmix.spec.load import EvalSet, eval_set
from flanmix.spec.models import EvalSetSpec


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def make(spec: EvalSetSpec, root: Path, note: str = "") -> EvalSet:
    return eval_set(spec, root, "mix.yaml", "decontaminate.0", note)


def defined(name: str, source: dict, fields: list[str] | None, root: Path) -> EvalSet:
    return make(
        EvalSetSpec.model_validate({"name": name, "source": source, "fields": fields}), root
    )


# ---- the registry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "repo", "fields"),
    [
        ("mmlu", "cais/mmlu", ["question", "choices"]),
        ("bbh", "lukaemon/bbh", ["input", "target"]),
        ("tydiqa", "google-research-datasets/tydiqa", ["question", "context"]),
        ("mgsm", "juletxara/mgsm", ["question"]),
    ],
)
def test_every_registry_entry_is_a_hub_set_marked_unverified(
    name: str, repo: str, fields: list[str]
) -> None:
    spec, note = lookup(name)
    assert spec.name == name and spec.source.kind == "hub" and spec.source.repo_id == repo
    assert spec.fields == fields
    assert f"registry entry {name} ({repo}) is unverified: check it with the Hub" in note


def test_registry_names_and_their_sources() -> None:
    assert REGISTRY_NAMES == ("mmlu", "bbh", "tydiqa", "mgsm")
    mmlu, _ = lookup("mmlu")
    assert (mmlu.source.config, mmlu.source.split) == ("all", "test")
    tydiqa, _ = lookup("tydiqa")
    assert (tydiqa.source.config, tydiqa.source.split) == ("secondary_task", "validation")
    for per_config in ("bbh", "mgsm"):  # one config per task or language: globs cover them all
        spec, _ = lookup(per_config)
        assert spec.source.config is None and spec.source.data_files
        assert spec.source.split == "test"


def test_an_unknown_name_suggests_the_closest_or_lists_them() -> None:
    with pytest.raises(LookupError, match=r"unknown eval set 'mmlv'; did you mean 'mmlu'\?"):
        lookup("mmlv")
    with pytest.raises(LookupError, match=r"valid: bbh, mgsm, mmlu, tydiqa"):
        lookup("squad")


# ---- --decontaminate SPEC -------------------------------------------------------------------


def test_cli_registry_name() -> None:
    spec, note = from_cli("bbh")
    assert spec.source.repo_id == "lukaemon/bbh" and "unverified" in note


def test_cli_files_of_each_kind_index_every_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "held out.jsonl", [{"q": "a"}])
    write_parquet(tmp_path / "sub" / "p.parquet", [{"q": "a"}])
    (tmp_path / "my-set.v2.tsv").write_text("q\ta\nx\ty\n")
    monkeypatch.chdir(tmp_path)

    spec, note = from_cli("held out.jsonl")
    assert (spec.name, spec.source.kind, spec.fields, note) == ("held_out", "jsonl", None, "")
    assert spec.source.path == str(tmp_path.resolve() / "held out.jsonl")  # made absolute

    spec, _ = from_cli("sub/p.parquet")
    assert (spec.name, spec.source.kind) == ("p", "parquet")
    assert Path(str(spec.source.path)).is_absolute()

    spec, _ = from_cli(str(tmp_path / "my-set.v2.tsv"))
    assert (spec.name, spec.source.kind, spec.source.header) == ("my-set.v2", "tsv", True)


def test_cli_compressed_jsonl_and_a_name_made_valid(tmp_path: Path) -> None:
    path = tmp_path / "__2024 eval!.jsonl.gz"
    path.write_bytes(b"")
    spec, _ = from_cli(str(path))
    assert (spec.name, spec.source.kind) == ("2024_eval_", "jsonl")


def test_cli_bad_specs_say_what_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evals.csv").write_text("q\nx\n")
    (tmp_path / "folder.jsonl").mkdir()

    with pytest.raises(FlanmixError, match=r"did you mean 'mgsm'\?.*no such file"):
        from_cli("mgms")
    with pytest.raises(FlanmixError, match=r"unsupported file type '\.csv'; give a \.jsonl, "):
        from_cli("evals.csv")
    with pytest.raises(FlanmixError, match=r"unsupported file type '\.parquet\.gz'"):
        from_cli("x.parquet.gz")
    with pytest.raises(FlanmixError) as e:
        from_cli("missing.jsonl")
    assert f"{tmp_path / 'missing.jsonl'} does not exist; check the path" in str(e.value)
    with pytest.raises(FlanmixError, match=r"is a folder, not a file"):
        from_cli("folder.jsonl")
    with pytest.raises(FlanmixError, match=r"only local files.*decontaminate:"):
        from_cli("gs://bucket/evals.jsonl")


def test_a_cli_file_reads_every_string_field(tmp_path: Path) -> None:
    (tmp_path / "ev.tsv").write_text("question\tanswer\nWhat is up?\tthe sky\nEmpty?\t\n")
    spec, _ = from_cli(str(tmp_path / "ev.tsv"))
    got = list(eval_texts(make(spec, Path("/elsewhere"))))
    assert got == [("0", "What is up?"), ("0", "the sky"), ("1", "Empty?")]


# ---- texts of local files -------------------------------------------------------------------

RECORDS = [
    {
        "id": "q1",
        "question": "Which planet is red?",
        "choices": ["Mars", "", ["Venus", {"deep": "Jupiter"}]],
        "answer": 0,
    },
    {"id": "q2", "question": "   ", "choices": [], "answer": None, "late": "only here"},
]


def test_fields_given_take_strings_inside_nested_lists_in_file_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ev.jsonl", RECORDS)
    ev = defined("ev", {"kind": "jsonl", "path": "ev.jsonl"}, ["question", "choices"], tmp_path)
    assert list(eval_texts(ev)) == [
        ("0", "Which planet is red?"),
        ("0", "Mars"),
        ("0", "Venus"),
        ("0", "Jupiter"),
    ]


def test_every_field_but_the_id_and_ids_from_id_field(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ev.jsonl", RECORDS)
    source = {"kind": "jsonl", "path": "ev.jsonl", "id_field": "id"}
    got = list(eval_texts(defined("ev", source, None, tmp_path)))
    assert got == [
        ("q1", "Mars"),
        ("q1", "Venus"),
        ("q1", "Jupiter"),
        ("q1", "Which planet is red?"),  # write_jsonl sorts keys: file order is key order
        ("q2", "only here"),
    ]


def test_rename_and_filter_apply_to_files_read_in_place(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ev.jsonl", RECORDS)
    source = {
        "kind": "jsonl",
        "path": "ev.jsonl",
        "rename": {"question": "text"},
        "filter": {"id": "q1"},
    }
    assert list(eval_texts(defined("ev", source, ["text"], tmp_path))) == [
        ("0", "Which planet is red?")
    ]


def test_a_missing_field_names_the_set_the_field_and_the_fields(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "ev.jsonl", RECORDS)
    ev = defined("ev", {"kind": "jsonl", "path": "ev.jsonl"}, ["question", "prompt"], tmp_path)
    with pytest.raises(SourceError) as e:
        list(eval_texts(ev))
    assert str(e.value) == (
        "eval set 'ev' (mix.yaml, decontaminate.0): its records have no field 'prompt' "
        "(fields: answer, choices, id, question, late); fix `fields`, or `rename` the column"
    )

    write_parquet(tmp_path / "ev.parquet", [{"question": "q", "answer": 1}])
    ev = defined("pq", {"kind": "parquet", "path": "ev.parquet"}, ["prompt"], tmp_path)
    texts = eval_texts(ev)
    with pytest.raises(SourceError, match=r"'pq'.*no field 'prompt' \(fields: question, answer\)"):
        next(texts)  # a Parquet schema is known before any text is read


def test_several_sets_in_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [{"t": "alpha"}])
    write_jsonl(tmp_path / "b.jsonl", [{"t": "beta"}, {"t": "gamma"}])
    sets = [defined(n, {"kind": "jsonl", "path": f"{n}.jsonl"}, None, tmp_path) for n in "ab"]
    assert list(load_eval_texts(sets)) == [
        ("a", "0", "alpha"),
        ("b", "0", "beta"),
        ("b", "1", "gamma"),
    ]


# ---- texts of Hub sets, through a snapshot --------------------------------------------------


def test_the_mmlu_entry_is_snapshotted_from_the_hub(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "mmlu"
    rows = [
        {"question": "2+2?", "subject": "math", "choices": ["3", "4"], "answer": 1},
        {"question": "Capital of France?", "subject": "geo", "choices": ["Paris"], "answer": 0},
    ]
    write_parquet(repo / "all" / "test-00000-of-00001.parquet", rows)
    write_parquet(repo / "all" / "dev-00000-of-00001.parquet", [{"question": "dev only"}])
    write_parquet(repo / "abstract_algebra" / "test-00000-of-00001.parquet", rows[:1])
    hub.add_dataset("cais/mmlu", repo)
    spec, note = lookup("mmlu")
    ev = make(spec, tmp_path, note)
    notes: list[str] = []

    got = list(eval_texts(ev, tmp_path / "cache", progress=notes.append))
    assert got == [
        ("0", "2+2?"),
        ("0", "3"),
        ("0", "4"),
        ("1", "Capital of France?"),
        ("1", "Paris"),
    ]
    assert any("eval.mmlu: 2 rows" in n for n in notes)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read again from the cached snapshot
    assert list(eval_texts(ev, tmp_path / "cache")) == got


def test_per_config_sets_read_every_config_through_data_files(hub: FakeHub, tmp_path: Path) -> None:
    repo = tmp_path / "bbh"
    first = repo / "boolean_expressions" / "test-00000-of-00001.parquet"  # a converted repo
    write_parquet(first, [{"input": "not True is", "target": "False"}])
    export = repo / "word_sorting" / "test" / "0000.parquet"  # the Parquet export's layout
    write_parquet(export, [{"input": "sort: b a", "target": "a b"}])
    write_parquet(repo / "word_sorting" / "train.parquet", [{"input": "not a test row"}])
    hub.add_dataset("lukaemon/bbh", repo)
    spec, note = lookup("bbh")
    got = [text for _, text in eval_texts(make(spec, tmp_path, note), tmp_path / "cache")]
    assert got == ["not True is", "False", "sort: b a", "a b"]


def test_a_failed_snapshot_names_the_eval_set_and_its_note(hub: FakeHub, tmp_path: Path) -> None:
    spec, note = lookup("tydiqa")  # the fake Hub has no such dataset
    with pytest.raises(SourceError) as e:
        list(eval_texts(make(spec, tmp_path, note), tmp_path / "cache"))
    text = str(e.value)
    assert text.startswith("eval set 'tydiqa' (mix.yaml, decontaminate.0): its source failed: ")
    assert "no such dataset" in text
    assert "registry entry tydiqa (google-research-datasets/tydiqa) is unverified" in text


def test_a_missing_field_of_a_hub_set(hub: FakeHub, tmp_path: Path) -> None:
    repo = tmp_path / "mgsm"
    write_parquet(repo / "en" / "test-00000-of-00001.parquet", [{"prompt": "How many?"}])
    hub.add_dataset("juletxara/mgsm", repo)
    spec, note = lookup("mgsm")
    with pytest.raises(SourceError) as e:
        list(eval_texts(make(spec, tmp_path, note), tmp_path / "cache"))
    assert (
        "eval set 'mgsm' (mix.yaml, decontaminate.0): its records have no field 'question' "
        "(fields: example_id, prompt)"
    ) in str(e.value)
    assert "registry entry mgsm" in str(e.value)


def test_from_cli_names_items_by_an_id_column(tmp_path: Path) -> None:
    path = tmp_path / "held.jsonl"
    path.write_text('{"id": "q-17", "question": "Which planet is red?"}\n')
    entry, _ = from_cli(str(path))
    assert entry.source.id_field == "id"
    evs = eval_set(entry, tmp_path, "command line", "--decontaminate")
    assert list(eval_texts(evs)) == [("q-17", "Which planet is red?")]
