"""Study specs: a TOML file of steps (a command or a ``module:function``), samples and
dependencies, checked whole before anything is queued.

```toml
[study]
name = "resonance"
workspace = "runs/resonance"          # relative to the spec file
samples_csv = "samples.csv"           # or [study.samples] below
[study.samples]
field = [0.1, 0.2, 0.3]               # lists and ranges, combined in every way
n = { range = [0, 10, 5] }

[steps.calibrate]
python = "mylab.steps:calibrate"
foreach = false                        # one run, not one per sample
[steps.sweep]
command = "python {workspace}/sweep.py --field {field} --out {run_dir}/out.txt"
depends = ["calibrate"]
retries = 2
retry_on = ["OSError"]
[steps.analyse]
python = "mylab.steps:analyse"
parameters = { path = "{run_dir}/../../sweep/{series}/out.txt" }
depends = ["sweep"]
on_failure = "continue"
isolate = true                         # a process of its own (commands always have one)
```

Command steps run on the process lane, several at once; Python steps on the
instrument lane, one at a time, unless ``isolate = true``.

Errors are :class:`SpecError`: the file, the line and the name at fault.
"""

from __future__ import annotations

import builtins
import csv
import hashlib
import importlib
import itertools
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import FAILURE_POLICIES
from .steps import template_keys

__all__ = ["SpecError", "StepSpec", "StudySpec", "load_spec"]

_STEP_KEYS = {
    "python",
    "command",
    "parameters",
    "foreach",
    "depends",
    "on_failure",
    "retries",
    "retry_delay",
    "retry_on",
    "isolate",
}
#: Context keys every step has, besides the samples' own.
BUILTIN_KEYS = ("run_dir", "workspace", "series", "step", "study")


class SpecError(ValueError):
    """A study spec that cannot run: ``path``, ``line`` (1-based, or None) and ``name`` at fault."""

    def __init__(self, path: Path, line: int | None, name: str, message: str) -> None:
        self.path, self.line, self.name = path, line, name
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {name}: {message}")


@dataclass
class StepSpec:
    """One step of a spec."""

    name: str
    python: str | None = None
    func: Callable | None = None
    command: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    foreach: bool = True
    depends: list[str] = field(default_factory=list)
    on_failure: str = "skip"
    retries: int = 0
    retry_delay: float = 0.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    isolate: bool = False


@dataclass
class StudySpec:
    """A checked spec: the study's name and workspace, its samples and its steps in an
    order where every step comes after those it depends on."""

    path: Path
    name: str
    workspace: Path
    samples: list[dict[str, Any]]
    steps: list[StepSpec]
    digest: str

    def step(self, name: str) -> StepSpec:
        return next(step for step in self.steps if step.name == name)


