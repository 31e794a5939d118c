"""Loading and validating mixture and template files: every error names file, key path and line,
and says how to fix the problem ("errors are part of the interface: test their text")."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_TEMPLATES, tiny_records

from flanmix.checks import check_mixture
from flanmix.errors import SourceError, SpecError
from flanmix.render.templates import compile_family
from flanmix.spec.load import load_family, load_mixture
from flanmix.spec.models import TotalEpoch

BASE = """\
name: bad
templates_dir: templates
collections:
  c1:
    weight: 1
    template_types: {zs_opt: 1}
    rate: {cap: 10}
    tasks:
      a:
        templates: tiny
        source: {kind: jsonl, path: data/a.jsonl, id_field: id}
"""

# A mixture with one task `a` using family `tiny`; `{extra}` adds top-level keys.
SMALL = """\
name: {name}
templates_dir: templates
{extra}
collections:
  {collection}:
    template_types: {{zs_opt: 1}}
    tasks:
      {task}: {{templates: {family}, source: {{kind: jsonl, path: data/a.jsonl, id_field: id}}}}
"""


def small(
    name: str = "small",
    *,
    task: str = "a",
    family: str = "tiny",
    collection: str = "c1",
    extra: str = "",
) -> str:
    return SMALL.format(name=name, task=task, family=family, collection=collection, extra=extra)


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line of `path` containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not in {path}"
    return hits[occurrence - 1]


def load_error(path: Path | str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_mixture(str(path))
    return info.value


def check_error(path: Path) -> SpecError:
    mixture = load_mixture(str(path))
    with pytest.raises(SpecError) as info:
        check_mixture(mixture)
    return info.value


def assert_points_at(err: SpecError, file: Path, key_path: str | None, line: int | None) -> None:
    """The error's fields and its text both name the file, the key path and the line."""
    text = str(err)
    assert err.file == str(file)
    assert text.startswith(str(file))
    assert err.path == key_path
    if key_path is not None:
        assert f"at {key_path}" in text
    assert err.line == line
    if line is not None:
        assert f"line {line}" in text


