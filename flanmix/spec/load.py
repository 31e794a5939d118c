"""Load a mixture file (and everything it includes and names) into a resolved `Mixture`.

Nothing here reads source data: a mixture is validated before any data is touched.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flanmix.bundled import bundled_dir, bundled_names
from flanmix.errors import SpecError
from flanmix.spec.models import (
    CollectionSpec,
    DecontaminationSettings,
    EvalSetSpec,
    ExcludeSpec,
    FamilySpec,
    FewShotSettings,
    FixedRate,
    MixtureSpec,
    OptionsSettings,
    ProportionalRate,
    SourceSpec,
    TotalEpoch,
    did_you_mean,
)
from flanmix.spec.yamlfile import KeyPath, YamlDoc, format_path, load_yaml

M = TypeVar("M", bound=BaseModel)
Rate = ProportionalRate | FixedRate
Leaf = tuple[str, str]  # (task, template type)


@dataclass(frozen=True)
class Task:
    """One task of the mixture with its source resolved to absolute paths."""

    name: str
    collection: str
    task_source: str
    family: str
    source: SourceSpec
    root: str
    rate: Rate
    license: str | None
    file: str
    key_path: str
    templates_line: int | None = None  # where errors about the task's family point
    root_note: str = "the mixture file's folder"  # where `root` came from, for errors
    inverted: bool = False
    optional: bool = False  # left out, not fatal, when its source fails
    fewshot: FewShotSettings = field(default_factory=FewShotSettings)
    options: OptionsSettings = field(default_factory=OptionsSettings)
    origin: SourceSpec | None = None  # the source as written, once `source` reads a snapshot
    snapshot: dict[str, Any] | None = None  # the snapshot's record (rows, revision, checksums)

    def source_pattern(self) -> str:
        """The source's path (rooted unless it is an fsspec URL), else its URL or Hub repo."""
        path = self.source.path
        if path is None:
            return self.source.location
        return path if "://" in path else str(Path(self.root) / path)


@dataclass(frozen=True)
class Group:
    """A weighted node of the mixture tree: either weighted members or leaves with raw rates."""

    name: str
    members: tuple[tuple[float, Group], ...] = ()
    leaves: tuple[Leaf, ...] = ()


@dataclass(frozen=True)
class Family:
    spec: FamilySpec
    doc: YamlDoc


@dataclass(frozen=True)
class EvalSet:
    """A held-out eval set to decontaminate against. Its source is read like a task's (a
    snapshot unless it is files read in place), so `source` is a Task of collection `eval`."""

    name: str
    source: Task
    fields: tuple[str, ...] | None  # None: every string field, and lists of strings
    note: str = ""  # e.g. that a registry entry is unverified


@dataclass(frozen=True)
class Hygiene:
    """Deduplication and decontamination of the rendered rows (see flanmix/hygiene/)."""

    dedup: str = "none"  # none | task | mixture
    eval_sets: tuple[EvalSet, ...] = ()
    decontamination: DecontaminationSettings = field(default_factory=DecontaminationSettings)

    @property
    def active(self) -> bool:
        return self.dedup != "none" or bool(self.eval_sets)


@dataclass
class Mixture:
    name: str
    file: str
    seed: int
    epoch: str | TotalEpoch
    description: str
    tree: Group
    epoch_line: int | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)
    hygiene: Hygiene = field(default_factory=Hygiene)
    excluded: dict[str, str] = field(default_factory=dict)  # task -> the rule that left it out

    def leaves(self) -> list[Leaf]:
        out: list[Leaf] = []

        def walk(g: Group) -> None:
            out.extend(g.leaves)
            for _, member in g.members:
                walk(member)

        walk(self.tree)
        return sorted(set(out))

    def collections(self) -> list[str]:
        return sorted({t.collection for t in self.tasks.values()})


