"""Snapshots: every source that is not a plain file read in place (Hub datasets, URLs, NIv2
task files, CoT TSVs, dialogs) is fetched once, normalised to one Parquet file with an
`example_id` column, and recorded with its row count, pinned revision and checksums.

Layout: `<cache>/snapshots/<name>-<key>/{data.parquet,snapshot.json}`. The key hashes the
source spec (and, for local inputs, their checksums), so tasks reading the same source (a task
and its inverted twin) share one snapshot. A snapshot is written into a
temporary folder and renamed into place complete, `snapshot.json` last, so an interrupted run
never leaves a truncated snapshot and a failed refresh keeps the old one. Builds read
snapshots only; Beam workers never talk to the Hub.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import json
import os
import posixpath
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flanmix import __version__
from flanmix.errors import FlanmixError, SourceError
from flanmix.hashing import file_sha256
from flanmix.sources import cot, dialog, hub, niv2
from flanmix.sources.fetch import Retry, default_retry, download
from flanmix.sources.files import checksum, iter_records, list_files, open_path, size
from flanmix.sources.records import Drops
from flanmix.spec.load import Mixture, Task, without_tasks
from flanmix.spec.models import FILE_KINDS, SourceSpec, did_you_mean

FORMAT = 1  # bump when the snapshot layout or normalisation changes
BATCH_ROWS = 2048
Row = tuple[str, dict[str, Any]]
Note = Callable[[str], None]


def default_cache() -> Path:
    """The local cache (downloads, and snapshots unless the cache is a URL)."""
    env = os.environ.get("FLANMIX_CACHE", "")
    return Path(env) if env and "://" not in env else Path.home() / ".cache" / "flanmix"


@dataclass(frozen=True)
class Snapshot:
    task: str
    dir: Path | str  # a local folder, or a URL when the cache is remote (gs://…)
    info: dict[str, Any]

    @property
    def data(self) -> Path | str:
        return (
            self.dir / "data.parquet" if isinstance(self.dir, Path) else f"{self.dir}/data.parquet"
        )

    @property
    def rows(self) -> int:
        return int(self.info["rows"])


@dataclass(frozen=True)
class Inputs:
    """What a fetch produced: local files to read, and where they came from."""

    files: list[tuple[str, str]]  # (label used in ids and messages, local path)
    origin: dict[str, Any]
    checks: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (reason, what)


def _where(task: Task) -> str:
    return f"task '{task.name}' ({task.file}, {task.key_path}.source)"


def snapshot_key(task: Task) -> str:
    src = task.source
    payload: dict[str, Any] = {"format": FORMAT, "source": src.model_dump()}
    if src.path is not None:  # local inputs: a changed file makes a new snapshot
        payload["inputs"] = [checksum(p) for p in list_files(task)]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_folder(task: Task, cache: Path) -> Path:
    src = task.source
    if src.kind == "niv2":
        name = src.task or Path(src.location).stem.replace("*", "all")
    elif src.repo_id:
        name = "__".join(filter(None, (src.repo_id.replace("/", "__"), src.config, src.split)))
    else:
        name = src.location.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    return cache / "snapshots" / f"{slug}-{snapshot_key(task)}"


def find(task: Task, cache: Path, folder: Path | None = None) -> Snapshot | None:
    folder = folder or snapshot_folder(task, cache)
    info = folder / "snapshot.json"
    if not info.is_file():
        return None
    return Snapshot(task.name, folder, json.loads(info.read_text()))


def take(
    task: Task,
    cache: Path,
    *,
    retry: Retry | None = None,
    note: Note = lambda _: None,
    folder: Path | None = None,
) -> Snapshot:
    """Fetch and normalise one task's source; replaces an existing snapshot only on success."""
    retry = retry or default_retry()
    folder = folder or snapshot_folder(task, cache)
    inputs = _fetch(task, cache, retry, note)
    drops = Drops()
    for reason, what in inputs.skipped:
        drops.add(reason, what)
    for stale in folder.parent.glob(f"{folder.name}.*"):  # left by a killed earlier run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True)
    try:
        rows, fields = _write_parquet(_rows(task, inputs, drops), tmp / "data.parquet", task)
        if rows == 0:
            raise SourceError(
                f"source has zero rows after reading {', '.join(n for n, _ in inputs.files)} "
                f"for {_where(task)}"
                + (f" (dropped: {dict(drops.counts)})" if drops.counts else "")
            )
        info = {
            "kind": task.source.kind,
            "location": task.source.location,
            **inputs.origin,
            "inputs": [
                {"name": name, "sha256": checksum(path), "bytes": size(path)}
                for name, path in inputs.files
            ],
            "rows": rows,
            "fields": fields,
            "sha256": file_sha256(str(tmp / "data.parquet")),
            "dropped": dict(sorted(drops.counts.items())),
            "drop_examples": drops.examples,
            "checks": inputs.checks,
            "flanmix": __version__,
        }
        (tmp / "snapshot.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Snapshot(task.name, folder, info)


def _swap_in(tmp: Path, folder: Path) -> None:
    old = folder.with_name(f"{folder.name}.old{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


# ---- fetching: a location becomes local files ----------------------------------------------


def _fetch(task: Task, cache: Path, retry: Retry, note: Note) -> Inputs:
    src = task.source
    if src.kind == "niv2":
        return _fetch_niv2(task, cache, retry, note)
    if src.repo_id:
        repo = hub.resolve(src.repo_id, src.revision, retry, note)
        _note_pin(repo, note)
        readme = lambda: Path(hub.download(repo, "README.md", retry, note)).read_text()  # noqa: E731
        names = hub.parquet_files(repo, src.config, src.split, src.data_files, readme)
        files = []
        for i, name in enumerate(names, 1):
            note(f"{name} ({i}/{len(names)})")
            files.append((name, hub.download(repo, name, retry, note)))
        return Inputs(files, _hub_origin(repo, src))
    if src.url:
        assert src.sha256 is not None
        path = download(src.url, src.sha256, cache, retry=retry, note=note)
        return Inputs([(src.url.rsplit("/", 1)[-1], str(path))], {"revision": src.sha256})
    paths = list_files(task)
    return Inputs([(_label(p, paths), p) for p in paths], {})


def _note_pin(repo: hub.HubRepo, note: Note) -> None:
    if repo.revision != repo.sha:
        note(
            f"'{repo.revision}' of {repo.repo_id} is commit {repo.sha}: the snapshot keeps it; "
            f"write `revision: {repo.sha}` to pin it in the mixture for every machine"
        )


def _label(path: str, paths: list[str]) -> str:
    common = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(path)
    return os.path.relpath(path, common) if common else path


def _hub_origin(repo: hub.HubRepo, src: SourceSpec) -> dict[str, Any]:
    return {
        "revision": src.revision,
        "resolved_revision": repo.sha,
        "config": src.config,
        "split": src.split,
        "endpoint": hub.endpoint(),
    }


def _fetch_niv2(task: Task, cache: Path, retry: Retry, note: Note) -> Inputs:
    """The task file and the checkout's split lists, from a path, an archive URL or a Hub
    mirror; refuses MMLU-derived tasks and any task the split lists do not call train."""
    src = task.source
    origin: dict[str, Any] = {}
    if src.path is not None:
        files = list_files(task)
        if len(files) > 1 or glob.has_magic(src.path):  # a glob is one task of many files
            return _niv2_files(task, files)
        task_file = files[0]
    elif src.url:
        assert src.sha256 is not None
        archive = download(src.url, src.sha256, cache, retry=retry, note=note)
        checkout = _extracted(archive, cache, note)
        found = sorted(checkout.glob(f"**/tasks/{src.task}.json"))
        if not found:
            known = [f.stem for f in checkout.glob("**/tasks/*.json")]
            raise SourceError(
                f"{src.url} has no tasks/{src.task}.json for {_where(task)}; "
                f"{did_you_mean(str(src.task), known)}"
            )
        task_file = str(found[0])
        origin = {"revision": src.sha256}
    else:
        assert src.repo_id is not None
        repo = hub.resolve(src.repo_id, src.revision, retry, note)
        _note_pin(repo, note)
        wanted = f"tasks/{src.task}.json"
        if wanted not in repo.files:
            known = [posixpath.basename(f)[:-5] for f in repo.files if f.startswith("tasks/")]
            raise SourceError(
                f"Hub dataset {src.repo_id}@{src.revision} has no {wanted} for {_where(task)}; "
                f"{did_you_mean(str(src.task), known)}"
            )
        task_file = hub.download(repo, wanted, retry, note)
        for split in niv2.SPLITS:  # lands beside tasks/ in the Hub cache's snapshot folder
            if f"splits/default/{split}_tasks.txt" in repo.files:
                hub.download(repo, f"splits/default/{split}_tasks.txt", retry, note)
        origin = _hub_origin(repo, src)
    name = posixpath.basename(task_file).removesuffix(".json")
    refusal = _niv2_refusal(task, name, posixpath.dirname(posixpath.dirname(task_file)))
    if refusal:
        raise SourceError(f"{refusal[1]} (remove it from {_where(task)})")
    checks = [f"{name}.json: {c}" for c in niv2.validation_warnings(_niv2_task(task, task_file))]
    return Inputs([(f"{name}.json", task_file)], origin, checks)


def _niv2_files(task: Task, files: list[str]) -> Inputs:
    """Several task files as one task (as Flan's public code treats NIv2): held-out tasks are
    left out and counted instead of refused."""
    kept, checks, skipped = [], [], []
    for path in files:
        name = posixpath.basename(path).removesuffix(".json")
        refusal = _niv2_refusal(task, name, posixpath.dirname(posixpath.dirname(path)))
        if refusal:
            skipped.append((refusal[0], refusal[1]))
            continue
        kept.append((f"{name}.json", path))
        checks += [f"{name}.json: {c}" for c in niv2.validation_warnings(_niv2_task(task, path))]
    return Inputs(kept, {}, checks, skipped)


def _niv2_refusal(task: Task, name: str, checkout: str) -> tuple[str, str] | None:
    """(drop reason, message) when NIv2 task `name` must not be trained on, else None."""
    if niv2.is_mmlu_task(name):
        return "mmlu_task", (
            f"{name} is derived from MMLU (NIv2 tasks 664–667 and 685–737), which Flan holds "
            "out for evaluation"
        )
    if task.source.split == "any":
        return None
    lists = niv2.split_lists(f"{checkout}/splits/default")
    if not lists:
        return "split_unknown", (
            f"no splits/default/*_tasks.txt beside tasks/ in {task.source.location}, so "
            f"{name} cannot be confirmed as a train task; use a full checkout or mirror, or "
            "set `split: any` to take it unchecked"
        )
    in_split = niv2.split_of(name, lists)
    if in_split == "train":
        return None
    listed = f"is in splits/default/{in_split}_tasks.txt" if in_split else "is in no split"
    return "not_train_task", (
        f"{name} {listed}; NIv2 sources take train tasks only, so evaluations stay held out"
    )


def _extracted(archive: Path, cache: Path, note: Note) -> Path:
    """An archive unpacked once next to the downloads (complete when `.done` exists)."""
    out = cache / "extracted" / archive.name.split(".")[0]
    if (out / ".done").is_file():
        return out
    note(f"unpacking {archive.name}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
    else:
        with tarfile.open(archive) as t:
            t.extractall(tmp, filter="data")
    (tmp / ".done").write_text("")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


# ---- reading: local files become (example_id, record) rows --------------------------------


def _rows(task: Task, inputs: Inputs, drops: Drops) -> Iterator[Row]:
    src = task.source
    several = len(inputs.files) > 1

    def of_file(name: str, path: str) -> Iterator[Row]:
        if src.kind == "niv2":
            data = _niv2_task(task, path)
            found: Iterable[Row] = ((r["id"], r) for r in niv2.instances(data, src.outputs))
        elif src.kind == "cot":
            found = cot.iter_cot(path, drops, name)
        else:
            found = (
                (str(i), r) for i, r in enumerate(iter_records(task, path, _format(src, path)))
            )
        for row_id, record in found:  # ids of several files are written file:row
            yield (f"{name}:{row_id}" if several else row_id), record

    rows = renamed_and_filtered(
        (row for name, path in inputs.files for row in of_file(name, path)), src
    )
    if src.kind == "dialog":
        cut = dialog.wiki_dialog if src.style == "wiki_dialog" else dialog.qrecc
        rows = cut(rows, drops, src.id_field)
    elif src.id_field and src.kind != "niv2":
        rows = ((_id_of(task, record), record) for _, record in rows)
    return _reported(rows, task)


def _reported(rows: Iterator[Row], task: Task) -> Iterator[Row]:
    """Malformed data (not UTF-8, a dialog row without its fields) as a SourceError naming the
    task, so it fails this source only."""
    try:
        yield from rows
    except ValueError as e:  # UnicodeDecodeError is one too
        raise SourceError(
            f"{e} for {_where(task)}; fix the data or the source's settings"
        ) from None


def _format(src: SourceSpec, path: str) -> str:
    """The format of a fetched file: the kind's own, `format:`, else by extension (files of
    a Hub repo are Parquet)."""
    if src.format:
        return src.format
    if src.kind in FILE_KINDS:
        return src.kind
    return "parquet" if src.kind == "hub" or path.endswith(".parquet") else "jsonl"


def _niv2_task(task: Task, path: str) -> dict[str, Any]:
    name = Path(path).name
    try:
        with open_path(path, "r", encoding="utf-8") as f:
            return niv2.parse_task(f.read(), name)
    except ValueError as e:
        raise SourceError(f"{name}: {e} for {_where(task)}") from None


def renamed_and_filtered(rows: Iterable[Row], src: SourceSpec) -> Iterator[Row]:
    """The records after the source's `rename` (old name -> new) and `filter` (kept values)."""
    keep = {k: v if isinstance(v, list) else [v] for k, v in src.filter.items()}
    for example_id, record in rows:
        if src.rename:
            record = {src.rename.get(k, k): v for k, v in record.items()}
        if all(record.get(k) in values for k, values in keep.items()):
            yield example_id, record


def _id_of(task: Task, record: dict[str, Any]) -> str:
    field = task.source.id_field
    if field not in record:
        raise SourceError(
            f"records have no id field '{field}' for {_where(task)}; fix `id_field` "
            f"(fields: {', '.join(record)})"
        )
    return str(record[field])


def _write_parquet(rows: Iterable[Row], path: Path, task: Task) -> tuple[int, list[str]]:
    """Rows into one zstd Parquet file, `example_id` first; returns (rows, fields).

    Batches are staged as separate files with their own inferred schemas, then written
    once under the schema that unifies them all: a column that starts out null, appears late
    or widens from int to float keeps every value (memory holds one batch at a time)."""
    parts = path.parent / "parts"
    parts.mkdir()
    staged: list[Path] = []
    total = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            staged.append(parts / f"{len(staged):06d}.parquet")
            pq.write_table(_table(batch, total - len(batch), task), staged[-1])
            batch.clear()

    for example_id, record in rows:
        if "example_id" in record:
            raise SourceError(
                f"the source has its own `example_id` field for {_where(task)}; "
                "rename it with `rename: {example_id: ...}`"
            )
        batch.append({"example_id": example_id, **record})
        total += 1
        if len(batch) == BATCH_ROWS:
            flush()
    flush()
    if not staged:
        shutil.rmtree(parts)
        return 0, []
    schemas = [pq.read_schema(f) for f in staged]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SourceError(
            f"a field holds values of incompatible types in different rows ({e}) for "
            f"{_where(task)}; fix the data, or `rename`/`filter` the column"
        ) from None
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for f in staged:
            table = pq.read_table(f)
            for name in schema.names:  # a column some batches lack is null there
                if name not in table.column_names:
                    table = table.append_column(name, pa.nulls(len(table), schema.field(name).type))
            writer.write_table(table.select(schema.names).cast(schema))
    shutil.rmtree(parts)
    return total, list(schema.names)


def _table(batch: list[dict[str, Any]], first_row: int, task: Task) -> pa.Table:
    try:
        return pa.Table.from_struct_array(pa.array(batch))  # every key of every row
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        bad = next((k for k in batch[0] if not _one_type([r.get(k) for r in batch])), "a field")
        raise SourceError(
            f"column '{bad}' mixes value types within rows {first_row}-{first_row + len(batch)} "
            f"({e}) for {_where(task)}; fix the data, or `rename`/`filter` the column"
        ) from None


def _one_type(values: list[Any]) -> bool:
    try:
        pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


# ---- a mixture's snapshots -------------------------------------------------------------------


@dataclass
class Report:
    snapshots: dict[str, Snapshot]
    failed: dict[str, str]  # task -> why


def _remote(
    task: Task,
    cache: str,
    folder: Path,
    *,
    refresh: bool,
    fetch: bool,
    retry: Retry | None,
    note: Note,
) -> tuple[Snapshot | None, bool]:
    """(snapshot, found) in a remote cache: a snapshot is made in the local `folder`, then its
    data and (last) its snapshot.json are copied up, so workers anywhere can read it."""
    import fsspec

    remote = f"{cache.rstrip('/')}/snapshots/{folder.name}"
    fs, inner = fsspec.core.url_to_fs(remote)
    if not refresh and fs.exists(f"{inner}/snapshot.json"):
        info = json.loads(fs.cat_file(f"{inner}/snapshot.json"))
        return Snapshot(task.name, remote, info), True
    if not fetch:
        return None, False
    local = folder.parent.parent
    made = find(task, local, folder) if not refresh else None
    made = made or take(task, local, retry=retry, note=note, folder=folder)
    note(f"copying the snapshot to {remote}")
    if fs.exists(f"{inner}/snapshot.json"):  # a refresh: never new data beside old info
        fs.rm(f"{inner}/snapshot.json")
    fs.put_file(str(made.data), f"{inner}/data.parquet")
    fs.put_file(f"{made.dir}/snapshot.json", f"{inner}/snapshot.json")
    return Snapshot(task.name, remote, made.info), False


def snapshot_tasks(
    tasks: list[Task],
    cache: Path | str,
    *,
    refresh: bool = False,
    fetch: bool = True,
    retry: Retry | None = None,
    progress: Note = lambda _: None,
) -> Report:
    """Take (or find) every task's snapshot, going on past failures; the caller decides
    whether failures are fatal. `fetch=False` only finds existing snapshots."""
    cache = cache_location(cache)
    report = Report({}, {})
    taken: dict[str, Snapshot] = {}  # tasks sharing a source share its snapshot
    todo = [t for t in tasks if not t.source.in_place]
    for i, task in enumerate(todo, 1):
        step = f"[{i}/{len(todo)}] {task.name}"
        note = functools.partial(_prefixed, progress, step)
        try:
            # The snapshot's folder in the local cache (where a remote one is made first).
            local = default_cache() if isinstance(cache, str) else cache
            folder = snapshot_folder(task, local)
            snap = taken.get(folder.name)
            found = snap is not None
            if snap is None and isinstance(cache, str):  # a remote cache (gs://…)
                snap, found = _remote(
                    task, cache, folder, refresh=refresh, fetch=fetch, retry=retry, note=note
                )
            elif snap is None:
                snap = None if refresh else find(task, local, folder)
                found = snap is not None
                if snap is None and fetch:
                    snap = take(task, local, retry=retry, note=note, folder=folder)
            if snap is None:
                continue
        except FlanmixError as e:
            report.failed[task.name] = str(e)
            progress(f"{step}: FAILED: {e}")
            continue
        except Exception as e:  # a bug or an unforeseen input: fail this source, not the run
            report.failed[task.name] = f"unexpected {type(e).__name__}: {e} (please report it)"
            progress(f"{step}: FAILED: {report.failed[task.name]}")
            continue
        report.snapshots[task.name] = taken[folder.name] = snap
        dropped = sum(snap.info["dropped"].values())
        progress(
            f"{step}: {snap.rows:,} rows"
            + (f", {dropped:,} dropped" if dropped else "")
            + (" (cached)" if found else "")
        )
        for check in snap.info["checks"]:
            progress(f"{step}: check: {check}")
    return report


def _prefixed(progress: Note, step: str, message: str) -> None:
    progress(f"{step}: {message}")


def failure_message(failed: dict[str, str]) -> str:
    lines = "\n".join(f"  {name}: {why}" for name, why in sorted(failed.items()))
    return (
        f"{len(failed)} source(s) failed:\n{lines}\nCompleted snapshots are kept: run again to "
        "resume, or pass --skip-failed-sources to build without these tasks"
    )


def with_snapshots(mixture: Mixture, report: Report) -> Mixture:
    """The mixture reading each snapshotted task from its Parquet file, failed tasks removed."""
    tasks = dict(mixture.tasks)
    for name, snap in report.snapshots.items():
        task = tasks[name]
        tasks[name] = dataclasses.replace(
            task,
            source=SourceSpec(kind="parquet", path=str(snap.data), id_field="example_id"),
            origin=task.source,
            snapshot=snap.info,
        )
    return without_tasks(dataclasses.replace(mixture, tasks=tasks), set(report.failed))


def cache_location(cache: Path | str | None) -> Path | str:
    """The snapshot cache: a local folder, or an fsspec URL (gs://…) kept as a string."""
    if cache is None:
        cache = os.environ.get("FLANMIX_CACHE") or default_cache()
    return str(cache) if "://" in str(cache) else Path(cache)


def prepare_sources(
    mixture: Mixture,
    cache: Path | str | None = None,
    *,
    skip_failed: bool = False,
    progress: Note = lambda _: None,
) -> tuple[Mixture, dict[str, str]]:
    """Snapshots for every task that needs one (taken if missing), as a build reads them.
    Returns the mixture to build and the tasks left out because their source failed (tasks
    marked `optional`, or any with `skip_failed`)."""
    report = snapshot_tasks(list(mixture.tasks.values()), cache_location(cache), progress=progress)
    fatal = {n: why for n, why in report.failed.items() if not mixture.tasks[n].optional}
    if fatal and not skip_failed:
        raise SourceError(failure_message(fatal))
    for name in sorted(set(report.failed) - set(fatal)):
        progress(f"optional task {name} left out: its source failed")
    return with_snapshots(mixture, report), report.failed


def readable(task: Task, cache: Path | str | None = None, progress: Note = lambda _: None) -> Task:
    """A task outside any mixture (an eval set, self-improve questions) as a build would read
    it: itself for files read in place, else reading its snapshot (taken now if missing).
    Raises SourceError with the reason when the snapshot fails."""
    if task.source.in_place:
        return task
    report = snapshot_tasks([task], cache_location(cache), progress=progress)
    snap = report.snapshots.get(task.name)
    if snap is None:
        raise SourceError(report.failed.get(task.name, "no snapshot was taken"))
    return dataclasses.replace(
        task,
        source=SourceSpec(kind="parquet", path=str(snap.data), id_field="example_id"),
        origin=task.source,
        snapshot=snap.info,
    )
