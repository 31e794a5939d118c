"""Reading questions, exemplars, requests and an engine's samples, and writing the collected
paths as an ordinary flanmix task: `OUT/data.parquet` plus `OUT/self_improve.json` (the
counts a build reports)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flanmix.errors import FlanmixError
from flanmix.hashing import file_sha256
from flanmix.hygiene.dedup import normal_text
from flanmix.selfimprove.answers import compile_pattern
from flanmix.selfimprove.prompts import Exemplar
from flanmix.selfimprove.vote import majority
from flanmix.sources.files import read_task
from flanmix.sources.snapshot import readable
from flanmix.spec.load import Task, source_task
from flanmix.spec.models import SourceSpec

DATA_FILE = "data.parquet"  # one row per kept reasoning path
QUESTIONS_FILE = "questions.parquet"  # one row per kept question (its first path)
STATS_FILE = "self_improve.json"
SUFFIX_KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".tsv": "cot"}
Note = Callable[[str], None]


def file_task(path: str, kind: str | None = None, what: str = "file") -> Task:
    """A local file read like a task's source: `.jsonl`, `.parquet`, or `.tsv` read as Flan's
    chain-of-thought TSV (question, answer, rationale); `kind` overrides the suffix."""
    p = Path(path).expanduser()
    kind = kind or SUFFIX_KINDS.get(p.suffix.lower())
    if kind is None:
        raise FlanmixError(
            f"{what} {path}: unknown file type '{p.suffix}'; give a .jsonl, .parquet or Flan "
            "chain-of-thought .tsv file, or say which with --format"
        )
    if not p.is_file():
        raise FlanmixError(f"{what} {path}: no such file (relative paths start here)")
    source = SourceSpec(kind=kind, path=str(p.resolve()))
    name = f"{what.replace(' ', '_')}.{p.stem}"
    return source_task(name, "self_improve", source, p.parent.resolve(), str(p), what)


def records(
    task: Task, cache: Path | str | None = None, progress: Note = lambda _: None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(example id, fields) of every record, in file order."""
    for example in read_task(readable(task, cache, progress)):
        yield example.example_id, example.fields


def _field(fields: dict[str, Any], name: str, where: str) -> str:
    if name not in fields:
        raise FlanmixError(
            f"{where}: no field '{name}' (fields: {', '.join(sorted(fields))}); name the "
            "right one with the field options"
        )
    return "" if fields[name] is None else str(fields[name])


def read_questions(
    task: Task, field: str, id_field: str | None, cache: Path | str | None = None
) -> list[tuple[str, str]]:
    out = []
    for example_id, fields in records(task, cache):
        qid = _field(fields, id_field, task.file) if id_field else example_id
        out.append((qid, _field(fields, field, task.file)))
    return out


EXEMPLAR_FIELDS = ("question", "rationale", "answer")


def read_exemplars(task: Task, cache: Path | str | None = None) -> list[Exemplar]:
    """Worked examples: `question`, `rationale` and `answer` fields. A collect output works
    too, so a second round can take the first round's paths as exemplars: of several paths
    to one question, the first is taken, so a prompt never shows one question twice."""
    out: dict[str, Exemplar] = {}
    for _, fields in records(task, cache):
        missing = [k for k in EXEMPLAR_FIELDS if k not in fields]
        if missing:
            raise FlanmixError(
                f"exemplars {task.file}: no field(s) {', '.join(missing)} (fields: "
                f"{', '.join(sorted(fields))}); exemplars need question, rationale and answer"
            )
        e = Exemplar(*(str(fields[k] or "").strip() for k in EXEMPLAR_FIELDS))
        out.setdefault(normal_text(e.question), e)
    if not out:
        raise FlanmixError(f"exemplars {task.file}: the file has no records")
    return list(out.values())


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """JSONL or Parquet by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd")
    elif path.suffix in (".jsonl", ".json"):
        with open(path, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise FlanmixError(f"{path}: write requests as .jsonl or .parquet")


def _rows_of(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, record) of a JSONL or Parquet file of requests or samples."""
    if path.suffix == ".parquet":
        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield i, row
        return
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise FlanmixError(f"{what} {path}, line {i}: not JSON ({e})") from None
            if not isinstance(row, dict):
                raise FlanmixError(f"{what} {path}, line {i}: expected an object")
            yield i, row


def read_requests(path: Path) -> dict[str, dict[str, Any]]:
    """The prompts file `prompts` wrote, by request id; a repeated id is an error."""
    out: dict[str, dict[str, Any]] = {}
    for i, row in _rows_of(path, "prompts"):
        rid = row.get("request_id")
        if not isinstance(rid, str) or not rid:
            raise FlanmixError(f"prompts {path}, row {i}: no `request_id`")
        if rid in out:
            raise FlanmixError(
                f"prompts {path}, row {i}: request id '{rid}' repeats an earlier row; "
                "request ids must be unique (write the prompts again)"
            )
        out[rid] = row
    return out