def validate_doc(model: type[M], doc: YamlDoc) -> M:
    """Validate YAML data against a model, turning the first error into a SpecError with a line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = err["loc"][:-1] if err["type"] == "missing" else err["loc"]
        path: KeyPath = tuple(p for p in loc if _is_key_in(doc.data, loc, p))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = f"missing required key '{err['loc'][-1]}'"
        # Point at the offending key itself when the message names it ('unknown key X', ...).
        node = _get(doc.data, path)
        quoted = re.findall(r"'([^']+)'", msg)
        if isinstance(node, dict) and quoted and quoted[0] in node:
            path = (*path, quoted[0])
        return _raise(msg, doc, path)


def _raise(msg: str, doc: YamlDoc, path: KeyPath, hint: str | None = None) -> Any:
    raise SpecError(msg, file=doc.file, path=format_path(path), line=doc.line_of(path), hint=hint)


def _get(data: Any, path: KeyPath) -> Any:
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _is_key_in(data: Any, loc: tuple[Any, ...], part: Any) -> bool:
    """pydantic locations include union tags ('proportional'); keep only real keys/indexes."""
    node = data
    for p in loc:
        if isinstance(node, dict) and p in node:
            if p == part:
                return True
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            if p == part:
                return True
            node = node[p]
    return False


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Expand ${VAR} and ${VAR:-default}; an unset VAR without default is an error."""

    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value:
            return value
        if m.group(2) is not None:
            return m.group(2)
        raise KeyError(m.group(1))

    return _ENV.sub(sub, text)


