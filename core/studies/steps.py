"""Steps: one Python call or command run in its own run directory, templated from a context.

This is the small interface studies need from command runs: a step runs a callable
or a command (through :mod:`subprocess`) in its run directory and, when it
succeeds, writes the completion marker :data:`FINISHED_MARKER` there, so a restart
can tell finished work from the rest. When the command-runs lane exists, a
:class:`StepCall` for a command is what gets handed to it instead.

:class:`StepFactory` builds chains of steps for many series at once, after PYME's
``RuleFactory``: ``StepFactory(...).chain(StepFactory(...))`` (or ``on_completion=``),
then ``get_step(context)`` fills the templated inputs (``{run_dir}``, ``{series}``, any
context key; PYME's ``{{key}}`` too) and :meth:`Step.push` queues the linked chain.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Experiment, ExperimentQueue, Link

__all__ = [
    "FINISHED_MARKER",
    "CommandFailed",
    "Step",
    "StepCall",
    "StepFactory",
    "TemplateKeyError",
    "fill_template",
    "is_finished",
    "template_keys",
]

#: Written in a run directory when its step has succeeded.
FINISHED_MARKER = "LABQUEUE_FINISHED"

# {key} or PYME's {{key}}; a key is a Python identifier.
_TEMPLATE_KEY = re.compile(r"\{\{(\w+)\}\}|\{(\w+)\}")


class TemplateKeyError(KeyError):
    """A template names a key its context does not have."""

    def __init__(self, key: str, template: str) -> None:
        super().__init__(key)
        self.key, self.template = key, template

    def __str__(self) -> str:
        return f"unknown template key {{{self.key}}} in {self.template!r}"


class CommandFailed(RuntimeError):
    """A step's command exited with a non-zero status."""


def template_keys(template: str) -> list[str]:
    """The keys ``template`` names, in order."""
    return [double or single for double, single in _TEMPLATE_KEY.findall(template)]