def read_samples(path: Path, known: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Completions by request id. A row holds `completions` (a list) or one `completion`;
    rows with the same id add up (engines that write one row per sample). An id that no
    prompt has is an error: the samples are probably from another run."""
    out: dict[str, list[str]] = {}
    unknown: list[str] = []
    for i, row in _rows_of(path, "samples"):
        rid = row.get("request_id")
        if rid is None:
            raise FlanmixError(f"samples {path}, row {i}: no `request_id`")
        if rid not in known:
            unknown.append(str(rid))
            continue
        if "completions" in row:
            got = row["completions"] if row["completions"] is not None else []
            # A failed sample (null) is kept as an empty completion: an extraction failure.
            got = [c if c is not None else "" for c in got] if isinstance(got, list) else got
            if not isinstance(got, list) or not all(isinstance(c, str) for c in got):
                raise FlanmixError(
                    f"samples {path}, row {i}: `completions` is not a list of strings"
                )
        elif isinstance(row.get("completion"), str):
            got = [row["completion"]]
        else:
            raise FlanmixError(
                f"samples {path}, row {i}: give `completions` (a list of strings) or "
                "`completion` (a string)"
            )
        out.setdefault(str(rid), []).extend(got)
    if unknown:
        raise FlanmixError(
            f"samples {path}: {len(unknown)} row(s) have request ids that no prompt has "
            f"(e.g. {', '.join(unknown[:3])}); pass the prompts file these samples answer"
        )
    return out


@dataclass(frozen=True)
class Settings:
    pattern: str
    kind: str  # number | text | choice
    threshold: float
    max_paths: int | None = None


def collect(
    prompts: Path, samples: Path, out: Path, settings: Settings, overwrite: bool = False
) -> dict[str, Any]:
    """Vote on every prompt's samples and write the kept paths and the counts to `out`
    (written beside it, then moved into place: a failure leaves no half folder)."""
    if not 0 <= settings.threshold <= 1:
        raise FlanmixError(f"--threshold must be between 0 and 1, got {settings.threshold}")
    try:
        pattern = compile_pattern(settings.pattern)
    except ValueError as e:
        raise FlanmixError(str(e)) from None
    if out.exists() and not out.is_dir():
        raise FlanmixError(f"{out} is a file; give --out a folder (collect writes three files)")
    if out.exists() and not overwrite:
        raise FlanmixError(f"{out} exists; pass --overwrite to replace it")
    requests = read_requests(prompts)
    sampled = read_samples(samples, requests)
    rows: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    kept_confidence: list[float] = []
    samples_total = failures = 0
    for rid, request in requests.items():
        vote = majority(
            sampled.get(rid, []), pattern, settings.kind, settings.threshold, settings.max_paths
        )
        samples_total += vote.samples
        failures += vote.failures
        if vote.dropped:
            reasons[vote.dropped] += 1
            continue
        kept_confidence.append(vote.confidence)
        for k, path in enumerate(vote.paths):
            rows.append(
                {
                    "example_id": f"{rid}#{k}",
                    "request_id": rid,
                    "question_id": str(request.get("question_id", rid)),
                    "question": str(request.get("question", "")),
                    "rationale": path,
                    "answer": vote.shown,
                    "confidence": vote.confidence,
                    "samples": vote.samples,
                }
            )
    stats = {
        "questions": len(requests),
        "questions_sampled": sum(1 for rid in requests if sampled.get(rid)),
        "samples": samples_total,
        "extraction_failures": failures,
        "kept_questions": len(kept_confidence),
        "paths_kept": len(rows),
        "mean_confidence": sum(kept_confidence) / len(kept_confidence) if kept_confidence else 0.0,
        "dropped_questions": dict(sorted(reasons.items())),
        "answer_pattern": settings.pattern,
        "answer_kind": settings.kind,
        "threshold": settings.threshold,
        "max_paths": settings.max_paths,
        "prompts_sha256": file_sha256(str(prompts)),
        "samples_sha256": file_sha256(str(samples)),
    }
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_collected(staging, rows, stats)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError):
            raise FlanmixError(f"cannot write {out}: {e}; nothing was written") from None
        raise
    old = out.with_name(f".{out.name}.old")
    if out.exists():  # set aside, not deleted, until the new folder is in place
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return stats


def _write_collected(staging: Path, rows: list[dict[str, Any]], stats: dict[str, Any]) -> None:
    staging.mkdir(parents=True)
    schema = pa.schema(
        [
            ("example_id", pa.string()),
            ("request_id", pa.string()),
            ("question_id", pa.string()),
            ("question", pa.string()),
            ("rationale", pa.string()),
            ("answer", pa.string()),
            ("confidence", pa.float64()),
            ("samples", pa.int64()),
        ]
    )
    firsts = [r for r in rows if r["example_id"].endswith("#0")]  # direct answers: once each
    for name, chosen in ((DATA_FILE, rows), (QUESTIONS_FILE, firsts)):
        table = pa.Table.from_pylist(chosen, schema=schema)
        pq.write_table(table, staging / name, compression="zstd")
    (staging / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")


def collected_stats(task: Task) -> dict[str, Any] | None:
    """The counts of the collect output a task reads in place (self_improve.json beside its
    data.parquet), or None."""
    source = task.source
    if source.kind != "parquet" or not (source.path or "").endswith((DATA_FILE, QUESTIONS_FILE)):
        return None
    path = Path(task.source_pattern()).with_name(STATS_FILE)
    if "://" in str(source.path) or not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError as e:
        return {"unreadable": f"{path}: {e}"}
    return data