def resolve_mixture_path(name_or_path: str) -> Path:
    """A path to a YAML file, or the name of a bundled mixture."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or os.sep in name_or_path:
        if not p.is_file():
            raise SpecError(
                f"mixture file not found: {name_or_path}",
                hint="check the path, or give the name of a bundled mixture",
            )
        return p
    candidate = bundled_dir("mixtures") / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    names = bundled_names("mixtures")
    raise SpecError(
        f"unknown mixture '{name_or_path}'",
        hint=f"{did_you_mean(name_or_path, names)} Or pass the path of a mixture YAML file",
    )


def load_mixture(name_or_path: str, template_dirs: tuple[str, ...] = ()) -> Mixture:
    """Load, validate and resolve a mixture and every mixture and template family it names."""
    path = resolve_mixture_path(name_or_path)
    tasks: dict[str, Task] = {}
    family_dirs: dict[str, list[Path]] = {}
    excluded: dict[str, str] = {}
    tree, spec, doc = _load_tree(path, tasks, family_dirs, stack=(), excluded=excluded)
    mixture = Mixture(
        name=spec.name,
        file=str(path),
        seed=spec.seed,
        epoch=spec.epoch,
        description=spec.description,
        tree=tree,
        epoch_line=doc.lines.get(("epoch",)),
        tasks=tasks,
        hygiene=_hygiene(spec, doc, _resolve_root(spec, doc, path)),
        excluded=dict(sorted(excluded.items())),
    )
    used = {task for task, _ in mixture.leaves()}  # only_template_types may leave some out
    mixture.tasks = {n: t for n, t in tasks.items() if n in used}
    # A task one included file excludes may still come in through another.
    mixture.excluded = {n: why for n, why in mixture.excluded.items() if n not in used}
    extra = [Path(d) for d in template_dirs]
    for family, dirs in sorted(family_dirs.items()):
        users = [t for t in mixture.tasks.values() if t.family == family]
        if users:
            mixture.families[family] = load_family(
                family, [*extra, *dirs, bundled_dir("templates")], users=users
            )
    _check_template_ids(mixture)
    return mixture


def _load_tree(
    path: Path,
    tasks: dict[str, Task],
    family_dirs: dict[str, list[Path]],
    stack: tuple[str, ...],
    excluded: dict[str, str],
) -> tuple[Group, MixtureSpec, YamlDoc]:
    resolved = str(path.resolve())
    doc = load_yaml(path)
    spec = validate_doc(MixtureSpec, doc)
    if stack:
        _no_hygiene(spec, doc, Path(stack[0]))
    root = _resolve_root(spec, doc, path)
    root_note = (
        f"set by `root: {spec.root}` in {path}; a relative root starts at the current folder"
        if spec.root
        else "the mixture file's folder"
    )
    templates_dir = (path.parent / spec.templates_dir) if spec.templates_dir else None
    members: list[tuple[float, Group]] = []
    for name, weight in spec.include.items():
        sub_path = _included_path(name, path, doc)
        chain = (*stack, resolved, str(sub_path.resolve()))
        if chain[-1] in chain[:-1]:
            cycle = " -> ".join(Path(c).stem for c in chain[chain.index(chain[-1]) :])
            _raise(
                f"mixtures include each other in a cycle: {cycle}",
                doc,
                ("include", name),
                hint="remove one of the includes",
            )
        sub_tree, _, _ = _load_tree(sub_path, tasks, family_dirs, (*stack, resolved), excluded)
        members.append((weight, sub_tree))
    for cname, coll in spec.collections.items():
        default_rate = coll.rate
        for tname, tspec in coll.tasks.items():
            key_path = f"collections.{cname}.tasks.{tname}"
            task = Task(
                name=tname,
                collection=cname,
                task_source=coll.task_source or cname,
                family=tspec.templates,
                source=tspec.source,
                root=str(root),
                rate=tspec.rate or default_rate,
                license=tspec.license,
                file=str(path),
                key_path=key_path,
                templates_line=doc.line_of(("collections", cname, "tasks", tname, "templates")),
                root_note=root_note,
                inverted=tspec.inverted,
                optional=tspec.optional,
                fewshot=_rooted_tokenizer(coll.fewshot, root),
                options=coll.options,
            )
            if tname in tasks and _task_identity(tasks[tname]) != _task_identity(task):
                other = tasks[tname]
                _raise(
                    f"task '{tname}' is also defined differently in {other.file} at "
                    f"{other.key_path}",
                    doc,
                    ("collections", cname, "tasks", tname),
                    hint="task names must be unique across a mixture; rename one",
                )
            tasks[tname] = task
            dirs = family_dirs.setdefault(tspec.templates, [])
            if templates_dir and templates_dir not in dirs:
                dirs.insert(0, templates_dir)
        # A few-shot template type has one leaf per few-shot format, side by side in its group.
        type_groups = tuple(
            (
                w,
                Group(
                    name=f"{cname}/{tt}",
                    leaves=tuple((t, lt) for t in coll.tasks for lt in leaf_types(tt, coll)),
                ),
            )
            for tt, w in coll.template_types.items()
        )
        members.append((coll.weight, Group(name=cname, members=type_groups)))
    tree = Group(name=spec.name, members=tuple(members))
    if spec.only_template_types:  # applies to what this file includes too
        wanted = set(spec.only_template_types)
        pruned = _prune(tree, lambda leaf: parse_leaf_type(leaf[1])[0] in wanted)
        if pruned is None:
            _raise(
                f"no leaf has one of the template types {spec.only_template_types}",
                doc,
                ("only_template_types",),
            )
        tree = pruned or tree
    rule = _exclusion(spec.exclude)
    if rule is not None:
        left_out = {t for t, _ in _leaves_of(tree) if rule(tasks[t])}
        pruned = _prune(tree, lambda leaf: leaf[0] not in left_out)
        if pruned is None:
            _raise("`exclude` leaves no task in this mixture", doc, ("exclude",))
        tree = pruned or tree
        excluded.update({t: rule(tasks[t]) or "" for t in left_out})
    return tree, spec, doc


def _leaves_of(g: Group) -> list[Leaf]:
    return [*g.leaves, *(leaf for _, m in g.members for leaf in _leaves_of(m))]


def _niv2_ids(items: list[int | str]) -> list[tuple[int, int]]:
    ranges = []
    for item in items:
        lo, _, hi = str(item).replace(" ", "").partition("-")
        ranges.append((int(lo), int(hi or lo)))
    return ranges


def _exclusion(ex: ExcludeSpec) -> Callable[[Task], str | None] | None:
    """A function naming the rule that excludes a task (None when none does)."""
    if not (ex.tasks or ex.niv2_ids or ex.datasets):
        return None
    ranges = _niv2_ids(ex.niv2_ids)

    def rule(task: Task) -> str | None:
        for pattern in ex.tasks:
            if fnmatch.fnmatchcase(task.name, pattern):
                return f"exclude.tasks: {pattern}"
        m = re.match(r"task(\d+)_", task.name)
        if m and any(lo <= int(m.group(1)) <= hi for lo, hi in ranges):
            return f"exclude.niv2_ids: task {int(m.group(1))}"
        # A source dataset shows in NIv2's task names (task846_pubmedqa_…) and in Hub repo ids,
        # as whole words: `copa` is not `trianglecopa`.
        where = _tokens(f"{task.name} {(task.origin or task.source).location}")
        for name in ex.datasets:
            want = _tokens(name)
            if any(where[i : i + len(want)] == want for i in range(len(where))):
                return f"exclude.datasets: {name}"
        return None

    return rule


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


HYGIENE_KEYS = ("dedup", "decontaminate", "decontamination")


def _no_hygiene(spec: MixtureSpec, doc: YamlDoc, top: Path) -> None:
    """Hygiene applies to a whole build, so it is set once, in the mixture being built."""
    for key in HYGIENE_KEYS:
        if key in spec.model_fields_set:
            _raise(
                f"`{key}` is set in an included mixture",
                doc,
                (key,),
                hint=f"hygiene settings apply to the whole build: move `{key}` to {top}",
            )


def _hygiene(spec: MixtureSpec, doc: YamlDoc, root: Path) -> Hygiene:
    from flanmix.hygiene.evalsets import lookup

    sets: list[EvalSet] = []
    for i, entry in enumerate(spec.decontaminate):
        note = ""
        if isinstance(entry, str):
            try:
                entry, note = lookup(entry)
            except LookupError as e:
                where = ("decontaminate", i)
                raise SpecError(
                    str(e), file=doc.file, path=format_path(where), line=doc.line_of(where)
                ) from None
        if any(s.name == entry.name for s in sets):
            _raise(f"eval set '{entry.name}' is listed twice", doc, ("decontaminate", i))
        sets.append(eval_set(entry, root, str(doc.file), f"decontaminate.{i}", note))
    return Hygiene(spec.dedup, tuple(sets), spec.decontamination)


def source_task(
    name: str, collection: str, source: SourceSpec, root: Path, file: str, key_path: str
) -> Task:
    """A source outside any mixture tree (an eval set, self-improve questions) as a Task, so
    it is read, snapshotted and reported by the same code as a task's."""
    return Task(
        name=name,
        collection=collection,
        task_source=collection,
        family="",
        source=source,
        root=str(root),
        rate=ProportionalRate(),
        license=None,
        file=file,
        key_path=key_path,
    )


