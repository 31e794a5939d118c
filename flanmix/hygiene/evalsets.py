"""Held-out evaluation sets: the registry of Flan 2022's held-out sets, eval sets given on the
command line, and the (item id, text) pairs an n-gram index is built from.

An eval set's source is an ordinary flanmix source (spec/load.py turns it into a Task of
collection `eval`), so it is read by the same code as a task's: files in place, everything else
through a snapshot. That keeps eval sets pinned, cached and offline-readable like training data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flanmix.errors import FlanmixError, SourceError
from flanmix.sources.files import read_task, source_fields
from flanmix.sources.snapshot import readable, renamed_and_filtered
from flanmix.spec.load import EvalSet, Mixture, Task
from flanmix.spec.load import eval_set as make_eval_set
from flanmix.spec.models import EvalSetSpec, SourceSpec, did_you_mean

Note = Callable[[str], None]

# Flan 2022's held-out sets at their usual Hub homes. None of this was checked against the Hub
# (it was written offline), hence the note every lookup returns. Sets published as one config
# per task or language are read through `data_files` globs that cover every config: the files
# of a converted repo (`<config>/test-*.parquet`) and of the Parquet export
# (`<config>/test/*.parquet`, at `revision: refs/convert/parquet`).
_PER_CONFIG_TEST = ["*/test-*.parquet", "*/test/*.parquet"]
_REGISTRY: dict[str, dict[str, Any]] = {
    "mmlu": {
        "source": {"kind": "hub", "repo_id": "cais/mmlu", "config": "all", "split": "test"},
        "fields": ["question", "choices"],
    },
    "bbh": {
        "source": {
            "kind": "hub",
            "repo_id": "lukaemon/bbh",
            "split": "test",
            "data_files": _PER_CONFIG_TEST,
        },
        "fields": ["input", "target"],
    },
    "tydiqa": {  # GoldP, the gold-passage task Flan evaluates on
        "source": {
            "kind": "hub",
            "repo_id": "google-research-datasets/tydiqa",
            "config": "secondary_task",
            "split": "validation",
        },
        "fields": ["question", "context"],
    },
    "mgsm": {
        "source": {
            "kind": "hub",
            "repo_id": "juletxara/mgsm",
            "split": "test",
            "data_files": _PER_CONFIG_TEST,
        },
        "fields": ["question"],
    },
}
REGISTRY_NAMES: tuple[str, ...] = tuple(_REGISTRY)

# Local files `--decontaminate` accepts: suffix -> source kind. JSONL and TSV may be compressed.
CLI_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet", ".tsv": "tsv"}
COMPRESSED = (".gz", ".bz2", ".zst")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def lookup(name: str) -> tuple[EvalSetSpec, str]:
    """The registry's definition of a held-out set, and a note that it is unverified (so a
    build can say so next to its counts)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise LookupError(
            f"unknown eval set '{name}'; {did_you_mean(name, REGISTRY_NAMES)} "
            "(or define it: {name: ..., source: {...}, fields: [...]})"
        )
    spec = EvalSetSpec.model_validate({"name": name, **entry})
    repo = spec.source.location
    note = (
        f"registry entry {name} ({repo}) is unverified: check it with the Hub before relying on "
        f"it (repo, config, split, data_files and fields: {', '.join(spec.fields or [])})"
    )
    return spec, note


def from_cli(spec: str) -> tuple[EvalSetSpec, str]:
    """`flanmix build --decontaminate SPEC`: a registry name, or a local JSONL, Parquet or TSV
    file (header line = names) whose string fields are all indexed, named after its stem."""
    if spec in _REGISTRY:
        return lookup(spec)
    if "://" in spec:
        raise FlanmixError(
            f"--decontaminate {spec}: only local files are taken on the command line; define "
            "an eval set at a URL in the mixture's `decontaminate:` list "
            "({name: ..., source: {kind: jsonl, path: ...}})"
        )
    path = Path(spec).expanduser()
    kind = _cli_kind(path)
    if kind is None:
        if not path.suffix and Path(spec).name == spec and not path.exists():
            raise FlanmixError(
                f"--decontaminate {spec}: no such eval set in the registry "
                f"({did_you_mean(spec, REGISTRY_NAMES)}) and no such file; give a registry "
                f"name or a path to a {_suffix_list()} file"
            )
        raise FlanmixError(
            f"--decontaminate {spec}: unsupported file type '{_shown_suffix(path)}'; "
            f"give a {_suffix_list()} file (a TSV's first line names its columns), converting "
            f"it if needed, or a registry name: {', '.join(REGISTRY_NAMES)}"
        )
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FlanmixError(
            f"--decontaminate {spec}: {path.absolute()} {what}; check the path (relative paths "
            "start at the current folder)"
        )
    source = SourceSpec(kind=kind, path=str(path.resolve()), header=kind == "tsv")
    entry = EvalSetSpec(name=_name_of(path), source=source, fields=None)
    # An id column names the eval items in the evidence (else they are row numbers) and is
    # not indexed as text.
    try:
        names = source_fields(make_eval_set(entry, Path.cwd(), "command line", spec).source)
    except SourceError:  # an empty file: nothing to index, nothing to name
        names = []
    id_field = next((n for n in ID_COLUMNS if n in names), None)
    if id_field:
        source = source.model_copy(update={"id_field": id_field})
        entry = entry.model_copy(update={"source": source})
    return entry, ""