def fill_template(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every ``{key}`` / ``{{key}}`` in its strings replaced from ``context``
    (lists and dicts are filled item by item; other values are returned as they are).

    A string that is exactly one key gets the context value itself, not its text, so
    ``"{n}"`` with ``n = 3`` gives ``3``. Raises TemplateKeyError for a missing key.
    """
    if isinstance(value, str):
        whole = _TEMPLATE_KEY.fullmatch(value)
        if whole is not None:
            key = whole.group(1) or whole.group(2)
            if key not in context:
                raise TemplateKeyError(key, value)
            return context[key]

        def replace(match: re.Match) -> str:
            key = match.group(1) or match.group(2)
            if key not in context:
                raise TemplateKeyError(key, value)
            return str(context[key])

        return _TEMPLATE_KEY.sub(replace, value)
    if isinstance(value, list | tuple):
        return type(value)(fill_template(item, context) for item in value)
    if isinstance(value, dict):
        return {key: fill_template(item, context) for key, item in value.items()}
    return value


def is_finished(run_dir: str | Path) -> bool:
    """True if the step run in ``run_dir`` has written its completion marker."""
    return (Path(run_dir) / FINISHED_MARKER).is_file()


class StepCall:
    """What a step's experiment calls: ``func(**kwargs)`` or ``command`` in ``run_dir``.

    Picklable (the journal stores it). A command runs without a shell, its arguments
    split with :func:`shlex.split`; its output goes to ``stdout.txt`` and ``stderr.txt``
    in the run directory. Raises CommandFailed when the command exits non-zero, and
    whatever ``func`` raises; the marker is written only after success.
    """

    def __init__(
        self, run_dir: str | Path, func: Callable | None = None, command: str | None = None, name: str = ""
    ) -> None:
        if (func is None) == (command is None):
            raise ValueError("a step runs either a Python callable or a command")
        self.run_dir = str(run_dir)
        self.func, self.command = func, command
        self.__qualname__ = self.__name__ = name or getattr(func, "__qualname__", None) or "command"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / FINISHED_MARKER).unlink(missing_ok=True)  # a rerun is unfinished until it succeeds
        result = self._run_command(run_dir) if self.command is not None else self.func(*args, **kwargs)
        (run_dir / FINISHED_MARKER).write_text("finished\n")
        return result

    def _run_command(self, run_dir: Path) -> int:
        with open(run_dir / "stdout.txt", "wb") as out, open(run_dir / "stderr.txt", "wb") as err:
            completed = subprocess.run(shlex.split(self.command), cwd=run_dir, stdout=out, stderr=err, env=os.environ)
        if completed.returncode != 0:
            tail = (run_dir / "stderr.txt").read_text(errors="replace").strip().splitlines()[-1:]
            raise CommandFailed(
                f"{self.command!r} exited with status {completed.returncode}" + (f": {tail[0]}" if tail else "")
            )
        return completed.returncode


@dataclass
class Step:
    """One filled-in step, ready to queue, and the steps to run once it has completed."""

    name: str
    call: StepCall
    kwargs: dict[str, Any] = field(default_factory=dict)
    on_failure: str = "skip"
    retries: int = 0
    retry_delay: float = 0.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    on_completion: list[Step] = field(default_factory=list)

    def experiment(self, after: list[Experiment] = (), study_id: str | None = None, title: str | None = None):
        """A new Experiment running this step after ``after``."""
        exp = Experiment(
            self.call,
            (),
            self.kwargs,
            title=title,
            after=[Link(upstream, None, self.on_failure) for upstream in after],
            retries=self.retries,
            retry_delay=self.retry_delay,
            retry_on=self.retry_on,
        )
        if study_id is not None:
            exp.study_id = study_id
        return exp

    def push(self, queue: ExperimentQueue, after: list[Experiment] = ()) -> list[Experiment]:
        """Queue this step and, linked behind it, its ``on_completion`` steps; returns
        the experiments, this step's first."""
        exp = self.experiment(list(after))
        queue.put(exp)
        pushed = [exp]
        for follower in self.on_completion:
            pushed += follower.push(queue, [exp])
        return pushed


class StepFactory:
    """A pattern for a step, filled in per series by :meth:`get_step`.

    Args:
        func: the Python callable to run (or ``command``: a command line template).
        name: the step's name (default: the function's name, or "command").
        inputs: keyword arguments of ``func``; their strings are templates.
        on_completion: a StepFactory to run after this one (also :meth:`chain`).
        on_failure, retries, retry_delay, retry_on: as for :class:`Experiment`.
        context: default context values (overridden by ``get_step``'s context).

    Raises ValueError unless exactly one of ``func`` and ``command`` is given.
    """

    def __init__(
        self,
        func: Callable | None = None,
        *,
        command: str | None = None,
        name: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        on_completion: StepFactory | None = None,
        on_failure: str = "skip",
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        **context: Any,
    ) -> None:
        if (func is None) == (command is None):
            raise ValueError("a StepFactory needs either a Python callable or a command")
        self.func, self.command = func, command
        self.name = name or getattr(func, "__name__", None) or "command"
        self.inputs = dict(inputs or {})
        self.on_completion: list[StepFactory] = [on_completion] if on_completion is not None else []
        self.on_failure, self.retries, self.retry_delay, self.retry_on = on_failure, retries, retry_delay, retry_on
        self.context = context

    def chain(self, on_completion: StepFactory) -> StepFactory:
        """Run ``on_completion`` after this step; returns it, so chains read front to back."""
        self.on_completion.append(on_completion)
        return on_completion

    def get_step(self, context: Mapping[str, Any]) -> Step:
        """The step (and its followers) with templates filled from ``context``.

        ``run_dir`` defaults to ``{workspace}/{step name}/{series}`` when the context
        has a ``workspace``, else to ``{step name}/{series}``; ``series`` defaults to 0.
        Raises TemplateKeyError for a template key the context does not have.
        """
        full = {"series": 0, **self.context, **context, "step": self.name}
        if "run_dir" not in context:
            base = Path(full["workspace"]) if "workspace" in full else Path()
            full["run_dir"] = str(base / self.name / str(full["series"]))
        run_dir = full["run_dir"]
        if self.command is not None:
            call = StepCall(run_dir, command=fill_template(self.command, full), name=self.name)
        else:
            call = StepCall(run_dir, func=self.func, name=self.name)
        # The followers get their own run directories, not this step's.
        follower_context = {key: value for key, value in context.items() if key != "run_dir"}
        return Step(
            self.name,
            call,
            fill_template(self.inputs, full),
            self.on_failure,
            self.retries,
            self.retry_delay,
            self.retry_on,
            [factory.get_step(follower_context) for factory in self.on_completion],
        )