def eval_set(entry: EvalSetSpec, root: Path, file: str, key_path: str, note: str = "") -> EvalSet:
    """An eval set whose source is read like a task's (relative paths under `root`)."""
    source = source_task(f"eval.{entry.name}", "eval", entry.source, root, file, key_path)
    return EvalSet(entry.name, source, tuple(entry.fields) if entry.fields else None, note)


def _rooted_tokenizer(fewshot: FewShotSettings, root: Path) -> FewShotSettings:
    """A tokenizer file given by a relative path is found like sources: under the root."""
    spec = fewshot.tokenizer
    if spec in ("whitespace", "characters") or Path(spec).expanduser().is_absolute():
        return fewshot
    return fewshot.model_copy(update={"tokenizer": str(root / spec)})


def leaf_types(template_type: str, coll: CollectionSpec) -> list[str]:
    if not template_type.startswith("fs_"):
        return [template_type]
    return [make_leaf_type(template_type, fmt) for fmt in coll.fewshot.formats_for(template_type)]


def make_leaf_type(template_type: str, fewshot_format: str | None) -> str:
    """A leaf's type: the template type, plus the few-shot format unless it is the template mix
    (so `fs_opt` is the 5-shot template mix and `fs_opt+x_shot` the x-shot leaf)."""
    if fewshot_format in (None, "template_mix"):
        return template_type
    return f"{template_type}+{fewshot_format}"


def parse_leaf_type(leaf_type: str) -> tuple[str, str | None]:
    """(template type, few-shot format or None for zero-shot)."""
    template_type, _, fmt = leaf_type.partition("+")
    if not template_type.startswith("fs_"):
        return template_type, None
    return template_type, fmt or "template_mix"