def write_family(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def data() -> dict[str, list[dict]]:
    return {"a.jsonl": tiny_records(6)}


# --- the happy path -------------------------------------------------------------------------------


def test_tiny_mixture_loads(tiny_mixture: Path) -> None:
    mixture = load_mixture(str(tiny_mixture))
    assert mixture.name == "tiny"
    assert mixture.seed == 7
    assert sorted(mixture.tasks) == ["a", "b", "c"]
    assert mixture.leaves() == [
        ("a", "zs_noopt"),
        ("a", "zs_opt"),
        ("b", "zs_noopt"),
        ("b", "zs_opt"),
        ("c", "zs_opt"),
    ]
    assert mixture.collections() == ["c1", "c2"]
    task = mixture.tasks["a"]
    assert task.root == str(tiny_mixture.parent.resolve())
    assert task.source_pattern() == str(tiny_mixture.parent.resolve() / "data" / "a.jsonl")
    assert task.key_path == "collections.c1.tasks.a"
    assert list(mixture.families) == ["tiny"]


def test_bundled_demo_loads_by_name() -> None:
    mixture = load_mixture("demo")
    assert mixture.name == "demo"
    assert "demo_sentiment" in mixture.tasks


def test_epoch_total_mapping(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(small(extra="epoch: {total: 1000, repeats: true}"), data)
    assert load_mixture(str(path)).epoch == TotalEpoch(total=1000, repeats=True)


# --- unknown and misspelt keys --------------------------------------------------------------------

UNKNOWN_KEYS = [
    # (id, old, new, key path, line needle, suggestion)
    ("top", "collections:", "colections:", "colections", "colections:", "collections"),
    ("top-seed", "name: bad", "name: bad\nseeds: 3", "seeds", "seeds:", "seed"),
    ("collection", "weight: 1", "wieght: 1", "collections.c1.wieght", "wieght", "weight"),
    (
        "collection-types",
        "template_types:",
        "template_type:",
        "collections.c1.template_type",
        "template_type:",
        "template_types",
    ),
    (
        "task",
        "templates: tiny",
        "template: tiny",
        "collections.c1.tasks.a.template",
        "template: tiny",
        "templates",
    ),
    (
        "source",
        "id_field: id",
        "id_feild: id",
        "collections.c1.tasks.a.source.id_feild",
        "id_feild",
        "id_field",
    ),
    ("collection-rate", "{cap: 10}", "{capp: 10}", "collections.c1.rate.capp", "capp", "cap"),
    (
        "task-rate",
        "        templates: tiny",
        "        rate:\n          cap: 5\n          temprature: 2\n        templates: tiny",
        "collections.c1.tasks.a.rate.temprature",
        "temprature",
        "temperature",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "key_path", "needle", "suggestion"),
    [case[1:] for case in UNKNOWN_KEYS],
    ids=[case[0] for case in UNKNOWN_KEYS],
)
def test_unknown_key_suggests_the_closest(
    make_mixture: Callable[..., Path],
    old: str,
    new: str,
    key_path: str,
    needle: str,
    suggestion: str,
) -> None:
    assert old in BASE
    path = make_mixture(BASE.replace(old, new, 1))
    err = load_error(path)
    assert_points_at(err, path, key_path, line_of(path, needle))
    bad = key_path.rsplit(".", 1)[-1]
    assert f"unknown key '{bad}'; did you mean '{suggestion}'?" in str(err)


def test_unknown_key_without_a_close_match_lists_the_valid_keys(
    make_mixture: Callable[..., Path],
) -> None:
    path = make_mixture(BASE.replace("    weight: 1", "    zzz: 1"))
    err = load_error(path)
    assert_points_at(err, path, "collections.c1.zzz", line_of(path, "zzz"))
    valid = "fewshot, options, rate, task_source, tasks, template_types, weight"
    assert f"unknown key 'zzz'; valid: {valid}" in str(err)


def test_unknown_key_in_a_template_file(make_mixture: Callable[..., Path]) -> None:
    family = TINY_TEMPLATES.replace(
        "  - id: tiny_02\n", '  - id: tiny_02\n    answer_choice: ["x"]\n'
    )
    path = make_mixture(BASE, templates={"tiny": family})
    err = load_error(path)
    tfile = path.parent / "templates" / "tiny.yaml"
    assert_points_at(err, tfile, "templates[1].answer_choice", line_of(tfile, "answer_choice:"))
    assert "did you mean 'answer_choices'?" in str(err)


# --- values out of range --------------------------------------------------------------------------

BAD_VALUES = [
    # (id, old, new, key path, line needle, message parts)
    (
        "collection-weight-zero",
        "weight: 1",
        "weight: 0",
        "collections.c1.weight",
        "weight: 0",
        ["weight must be > 0, got 0"],
    ),
    (
        "collection-weight-negative",
        "weight: 1",
        "weight: -2",
        "collections.c1.weight",
        "weight: -2",
        ["weight must be > 0, got -2"],
    ),
    (
        "template-type-weight",
        "{zs_opt: 1}",
        "{zs_opt: 0}",
        "collections.c1.template_types.zs_opt",
        "template_types",
        ["the weight of template type 'zs_opt' must be > 0, got 0"],
    ),
    (
        "include-weight",
        "name: bad",
        "name: bad\ninclude: {demo: 0}",
        "include.demo",
        "include:",
        ["the weight of included mixture 'demo' must be > 0, got 0"],
    ),
    (
        "cap-zero",
        "{cap: 10}",
        "{cap: 0}",
        "collections.c1.rate.cap",
        "rate:",
        ["cap must be >= 1, got 0", "leave it out for no cap"],
    ),
    (
        "fixed-rate-zero",
        "        templates: tiny",
        "        rate: {rule: fixed, value: 0}\n        templates: tiny",
        "collections.c1.tasks.a.rate.value",
        "rule: fixed",
        ["a fixed rate must be > 0, got 0"],
    ),
    (
        "unknown-rate-rule",
        "{cap: 10}",
        "{rule: proportionl}",
        "collections.c1.rate",
        "rate:",
        ["unknown rate rule 'proportionl'; did you mean 'proportional'?"],
    ),
    (
        "unknown-template-type",
        "{zs_opt: 1}",
        "{zs_otp: 1}",
        "collections.c1.template_types.zs_otp",
        "template_types",
        ["unknown template type 'zs_otp'; did you mean 'zs_opt'?"],
    ),
    (
        "unknown-epoch-rule",
        "name: bad",
        "name: bad\nepoch: first_exausted",
        "epoch",
        "epoch:",
        [
            "unknown epoch rule 'first_exausted'; did you mean 'first_exhausted'?",
            "`epoch: {total: 1000}`",
        ],
    ),
    (
        "unknown-source-kind",
        "kind: jsonl",
        "kind: jsnl",
        "collections.c1.tasks.a.source.kind",
        "kind: jsnl",
        ["unknown source kind 'jsnl'; did you mean 'jsonl'?"],
    ),
    (
        "tsv-without-columns",
        "kind: jsonl",
        "kind: tsv",
        "collections.c1.tasks.a.source",
        "source:",
        ["a tsv source needs `columns: [...]` naming its fields", "or `header: true`"],
    ),
    (
        "csv-columns-repeat",
        "kind: jsonl",
        "kind: csv, columns: [x, x]",
        "collections.c1.tasks.a.source",
        "source:",
        ["columns repeat a name: ['x', 'x']"],
    ),
    (
        "columns-on-jsonl",
        "id_field: id",
        "id_field: id, columns: [x]",
        "collections.c1.tasks.a.source",
        "source:",
        ["`columns`, `header` and `unescape` apply to csv and tsv sources only"],
    ),
    (
        "source-two-locations",
        "id_field: id}",
        "id_field: id, url: 'http://x/a.jsonl', sha256: " + "a" * 64 + "}",
        "collections.c1.tasks.a.source",
        "source:",
        ["exactly one of `path` (local or fsspec), `url` (with `sha256`)", "got path, url"],
    ),
    (
        "url-without-sha256",
        "path: data/a.jsonl",
        "url: 'https://example.org/a.jsonl'",
        "collections.c1.tasks.a.source",
        "source:",
        ["a url source needs `sha256: <64 hex digits>`", "sha256sum"],
    ),
    (
        "sha256-not-hex",
        "path: data/a.jsonl",
        "url: 'https://example.org/a.jsonl', sha256: abc",
        "collections.c1.tasks.a.source.sha256",
        "source:",
        ["sha256 must be 64 lowercase hex digits, got 'abc'"],
    ),
    (
        "hub-without-repo",
        "kind: jsonl",
        "kind: hub",
        "collections.c1.tasks.a.source",
        "source:",
        ["a hub source needs `repo_id` (e.g. nyu-mll/glue)"],
    ),
    (
        "dialog-without-style",
        "kind: jsonl",
        "kind: dialog",
        "collections.c1.tasks.a.source",
        "source:",
        ["a dialog source needs `style: wiki_dialog` or `style: qrecc`"],
    ),
    (
        "niv2-archive-without-task",
        "kind: jsonl, path: data/a.jsonl",
        "kind: niv2, url: 'https://x/ni.tar.gz', sha256: " + "b" * 64,
        "collections.c1.tasks.a.source",
        "source:",
        ["a niv2 source from a url or repo_id needs `task: taskNNN_name`"],
    ),
    (
        "outputs-policy",
        "id_field: id}",
        "id_field: id, outputs: some}",
        "collections.c1.tasks.a.source.outputs",
        "source:",
        ["'first' or 'all'"],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "key_path", "needle", "parts"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_bad_value_is_named_with_its_fix(
    make_mixture: Callable[..., Path],
    old: str,
    new: str,
    key_path: str,
    needle: str,
    parts: list[str],
) -> None:
    assert old in BASE
    path = make_mixture(BASE.replace(old, new, 1))
    err = load_error(path)
    assert_points_at(err, path, key_path, line_of(path, needle))
    for part in parts:
        assert part in str(err)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        ("{total: 0}", "total must be >= 1, got 0"),
        ("{total: 10, repeat: true}", "unknown key 'repeat'; did you mean 'repeats'?"),
    ],
    ids=["total-zero", "misspelt-repeats"],
)
def test_bad_epoch_mapping_says_what_is_wrong(
    make_mixture: Callable[..., Path], epoch: str, expected: str
) -> None:
    path = make_mixture(BASE.replace("name: bad", f"name: bad\nepoch: {epoch}"))
    err = load_error(path)
    assert err.file == str(path)
    assert err.line == line_of(path, "epoch:")
    assert expected in str(err)


def test_missing_required_key_names_the_key(make_mixture: Callable[..., Path]) -> None:
    path = make_mixture(BASE.replace("        templates: tiny\n", ""))
    err = load_error(path)
    assert "missing required key 'templates'" in str(err)
    assert err.path == "collections.c1.tasks.a"


def test_missing_required_key_in_a_template_names_the_key(tmp_path: Path) -> None:
    write_family(tmp_path, "tiny", TINY_TEMPLATES.replace('    target: "{{ label }}"\n', "", 1))
    with pytest.raises(SpecError) as info:
        load_family("tiny", [tmp_path])
    assert "missing required key 'target'" in str(info.value)
    assert info.value.path == "templates[0]"


# --- YAML-level problems --------------------------------------------------------------------------


def test_duplicate_yaml_key_points_at_the_second(make_mixture: Callable[..., Path]) -> None:
    text = BASE + "      a:\n        templates: tiny\n        source: {kind: jsonl, path: x}\n"
    path = make_mixture(text)
    err = load_error(path)
    assert_points_at(err, path, "collections.c1.tasks.a", line_of(path, "      a:", 2))
    assert "duplicate key 'a'" in str(err)
    assert "each key may appear once; remove or rename one of them" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("name: x\ncollections:\n  c1: [unclosed\n  c2: 1\n", 4, "expected ',' or ']'"),
        ("name: x\n  bad: indent\n", 2, "mapping values are not allowed here"),
        ("name: x\ncollections:\n\tc1: 1\n", 3, "found character '\\t'"),
    ],
    ids=["unclosed-flow", "bad-indent", "tab"],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    err = load_error(path)
    assert_points_at(err, path, None, line)
    assert "not valid YAML" in str(err)
    assert problem in str(err)


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"]
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    err = load_error(path)
    assert_points_at(err, path, None, None)
    assert "file is empty" in str(err)
    assert "see mixtures/demo.yaml for an example" in str(err)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    err = load_error(path)
    assert_points_at(err, path, "(top level)", 1)
    assert "valid dictionary" in str(err)


# --- finding mixtures -----------------------------------------------------------------------------


def test_unknown_bundled_mixture_suggests_a_name() -> None:
    err = load_error("dmeo")
    assert str(err) == (
        "unknown mixture 'dmeo' (did you mean 'demo'? Or pass the path of a mixture YAML file)"
    )


def test_missing_mixture_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    err = load_error(missing)
    assert f"mixture file not found: {missing}" in str(err)
    assert "check the path, or give the name of a bundled mixture" in str(err)


# --- includes -------------------------------------------------------------------------------------


def test_include_by_name_finds_a_sibling_and_a_bundled_mixture(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(small("sub", task="b"), data, name="sub.yaml")
    path = make_mixture(small("top", extra="include: {sub: 2, demo: 3}"), data)
    mixture = load_mixture(str(path))
    assert {"a", "b", "demo_sentiment"} <= set(mixture.tasks)
    assert mixture.tasks["b"].file == str(path.parent / "sub.yaml")
    assert mixture.tasks["demo_sentiment"].file.endswith("demo.yaml")
    weights = {group.name: weight for weight, group in mixture.tree.members}
    assert weights == {"sub": 2, "demo": 3, "c1": 1}


def test_include_by_name_prefers_a_sibling_over_a_bundled_mixture(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(small("local_demo", task="b"), data, name="demo.yaml")
    path = make_mixture(small("top", extra="include: {demo: 1}"), data)
    assert sorted(load_mixture(str(path)).tasks) == ["a", "b"]


def test_include_by_path_is_relative_to_the_including_file(
    make_mixture: Callable[..., Path], data: dict, tmp_path: Path
) -> None:
    (tmp_path / "nested").mkdir()
    nested = make_mixture(small("sub", task="c"), name="nested/sub.yaml")
    path = make_mixture(small("top", extra="include: {nested/sub.yaml: 1}"), data)
    mixture = load_mixture(str(path))
    assert sorted(mixture.tasks) == ["a", "c"]
    # The included file's relative paths resolve against its own folder.
    assert mixture.tasks["c"].root == str(nested.parent.resolve())


def test_include_of_a_missing_path(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(small("top", extra="include: {nested/missing.yaml: 1}"), data)
    err = load_error(path)
    assert_points_at(err, path, "include.nested/missing.yaml", line_of(path, "include:"))
    assert f"included mixture file not found: {path.parent / 'nested/missing.yaml'}" in str(err)


def test_include_of_an_unknown_name_suggests_one(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(small("top", extra="include: {dmeo: 1}"), data)
    err = load_error(path)
    assert_points_at(err, path, "include.dmeo", line_of(path, "include:"))
    assert "cannot include 'dmeo'" in str(err)
    assert "did you mean 'demo'?" in str(err)


def test_include_cycle_is_named(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(small("cyc_a", extra="include: {cyc_b: 1}"), data, name="cyc_a.yaml")
    make_mixture(small("cyc_b", task="b", extra="include: {cyc_a: 1}"), name="cyc_b.yaml")
    err = load_error(path)
    assert err.file == str(path.parent / "cyc_b.yaml")  # the include that closes the cycle
    assert "mixtures include each other in a cycle: cyc_a -> cyc_b -> cyc_a" in str(err)
    assert "remove one of the includes" in str(err)


def test_include_cycle_points_at_the_include(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(small("cyc_a", extra="include: {cyc_b: 1}"), data, name="cyc_a.yaml")
    other = make_mixture(small("cyc_b", task="b", extra="include: {cyc_a: 1}"), name="cyc_b.yaml")
    err = load_error(path)
    assert err.path == "include.cyc_a"
    assert err.line == line_of(other, "include:")


def test_self_include_is_a_cycle(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(small("me", extra="include: {me: 1}"), data, name="me.yaml")
    assert "cycle: me -> me" in str(load_error(path))


def test_diamond_include_is_not_a_cycle(make_mixture: Callable[..., Path], data: dict) -> None:
    make_mixture(small("leaf", task="d"), name="leaf.yaml")
    make_mixture(small("left", task="b", extra="include: {leaf: 1}"), name="left.yaml")
    make_mixture(small("right", task="c", extra="include: {leaf: 1}"), name="right.yaml")
    path = make_mixture(small("top", extra="include: {left: 1, right: 1}"), data)
    assert sorted(load_mixture(str(path)).tasks) == ["a", "b", "c", "d"]


# --- tasks defined twice --------------------------------------------------------------------------


def test_task_defined_twice_differently(make_mixture: Callable[..., Path], data: dict) -> None:
    make_mixture(small("sub", collection="c2"), name="sub.yaml")
    path = make_mixture(small("top", extra="include: {sub: 1}"), data)
    err = load_error(path)
    assert_points_at(err, path, "collections.c1.tasks.a", line_of(path, "      a: {"))
    assert (
        f"task 'a' is also defined differently in {path.parent / 'sub.yaml'} at "
        "collections.c2.tasks.a"
    ) in str(err)
    assert "task names must be unique across a mixture; rename one" in str(err)


def test_task_defined_twice_identically_is_allowed(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(small("sub"), name="sub.yaml")
    path = make_mixture(small("top", extra="include: {sub: 1}"), data)
    assert list(load_mixture(str(path)).tasks) == ["a"]


# --- root and environment variables ---------------------------------------------------------------


def test_root_default_is_used_when_the_variable_is_unset(
    make_mixture: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLANMIX_TEST_ROOT", raising=False)
    path = make_mixture(small(extra=f"root: ${{FLANMIX_TEST_ROOT:-{tmp_path}/d}}"))
    assert load_mixture(str(path)).tasks["a"].root == str(tmp_path / "d")


@pytest.mark.parametrize("value", ["/elsewhere/data", ""], ids=["set", "set-but-empty"])
def test_root_variable_overrides_the_default_unless_empty(
    make_mixture: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FLANMIX_TEST_ROOT", value)
    path = make_mixture(small(extra="root: ${FLANMIX_TEST_ROOT:-/default}"))
    assert load_mixture(str(path)).tasks["a"].root == (value or "/default")


def test_relative_root_resolves_against_the_working_directory(
    make_mixture: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    path = make_mixture(small(extra="root: ../shared/data"))
    assert load_mixture(str(path)).tasks["a"].root == str(tmp_path.resolve() / "shared" / "data")


def test_root_with_an_unset_variable(
    make_mixture: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLANMIX_TEST_UNSET", raising=False)
    path = make_mixture(small(extra="root: ${FLANMIX_TEST_UNSET}/data"))
    err = load_error(path)
    assert_points_at(err, path, "root", line_of(path, "root:"))
    assert "environment variable FLANMIX_TEST_UNSET is not set" in str(err)
    assert "export FLANMIX_TEST_UNSET=... or write a default: ${FLANMIX_TEST_UNSET:-path}" in str(
        err
    )


# --- template families ----------------------------------------------------------------------------


def test_template_family_not_found_suggests_one(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(small(family="tinny"), data)
    err = load_error(path)
    assert err.file == str(path)
    assert err.path == "collections.c1.tasks.a.templates"
    assert f"at {err.path}" in str(err)
    assert "template family 'tinny' not found in " in str(err)
    assert str(path.parent / "templates") in str(err)
    assert "did you mean 'tiny'?" in str(err)


def test_template_family_not_found_names_the_line(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(small(family="tinny"), data)
    assert load_error(path).line == line_of(path, "templates: tinny")


def test_family_name_must_match_the_file_stem(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(small(family="other"), data, templates={"other": TINY_TEMPLATES})
    err = load_error(path)
    tfile = path.parent / "templates" / "other.yaml"
    assert_points_at(err, tfile, "family", 1)
    assert "family 'tiny' must match its file name 'other'" in str(err)
    assert "rename the file or set `family: other`" in str(err)


def test_template_id_duplicated_across_families(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    text = small() + "      b: {templates: twin, source: {kind: jsonl, path: data/a.jsonl}}\n"
    twin = TINY_TEMPLATES.replace("family: tiny", "family: twin")
    path = make_mixture(text, data, templates={"tiny": TINY_TEMPLATES, "twin": twin})
    err = load_error(path)
    # Families are checked in name order, so the second family ('twin') is the one named.
    tfile = path.parent / "templates" / "twin.yaml"
    assert_points_at(err, tfile, "templates[0].id", line_of(tfile, "id: tiny_01"))
    assert "template id 'tiny_01' is also used in family 'tiny'" in str(err)
    assert "template ids must be unique across families" in str(err)


def test_template_id_duplicated_within_a_family(tmp_path: Path) -> None:
    body = TINY_TEMPLATES.replace("id: tiny_02", "id: tiny_01")
    path = write_family(tmp_path, "tiny", body)
    with pytest.raises(SpecError) as info:
        load_family("tiny", [tmp_path])
    assert info.value.file == str(path)
    assert "template id 'tiny_01' appears twice (again at templates[1]); ids must be unique" in str(
        info.value
    )


def test_unknown_template_type_in_a_template(tmp_path: Path) -> None:
    body = TINY_TEMPLATES.replace("  - id: tiny_02\n", "  - id: tiny_02\n    types: [zs_nopt]\n")
    path = write_family(tmp_path, "tiny", body)
    with pytest.raises(SpecError) as info:
        load_family("tiny", [tmp_path])
    assert_points_at(info.value, path, "templates[1].types", line_of(path, "types:"))
    assert "unknown template type 'zs_nopt'; did you mean 'zs_noopt'?" in str(info.value)


# --- Jinja syntax errors --------------------------------------------------------------------------


def jinja_error(tmp_path: Path, body: str) -> tuple[SpecError, Path]:
    path = write_family(tmp_path, "jinja", body)
    with pytest.raises(SpecError) as info:
        compile_family(load_family("jinja", [tmp_path]))
    return info.value, path


def test_jinja_error_in_a_block_scalar_names_both_lines(tmp_path: Path) -> None:
    err, path = jinja_error(
        tmp_path,
        """\
        family: jinja
        templates:
          - id: j1
            input: "ok {{ text }}"
            target: "{{ label }}"
          - id: j2
            input: |-
              Line one {{ text }}
              Line two {{ text
              Line three
            target: "{{ label }}"
        """,
    )
    # Jinja meets the unclosed tag's problem on the template's 3rd line: file line 7 + 3.
    assert_points_at(err, path, "templates[1].input", line_of(path, "Line three"))
    assert "Jinja syntax error: expected token 'end of print statement'" in str(err)
    assert "(line 3 of the template)" in str(err)
    assert "check the {{ }} and {% %} pairs" in str(err)


def test_jinja_error_in_a_quoted_string(tmp_path: Path) -> None:
    err, path = jinja_error(
        tmp_path,
        """\
        family: jinja
        templates:
          - id: j1
            input: "ok {{ text }"
            target: "{{ label }}"
        """,
    )
    assert_points_at(err, path, "templates[0].input", line_of(path, "input:"))
    assert "Jinja syntax error: unexpected '}' (line 1 of the template)" in str(err)


@pytest.mark.parametrize("choices", ['"choices |"', '["ok", "{{ bad"]'], ids=["expression", "list"])
def test_jinja_error_in_answer_choices(tmp_path: Path, choices: str) -> None:
    err, path = jinja_error(
        tmp_path,
        f"""\
        family: jinja
        templates:
          - id: j1
            input: "{{{{ text }}}}"
            target: "{{{{ label }}}}"
            answer_choices: {choices}
        """,
    )
    # A list names the element: templates[0].answer_choices[1].
    expected = "templates[0].answer_choices" + ("[1]" if choices.startswith("[") else "")
    assert_points_at(err, path, expected, line_of(path, "answer_choices:"))
    assert "Jinja syntax error" in str(err)


def test_jinja_error_in_a_quoted_string_with_newline_escapes(tmp_path: Path) -> None:
    err, path = jinja_error(
        tmp_path,
        """\
        family: jinja
        templates:
          - id: j1
            input: "one\\n\\n{{ text"
            target: "{{ label }}"
        """,
    )
    assert err.line == line_of(path, "input:")


def test_unknown_filter_is_a_spec_error(tmp_path: Path) -> None:
    err, path = jinja_error(
        tmp_path,
        """\
        family: jinja
        templates:
          - id: j1
            input: "{{ text | uppper }}"
            target: "{{ label }}"
        """,
    )
    assert_points_at(err, path, "templates[0].input", line_of(path, "input:"))
    assert "uppper" in str(err)


# --- deep checks (flanmix.checks) -----------------------------------------------------------------


def test_template_field_missing_from_the_source(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    body = TINY_TEMPLATES.replace(
        'input: "Label the text: {{ text }}', 'input: "Label the text: {{ txt }}'
    )
    path = make_mixture(small(), data, templates={"tiny": body})
    err = check_error(path)
    tfile = path.parent / "templates" / "tiny.yaml"
    assert_points_at(err, tfile, "templates[1]", line_of(tfile, "id: tiny_02"))
    assert (
        "template 'tiny_02' uses field(s) txt that the source of task 'a' does not have "
        "(it has: id, label, text)"
    ) in str(err)
    assert "'txt': did you mean 'text'?" in str(err)


def test_template_fields_of_a_delimited_source_come_from_columns(
    make_mixture: Callable[..., Path],
) -> None:
    """`columns` name the fields without reading the file (which need only exist)."""
    text = small().replace(
        "{kind: jsonl, path: data/a.jsonl, id_field: id}",
        "{kind: tsv, path: data/a.tsv, columns: [text, gold]}",
    )
    path = make_mixture(text)
    (path.parent / "data").mkdir(exist_ok=True)
    (path.parent / "data" / "a.tsv").write_text("")
    err = check_error(path)
    assert "uses field(s) label" in str(err)
    assert "(it has: gold, text)" in str(err)


def test_check_mixture_reports_a_missing_source_even_with_columns(
    make_mixture: Callable[..., Path],
) -> None:
    text = small().replace(
        "{kind: jsonl, path: data/a.jsonl, id_field: id}",
        "{kind: tsv, path: data/a.tsv, columns: [text, label]}",
    )
    with pytest.raises(SourceError, match=r"source file not found: .*data/a\.tsv for task 'a'"):
        check_mixture(load_mixture(str(make_mixture(text))))


def test_check_mixture_reports_an_empty_source_as_empty(
    make_mixture: Callable[..., Path],
) -> None:
    path = make_mixture(small(), {"a.jsonl": []})
    with pytest.raises(SourceError, match=r"source has zero rows: .*a\.jsonl for task 'a'"):
        check_mixture(load_mixture(str(path)))


def test_family_without_a_template_for_a_requested_type(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    body = TINY_TEMPLATES.replace(
        '    answer_choices: ["good", "bad"]\n',
        '    answer_choices: ["good", "bad"]\n    types: [zs_noopt]\n',
    )
    path = make_mixture(small(), data, templates={"tiny": body})
    err = check_error(path)
    assert err.file == str(path)
    assert err.path == "collections.c1.tasks.a.templates"
    assert (
        "template family 'tiny' has no template for type 'zs_opt', which task 'a' needs"
    ) in str(err)
    tfile = path.parent / "templates" / "tiny.yaml"
    assert f"add 'zs_opt' to the `types` of some template in {tfile}" in str(err)


def test_family_without_a_template_for_a_type_names_the_line(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    body = TINY_TEMPLATES.replace(
        '    answer_choices: ["good", "bad"]\n',
        '    answer_choices: ["good", "bad"]\n    types: [zs_noopt]\n',
    )
    path = make_mixture(small(), data, templates={"tiny": body})
    assert check_error(path).line == line_of(path, "templates: tiny")


def test_check_mixture_passes_on_the_tiny_mixture(tiny_mixture: Path) -> None:
    compiled = check_mixture(load_mixture(str(tiny_mixture)))
    assert list(compiled) == ["tiny"]
    assert [t.spec.id for t in compiled["tiny"].templates] == ["tiny_01", "tiny_02"]
