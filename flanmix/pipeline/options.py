"""Runner profiles (beam_pipelines/<name>.yaml) merged with command-line overrides.

A profile names a Beam runner, its pipeline options (`${VAR}` / `${VAR:-default}` read the
environment) and how flanmix reaches remote workers (`stage: wheel` builds and stages a wheel
of this checkout; `stage: none` leaves it to an SDK container image or requirements file).
Every option name is checked against Beam's own list, so a typo fails before a job starts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from flanmix.bundled import bundled_dir, bundled_names
from flanmix.errors import FlanmixError
from flanmix.spec.load import expand_env
from flanmix.spec.models import did_you_mean

PROFILE_KEYS = ("runner", "stage", "options")
STAGES = ("none", "wheel")


@dataclass(frozen=True)
class Setup:
    runner: Any  # an FnApiRunner object, or a runner name
    options: PipelineOptions
    staged: tuple[str, ...]  # packages staged to remote workers

    @property
    def local(self) -> bool:
        return not isinstance(self.runner, str)


@cache
def beam_actions() -> dict[str, argparse.Action]:
    """Every Beam pipeline option's argparse action, by destination and by flag name."""
    parser = argparse.ArgumentParser()
    seen: set[type] = set()
    todo: list[type] = [PipelineOptions]
    while todo:
        cls = todo.pop()
        sub: type
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                sub._add_argparse_args(parser)  # type: ignore[attr-defined]
    out: dict[str, argparse.Action] = {}
    for action in parser._actions:  # a flag's own name wins over a shared destination
        for flag in action.option_strings:
            out.setdefault(flag.lstrip("-"), action)
    for action in parser._actions:
        out.setdefault(action.dest, action)
    return out


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def to_flags(options: dict[str, Any]) -> list[str]:
    """Beam command-line flags: booleans as bare (or `--no_…`) flags, lists one flag each."""
    flags: list[str] = []
    for key, value in options.items():
        action = beam_actions()[key]
        flag = action.option_strings[0] if action.option_strings else f"--{key}"
        if isinstance(action, argparse._StoreTrueAction):
            off = f"no_{key}" in beam_actions() and not _truthy(value)
            flags += [flag] if _truthy(value) else ([f"--no_{key}"] if off else [])
        elif isinstance(action, argparse._StoreFalseAction):  # e.g. --no_use_public_ips
            wanted_off = key.startswith("no_") == _truthy(value)
            flags += [flag] if wanted_off else []
        elif isinstance(value, list):
            flags += [f"{flag}={v}" for v in value]
        else:
            flags.append(f"{flag}={value}")
    return flags


def load_profile(name: str) -> dict[str, Any]:
    path = (
        Path(name)
        if name.endswith((".yaml", ".yml"))
        else bundled_dir("beam_pipelines") / f"{name}.yaml"
    )
    if not path.is_file():
        known = bundled_names("beam_pipelines")
        raise FlanmixError(
            f"unknown runner profile '{name}'; {did_you_mean(name, known)}"
            " (or pass the path of a profile YAML file)"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or "runner" not in data:
        raise FlanmixError(f"{path}: a runner profile needs a `runner:` key")
    for key in data:
        if key not in PROFILE_KEYS:
            raise FlanmixError(f"{path}: unknown key '{key}'; {did_you_mean(key, PROFILE_KEYS)}")
    if data.get("stage", "none") not in STAGES:
        raise FlanmixError(f"{path}: `stage` must be one of {', '.join(STAGES)}")
    options = data.get("options") or {}
    check_option_names(options, str(path))
    try:
        data["options"] = {
            k: expand_env(v) if isinstance(v, str) else v for k, v in options.items()
        }
    except KeyError as e:
        raise FlanmixError(
            f"{path}: environment variable {e.args[0]} is not set; export it, or give the "
            f"option with --option"
        ) from None
    return data


def check_option_names(options: dict[str, Any], where: str) -> None:
    known = beam_actions()
    unknown = [k for k in options if k not in known]
    if unknown:
        hints = "; ".join(f"'{k}': {did_you_mean(k, sorted(known))}" for k in unknown)
        raise FlanmixError(f"{where}: unknown Beam pipeline option(s) {hints}")


def parse_overrides(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FlanmixError(f"--option '{item}' must look like key=value")
        out[key.strip().lstrip("-")] = value
    check_option_names(out, "--option")
    return out


def pipeline_setup(
    profile: str,
    workers: int = 1,
    overrides: dict[str, str] | None = None,
    *,
    wheel_dir: Path | None = None,
) -> Setup:
    """The runner, its pipeline options and the packages staged to its workers."""
    data = load_profile(profile)
    options: dict[str, Any] = dict(data.get("options") or {})
    if workers > 1:
        options.update(direct_running_mode="multi_processing", direct_num_workers=workers)
    options.update(overrides or {})
    runner = data["runner"]
    if runner == "DataflowRunner":
        _require_gcp()
    staged: list[str] = []
    if data.get("stage") == "wheel" and "extra_packages" not in options:
        from flanmix.sources.snapshot import default_cache

        staged.append(str(build_wheel(wheel_dir or default_cache() / "wheels")))
        options["extra_packages"] = staged[-1]
    elif "extra_packages" in options:
        staged.append(str(options["extra_packages"]))
    flags = to_flags(options)
    if runner != "FnApiRunner":
        flags.insert(0, f"--runner={runner}")
    parsed = PipelineOptions(flags)
    try:
        parsed.get_all_options()  # argparse exits on a bad value: report it instead
    except SystemExit:
        raise FlanmixError(
            f"profile {profile}: Beam does not accept these options: {' '.join(flags)}"
        ) from None
    runner_obj = FnApiRunner() if runner == "FnApiRunner" else runner
    return Setup(runner_obj, parsed, tuple(staged) if runner != "FnApiRunner" else ())


def _require_gcp() -> None:
    try:
        import apache_beam.io.gcp.gcsio  # noqa: F401
        import google.cloud.storage  # noqa: F401
    except ImportError:
        raise FlanmixError(
            "the dataflow runner needs Beam's Google Cloud extra: pip install 'flanmix[dataflow]'"
        ) from None


def build_wheel(out: Path) -> Path:
    """A wheel of the flanmix checkout this code runs from, for remote workers to install."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise FlanmixError(
            "`stage: wheel` builds a wheel of a flanmix checkout, but flanmix is installed "
            f"from {root}; set `--option extra_packages=PATH/flanmix-*.whl` or use an SDK "
            "container image with `stage: none`"
        )
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "-q", "-w", str(out), str(root)], capture_output=True, text=True
    )
    wheels = sorted(out.glob("flanmix-*.whl"), key=lambda p: p.stat().st_mtime)
    if done.returncode or not wheels:
        raise FlanmixError(f"building the flanmix wheel failed: {done.stderr.strip()[-400:]}")
    return wheels[-1]