def _included_path(name: str, path: Path, doc: YamlDoc) -> Path:
    """A .yaml path relative to the including file, else a sibling file or a bundled mixture."""
    if name.endswith((".yaml", ".yml")):
        sub = Path(name) if Path(name).is_absolute() else path.parent / name
        if not sub.is_file():
            _raise(f"included mixture file not found: {sub}", doc, ("include", name))
        return sub
    sibling = path.parent / f"{name}.yaml"
    if sibling.is_file():
        return sibling
    try:
        return resolve_mixture_path(name)
    except SpecError as e:
        return _raise(f"cannot include '{name}': {e}", doc, ("include", name))


def without_tasks(mixture: Mixture, names: set[str]) -> Mixture:
    """The mixture without these tasks' leaves; groups left empty disappear with them."""
    if not names:
        return mixture
    return prune_leaves(mixture, lambda leaf: leaf[0] not in names, f"without {sorted(names)}")


def _prune(g: Group, keep: Callable[[Leaf], bool]) -> Group | None:
    """The group with only the leaves `keep` accepts; None when nothing is left."""
    leaves = tuple(leaf for leaf in g.leaves if keep(leaf))
    members = tuple((w, m) for w, m in ((w, _prune(m, keep)) for w, m in g.members) if m)
    if not leaves and not members:
        return None
    return Group(g.name, members, leaves)


def prune_leaves(mixture: Mixture, keep: Callable[[Leaf], bool], why: str) -> Mixture:
    """The mixture with only the leaves `keep` accepts; empty groups and tasks are dropped."""
    tree = _prune(mixture.tree, keep)
    if tree is None:
        raise SpecError(f"mixture {mixture.name} has no leaf left {why}", file=mixture.file)
    pruned = dataclasses.replace(mixture, tree=tree)
    used = {task for task, _ in pruned.leaves()}
    pruned.tasks = {n: t for n, t in mixture.tasks.items() if n in used}
    return pruned


def _task_identity(t: Task) -> tuple[Any, ...]:
    return (
        t.collection,
        t.family,
        t.source,
        t.source_pattern(),
        t.rate,
        t.inverted,
        t.fewshot,
        t.options,
    )


def _resolve_root(spec: MixtureSpec, doc: YamlDoc, path: Path) -> Path:
    if spec.root is None:
        return path.parent.resolve()
    try:
        root = Path(expand_env(spec.root)).expanduser()
    except KeyError as e:
        return _raise(
            f"environment variable {e.args[0]} is not set",
            doc,
            ("root",),
            hint=f"export {e.args[0]}=... or write a default: ${{{e.args[0]}:-path}}",
        )
    return root if root.is_absolute() else (Path.cwd() / root).resolve()


def load_family(name: str, dirs: list[Path], users: list[Task] | None = None) -> Family:
    """Find `<name>.yaml` in the first folder that has it and validate it."""
    for d in dirs:
        candidate = d / f"{name}.yaml"
        if candidate.is_file():
            doc = load_yaml(candidate)
            spec = validate_doc(FamilySpec, doc)
            if spec.family != name:
                _raise(
                    f"family '{spec.family}' must match its file name '{name}'",
                    doc,
                    ("family",),
                    hint=f"rename the file or set `family: {name}`",
                )
            return Family(spec=spec, doc=doc)
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    user = users[0] if users else None
    raise SpecError(
        f"template family '{name}' not found in {', '.join(str(d) for d in dirs)}",
        file=user.file if user else None,
        path=f"{user.key_path}.templates" if user else None,
        line=user.templates_line if user else None,
        hint=did_you_mean(name, known),
    )


def _check_template_ids(mixture: Mixture) -> None:
    seen: dict[str, str] = {}
    for fam in mixture.families.values():
        for i, t in enumerate(fam.spec.templates):
            if t.id in seen and seen[t.id] != fam.spec.family:
                _raise(
                    f"template id '{t.id}' is also used in family '{seen[t.id]}'",
                    fam.doc,
                    ("templates", i, "id"),
                    hint="template ids must be unique across families",
                )
            seen[t.id] = fam.spec.family