class _Lines:
    """Finds the line of a table or a key in the spec's text (tomllib gives none)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def of_table(self, table: str) -> int | None:
        dotted = r"\s*\.\s*".join(re.escape(part) for part in table.split("."))
        pattern = re.compile(r"^\s*\[\s*" + dotted + r"\s*\]")
        return next((n for n, line in enumerate(self._lines, 1) if pattern.match(line)), None)

    def of_key(self, table: str, key: str) -> int | None:
        start = self.of_table(table)
        if start is None:
            return None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(start, len(self._lines)):
            if self._lines[n].lstrip().startswith("["):
                break
            if pattern.match(self._lines[n]):
                return n + 1
        return start


def load_spec(path: str | Path) -> StudySpec:
    """Read and check the spec at ``path``.

    Raises SpecError for a file that cannot be read or parsed, an unknown key, a
    step with neither or both of command and python, a command line that does not
    split (unbalanced quotes), ``isolate`` that is not a boolean or is on a command
    step, an entry point that cannot be imported, an unknown step in ``depends``, a
    cycle, a bad failure policy or retry setting, a template key that no sample or
    built-in provides, and bad samples.
    """
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise SpecError(path, None, "file", exc.strerror or str(exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise SpecError(path, int(line.group(1)) if line else None, "toml", str(exc)) from exc
    lines = _Lines(text)
    study = data.get("study", {})
    name = study.get("name") or path.stem
    workspace = (path.parent / study.get("workspace", f"{name}_workspace")).resolve()
    samples = _samples(path, lines, study)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise SpecError(path, None, "steps", "the spec has no [steps.NAME] tables")
    steps = [_step(path, lines, step_name, raw) for step_name, raw in raw_steps.items()]
    known_keys = set(BUILTIN_KEYS) | {key for sample in samples[:1] for key in sample}
    for step in steps:
        _check_templates(path, lines, step, known_keys)
    ordered = _ordered(path, lines, steps)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return StudySpec(path, name, workspace, samples, ordered, digest)


def _samples(path: Path, lines: _Lines, study: dict) -> list[dict[str, Any]]:
    if "samples_csv" in study:
        csv_path = path.parent / study["samples_csv"]
        try:
            with open(csv_path, newline="", encoding="utf-8") as file:
                return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(file)]
        except OSError as exc:
            raise SpecError(path, lines.of_key("study", "samples_csv"), "samples_csv", str(exc)) from exc
    axes = {}
    for key, values in study.get("samples", {}).items():
        if isinstance(values, dict) and set(values) == {"range"}:
            try:
                values = list(range(*values["range"]))
            except TypeError as exc:
                raise SpecError(path, lines.of_key("study.samples", key), key, f"bad range: {exc}") from exc
        if not isinstance(values, list) or not values:
            raise SpecError(path, lines.of_key("study.samples", key), key, "samples must be a non-empty list or range")
        axes[key] = values
    if not axes:
        return [{}]
    return [dict(zip(axes, combination, strict=True)) for combination in itertools.product(*axes.values())]


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _step(path: Path, lines: _Lines, name: str, raw: Any) -> StepSpec:
    table = f"steps.{name}"
    line = lines.of_table(table)
    if not isinstance(raw, dict):
        raise SpecError(path, line, name, "a step must be a table")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(path, lines.of_key(table, key), key, f"unknown key in step {name!r}")
    if ("python" in raw) == ("command" in raw):
        raise SpecError(path, line, name, "a step needs exactly one of 'command' and 'python'")
    step = StepSpec(
        name,
        command=raw.get("command"),
        parameters=dict(raw.get("parameters", {})),
        foreach=bool(raw.get("foreach", True)),
        depends=list(raw.get("depends", [])),
        on_failure=raw.get("on_failure", "skip"),
        retries=int(raw.get("retries", 0)),
        retry_delay=float(raw.get("retry_delay", 0.0)),
        isolate=raw.get("isolate", False),
    )
    if step.command is not None:
        try:
            shlex.split(step.command)
        except ValueError as exc:
            raise SpecError(path, lines.of_key(table, "command"), name, f"bad command line: {exc}") from exc
    if not isinstance(step.isolate, bool):
        raise SpecError(path, lines.of_key(table, "isolate"), name, "isolate must be true or false")
    if step.isolate and step.command is not None:
        message = "isolate is for python steps: a command always runs in its own process"
        raise SpecError(path, lines.of_key(table, "isolate"), name, message)
    if step.on_failure not in FAILURE_POLICIES:
        raise SpecError(
            path, lines.of_key(table, "on_failure"), step.on_failure, f"on_failure must be one of {FAILURE_POLICIES}"
        )
    if step.retries < 0 or step.retry_delay < 0:
        raise SpecError(path, lines.of_key(table, "retries"), name, "retries and retry_delay must be >= 0")
    if "retry_on" in raw:
        step.retry_on = tuple(_exception_class(path, lines.of_key(table, "retry_on"), n) for n in raw["retry_on"])
    if "python" in raw:
        step.python = raw["python"]
        step.func = _entry_point(path, lines.of_key(table, "python"), step.python)
    return step


def _exception_class(path: Path, line: int | None, name: str) -> type[BaseException]:
    found = getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise SpecError(path, line, name, "not a built-in exception class")
    return found


def _entry_point(path: Path, line: int | None, entry: str) -> Callable:
    module_name, _, func_name = entry.partition(":")
    if not module_name or not func_name:
        raise SpecError(path, line, entry, "an entry point is 'module:function'")
    try:
        module = _import_beside(path.parent, module_name)
    except ImportError as exc:
        raise SpecError(path, line, entry, f"cannot import {module_name}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SpecError(path, line, entry, f"{module_name} has no function {func_name}")
    return func


def _import_beside(folder: Path, module_name: str) -> Any:
    """Import ``module_name``; one that is not installed but lies beside the spec
    (``steps.py`` or a ``steps/`` package) is imported from there, as ``python FILE``
    finds the modules beside its script. The folder goes at the end of ``sys.path``,
    so it never hides an installed module, and stays there so that the journal can
    load the steps' calls again."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.partition(".")[0]
        beside = (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()
        if exc.name != top or not beside:
            raise
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    return importlib.import_module(module_name)


def _check_templates(path: Path, lines: _Lines, step: StepSpec, known: set[str]) -> None:
    table = f"steps.{step.name}"
    texts = [("command", step.command)] if step.command else []
    texts += [(f"parameters.{key}", value) for key, value in step.parameters.items() if isinstance(value, str)]
    for key, text in texts:
        for template_key in template_keys(text):
            if template_key not in known:
                line = lines.of_key(table, key.split(".")[0])
                raise SpecError(
                    path,
                    line,
                    template_key,
                    f"unknown template key in {key} of step {step.name!r} (known: {', '.join(sorted(known))})",
                )


def _ordered(path: Path, lines: _Lines, steps: list[StepSpec]) -> list[StepSpec]:
    """Steps in dependency order; SpecError for an unknown dependency or a cycle."""
    by_name = {step.name: step for step in steps}
    for step in steps:
        for dependency in step.depends:
            if dependency not in by_name:
                raise SpecError(
                    path,
                    lines.of_key(f"steps.{step.name}", "depends"),
                    dependency,
                    f"unknown step in {step.name}.depends",
                )
    ordered: list[StepSpec] = []
    state: dict[str, str] = {}

    def visit(step: StepSpec, trail: list[str]) -> None:
        if state.get(step.name) == "done":
            return
        if state.get(step.name) == "visiting":
            cycle = trail[trail.index(step.name) :] + [step.name]
            raise SpecError(
                path, lines.of_key(f"steps.{step.name}", "depends"), step.name, f"cycle: {' -> '.join(cycle)}"
            )
        state[step.name] = "visiting"
        for dependency in step.depends:
            visit(by_name[dependency], [*trail, step.name])
        state[step.name] = "done"
        ordered.append(step)

    for step in steps:
        visit(step, [])
    return ordered