ID_COLUMNS = ("id", "example_id", "qid", "idx", "uid")


def _cli_kind(path: Path) -> str | None:
    """The source kind of a file by its suffix (`x.jsonl`, `x.tsv.gz`), None if unsupported."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes.pop()
        if suffixes and suffixes[-1] == ".parquet":  # Parquet compresses inside the file
            return None
    return CLI_SUFFIXES.get(suffixes[-1]) if suffixes else None


def _shown_suffix(path: Path) -> str:
    suffixes = path.suffixes[-2:] if path.suffix.lower() in COMPRESSED else [path.suffix]
    return "".join(suffixes) or "none"


def _suffix_list() -> str:
    return ", ".join(CLI_SUFFIXES) + f" (JSONL and TSV may end in {', '.join(COMPRESSED)})"


def _name_of(path: Path) -> str:
    """The file's stem without format suffixes, made into a valid eval set name."""
    stem = path.name
    while Path(stem).suffix.lower() in (*CLI_SUFFIXES, *COMPRESSED):
        stem = Path(stem).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).lstrip("_.-")
    return name if _NAME_PATTERN.fullmatch(name) else "evalset"


# ---- reading: an eval set's records become (item id, text) pairs -----------------------------


def eval_texts(
    eval_set: EvalSet, cache: Path | str | None = None, progress: Note = lambda _: None
) -> Iterator[tuple[str, str]]:
    """(item id, text) for every non-empty string of every indexed field, in file order.

    Lists (and dicts) contribute each string inside them, so MMLU's `choices` are indexed one
    by one. A named field that no record has is an error; for JSONL, whose fields are only
    known once every record has been read, it comes after the texts of the records before it.
    """
    task = _readable(eval_set, cache, progress)
    src = task.source
    origin_id = task.origin.id_field if task.origin else None
    skip = {f for f in (src.id_field, origin_id) if f}  # ids are not eval text
    wanted = eval_set.fields
    if wanted is not None and src.kind != "jsonl":  # the schema or header is known up front
        names = [src.rename.get(n, n) for n in source_fields(task)]
        _check_fields(eval_set, wanted, names)
    seen: dict[str, None] = {}
    # Rename and filter as a snapshot does, so files read in place mean the same.
    rows = renamed_and_filtered(((e.example_id, e.fields) for e in read_task(task)), src)
    for example_id, record in rows:
        seen.update(dict.fromkeys(record))
        for name in wanted if wanted is not None else [k for k in record if k not in skip]:
            for text in _strings(record.get(name)):
                yield example_id, text
    if wanted is not None:
        _check_fields(eval_set, wanted, list(seen))


def load_eval_texts(
    eval_sets: Iterable[EvalSet], cache: Path | str | None = None, progress: Note = lambda _: None
) -> Iterator[tuple[str, str, str]]:
    """(eval set name, item id, text) over every eval set, in the order given."""
    for eval_set in eval_sets:
        for item, text in eval_texts(eval_set, cache, progress):
            yield eval_set.name, item, text


def _readable(eval_set: EvalSet, cache: Path | str | None, progress: Note) -> Task:
    """The eval set's source as a task to read (its snapshot unless read in place)."""
    try:
        return readable(eval_set.source, cache, progress)
    except SourceError as e:
        raise SourceError(f"{_where(eval_set)}: its source failed: {e}{_noted(eval_set)}") from None


def _strings(value: Any) -> Iterator[str]:
    """The non-empty strings in a value: itself, or those inside lists and dicts."""
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _check_fields(eval_set: EvalSet, wanted: Iterable[str], names: list[str]) -> None:
    missing = [f for f in wanted if f not in names]
    if missing:
        raise SourceError(
            f"{_where(eval_set)}: its records have no field '{missing[0]}' "
            f"(fields: {', '.join(names) or 'none'}); fix `fields`, or `rename` the column"
            f"{_noted(eval_set)}"
        )


def _where(eval_set: EvalSet) -> str:
    task = eval_set.source
    place = ", ".join(p for p in (task.file, task.key_path) if p)
    return f"eval set '{eval_set.name}'" + (f" ({place})" if place else "")


def _noted(eval_set: EvalSet) -> str:
    return f" [{eval_set.note}]" if eval_set.note else ""


def with_hygiene(
    mixture: Mixture,
    dedup: str | None = None,
    specs: Iterable[str] = (),
    action: str | None = None,
) -> Mixture:
    """The mixture with the command line's hygiene options on top of its own."""
    hygiene = mixture.hygiene
    sets = list(hygiene.eval_sets)
    for spec in specs:
        entry, note = from_cli(spec)
        if any(s.name == entry.name for s in sets):
            raise FlanmixError(
                f"--decontaminate {spec}: the mixture already has an eval set named "
                f"'{entry.name}'; leave it out of the command line or rename the file"
            )
        where = f"--decontaminate {spec}"
        sets.append(make_eval_set(entry, Path.cwd(), "command line", where, note))
    settings = hygiene.decontamination
    if action is not None:
        settings = settings.model_copy(update={"action": action})
    changed = dataclasses.replace(
        hygiene, dedup=dedup or hygiene.dedup, eval_sets=tuple(sets), decontamination=settings
    )
    return dataclasses.replace(mixture, hygiene=changed)
