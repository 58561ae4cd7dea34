"""Chains: experiments that wait for others (their upstreams) and may receive their results.

A downstream experiment holds one :class:`Link` per upstream. The queue starts it
only when :meth:`Experiment.may_start` says every link is satisfied (see
:func:`link_satisfied`); what happens to it when an upstream does not finish is the
link's failure policy, applied by a done-callback on the upstream, so on the thread
that completed it and before the queue picks its next job:

* ``"skip"`` (default): the downstream becomes CANCELLED, ``cancel_reason``
  "upstream X failed";
* ``"continue"``: it runs anyway, receiving None for that upstream's result;
* ``"stop_study"``: every queued experiment of the same study (or chain) is cancelled.

An INTERRUPTED upstream (running when the program died) blocks its downstream until
it is requeued; the downstream then follows the new copy (``repeated_by``). Retries
(:class:`RetryPolicy`) are such copies too, queued by the failed attempt's own
done-callback, so each attempt stays in the history.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .experiment import Experiment, ExpStatus, current_experiment, short_repr

__all__ = [
    "FAILURE_POLICIES",
    "FedCall",
    "Link",
    "RetryPolicy",
    "apply_failure_policies",
    "attach",
    "cancel_with_reason",
    "check_chain_options",
    "held_by",
    "link_satisfied",
    "settle_restored",
    "then",
    "watch_retries",
]

#: What a downstream does when an upstream fails, is aborted or is cancelled.
FAILURE_POLICIES = ("skip", "continue", "stop_study")

_VERBS = {
    ExpStatus.FAILED: "failed",
    ExpStatus.ABORTED: "was aborted",
    ExpStatus.CANCELLED: "was cancelled",
}


@dataclass(frozen=True)
class RetryPolicy:
    """Run a failed experiment again, up to ``retries`` more times, ``delay`` seconds
    after each failure, when its exception is one of ``on``."""

    retries: int
    delay: float = 0.0
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.delay < 0:
            raise ValueError(f"retries and retry_delay must be >= 0, got {self.retries} and {self.delay}")

    def applies(self, attempt: int, exception: BaseException | None) -> bool:
        """True if attempt number ``attempt`` (1 = the first run), failing with
        ``exception``, is to be run again."""
        return attempt <= self.retries and isinstance(exception, self.on)


@dataclass
class Link:
    """A downstream's dependency on ``upstream``.

    ``feed`` says what the downstream receives: None (nothing, it only waits), an int
    (the upstream's result as that positional argument) or a str (as that keyword).
    """

    upstream: Experiment
    feed: int | str | None = None
    on_failure: str = "skip"

    def __post_init__(self) -> None:
        if self.on_failure not in FAILURE_POLICIES:
            raise ValueError(f"on_failure must be one of {', '.join(FAILURE_POLICIES)}, not {self.on_failure!r}")

    @property
    def current(self) -> Experiment:
        """The upstream, or its latest requeued copy (a retry, or a requeue by hand)."""
        upstream = self.upstream
        while upstream.repeated_by is not None:
            upstream = upstream.repeated_by
        return upstream

    def result(self) -> Any:
        """The upstream's result if it finished, else None (a "continue" link)."""
        upstream = self.current
        return upstream.result(timeout=0) if upstream.status is ExpStatus.FINISHED else None


def link_satisfied(link: Link) -> bool:
    """True if ``link`` no longer holds its downstream back.

    An upstream that failed, was aborted or cancelled satisfies only a "continue" link:
    under the other policies its done-callback cancels the downstream, and until it has
    (it runs on the thread that completed the upstream) the downstream must not start.
    """
    upstream = link.current
    if not upstream.done():
        return False
    status = upstream.status
    if status is ExpStatus.FINISHED:
        return True
    if status is ExpStatus.INTERRUPTED:
        return False
    return link.on_failure == "continue"


def held_by(exp: Experiment) -> Experiment | None:
    """The upstream, of ``exp`` or further up its chain, that holds queued ``exp`` back
    until someone acts: one that was INTERRUPTED (and not requeued) or that was never
    put on a queue. None if ``exp`` can start, or will once the work before it is done.

    This is what "idle" leaves out: nothing can start it without a human."""
    seen: set[str] = set()
    pending = [exp]
    while pending:
        for link in pending.pop().links:
            if link_satisfied(link):
                continue
            upstream = link.current
            if upstream.status is ExpStatus.INTERRUPTED:
                return upstream
            if upstream.status is ExpStatus.QUEUED and upstream.id not in seen:
                if upstream._queue is None:
                    return upstream
                seen.add(upstream.id)
                pending.append(upstream)
    return None


class FedCall:
    """The call of a downstream that receives its upstreams' results as arguments.

    Stored by the journal like any call; it finds the results through the experiment
    running it (:func:`current_experiment`), so the pickle holds no other experiment.
    """

    def __init__(self, func: Callable) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        exp = current_experiment()
        links = exp.links if exp is not None else ()
        positional = sorted((link.feed, link.result()) for link in links if isinstance(link.feed, int))
        named = {link.feed: link.result() for link in links if isinstance(link.feed, str)}
        return self.func(*(value for _, value in positional), *args, **named, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FedCall) and other.func == self.func

    def __hash__(self) -> int:
        return hash(self.func)


class _UpstreamPlaceholder:
    """Stands for an upstream's result in a downstream's title."""

    def __init__(self, upstream: Experiment) -> None:
        self._text = f"<result of {upstream.title}>"

    def __repr__(self) -> str:
        return self._text


def check_chain_options(
    after: Iterable[Experiment | Link],
    inputs: Mapping[str | int, Experiment] | None,
    on_failure: str,
    retries: int,
    retry_delay: float,
    retry_on: tuple[type[BaseException], ...],
) -> None:
    """Raise what ``Experiment(...)`` would for these options, without making one: for
    a decorator, which should fail where it is written, not at the first call."""
    if on_failure not in FAILURE_POLICIES:
        raise ValueError(f"on_failure must be one of {', '.join(FAILURE_POLICIES)}, not {on_failure!r}")
    RetryPolicy(retries, retry_delay, retry_on)
    for upstream in [*after, *(inputs or {}).values()]:
        if not isinstance(upstream, Link):
            _checked(upstream)


def configure(
    exp: Experiment,
    after: Iterable[Experiment | Link],
    inputs: Mapping[str | int, Experiment] | None,
    on_failure: str,
    retry: RetryPolicy | None,
) -> None:
    """Give a new experiment its links and retry policy (what ``Experiment(after=...,
    inputs=..., retries=...)`` calls). Raises ValueError for an unknown policy and
    TypeError for an upstream that is not an Experiment."""
    links: list[Link] = []
    for item in after:
        links.append(item if isinstance(item, Link) else Link(_checked(item), None, on_failure))
    for feed, upstream in (inputs or {}).items():
        links.append(Link(_checked(upstream), feed, on_failure))
    if retry is not None and retry.retries:
        exp.retry = retry
        watch_retries(exp)
    if not links:
        return
    if any(link.feed is not None for link in links):
        if exp._title is None:
            exp._title = _fed_title(exp.func, exp.args, exp.kwargs, links)
        exp.func = FedCall(exp.func)
    exp.study_id = exp.study_id or next((link.upstream.study_id for link in links if link.upstream.study_id), None)
    if exp.study_id is None:
        exp.study_id = links[0].upstream.id  # a chain without a study: "stop_study" stops this chain
    attach(exp, links)


def _checked(upstream: Any) -> Experiment:
    if not isinstance(upstream, Experiment):
        raise TypeError(f"an upstream must be an Experiment, got {type(upstream).__name__}: {short_repr(upstream)}")
    return upstream


def _fed_title(func: Callable, args: tuple, kwargs: dict, links: list[Link]) -> str:
    from .experiment import call_title

    positional = sorted((link.feed, link.upstream) for link in links if isinstance(link.feed, int))
    named = {link.feed: _UpstreamPlaceholder(link.upstream) for link in links if isinstance(link.feed, str)}
    fed_args = tuple(_UpstreamPlaceholder(upstream) for _, upstream in positional)
    return call_title(func, fed_args + tuple(args), {**named, **kwargs})


def attach(exp: Experiment, links: list[Link]) -> None:
    """Make ``exp`` wait on ``links`` and apply their failure policies when an upstream
    ends (also used for experiments restored from the journal)."""
    exp.links = tuple(links)
    for link in links:
        _watch(exp, link, link.current)


def _watch(exp: Experiment, link: Link, upstream: Experiment) -> None:
    if upstream._downstreams is None:
        upstream._downstreams = []
    upstream._downstreams.append((exp, link))
    upstream.add_own_done_callback(functools.partial(_upstream_done, exp, link))


def carry_over(original: Experiment, again: Experiment) -> None:
    """``again`` repeats ``original`` (requeue or retry): same links and policy, and the
    downstreams of ``original`` now wait for ``again``."""
    again.study_id = original.study_id
    if original.links:
        attach(again, list(original.links))
    if original.retry is not None:
        again.retry, again.attempt = original.retry, original.attempt + 1
        watch_retries(again)
    original.repeated_by = again
    for downstream, link in original._downstreams or ():
        if not downstream.done():
            _watch(downstream, link, again)


def _upstream_done(downstream: Experiment, link: Link, upstream: Experiment) -> None:
    if upstream.repeated_by is not None or downstream.done():
        return  # a retry or requeue took over (its own callback will decide), or nothing to decide
    queue = downstream._queue
    if queue is None:
        return  # not queued yet: apply_failure_policies() decides once it is
    if queue.closed:
        return  # shutting down: what is queued stays queued in the journal for next time
    status = upstream.status
    if status in (ExpStatus.FINISHED, ExpStatus.INTERRUPTED) or link.on_failure == "continue":
        return
    reason = f"upstream {upstream.title} {_VERBS[status]}"
    if link.on_failure == "stop_study":
        others = [e for e in queue.queued if e.study_id == downstream.study_id]
        cancel_with_reason([downstream, *others], f"study stopped: {reason}")
    else:
        cancel_with_reason([downstream], reason)


def apply_failure_policies(exp: Experiment) -> None:
    """Apply the failure policies of the links of queued ``exp`` whose upstreams have
    already ended: a downstream put after its upstream failed (the queue calls this on
    every put), or restored from the journal so (the Manager, at start), is cancelled
    at once under "skip" instead of waiting for ever."""
    for link in exp.links:
        upstream = link.current
        if upstream.done():
            _upstream_done(exp, link, upstream)


def cancel_with_reason(experiments: list[Experiment], reason: str) -> list[Experiment]:
    """Cancel the queued ones of ``experiments``, recording ``reason``; returns those cancelled."""
    waiting = [exp for exp in experiments if not exp.done()]
    for exp in waiting:
        exp.cancel_reason = exp.cancel_reason or reason
    by_queue: dict[int, list[Experiment]] = {}
    for exp in waiting:
        by_queue.setdefault(id(exp._queue), []).append(exp)
    cancelled = []
    for group in by_queue.values():
        queue = group[0]._queue
        if queue is None:
            cancelled += [exp for exp in group if exp._complete_cancelled()]
        else:
            cancelled += queue.remove(group)
    return cancelled


def watch_retries(exp: Experiment) -> None:
    """Queue the next attempt of ``exp`` when it fails as its retry policy says.

    Registered before any downstream links to ``exp``, so the attempt is queued (and
    the downstreams follow it) before their failure policies are looked at."""
    exp.add_own_done_callback(_retry_if_due)


def _retry_if_due(exp: Experiment) -> None:
    queue = exp._queue
    if queue is not None and _retry_due(exp):
        _queue_retry(exp, queue, time.time() + exp.retry.delay)


def _retry_due(exp: Experiment) -> bool:
    return exp.status is ExpStatus.FAILED and exp.repeated_by is None and exp.retry_pending(exp.exception(0))


def _queue_retry(exp: Experiment, queue: Any, not_before: float) -> None:
    again = exp.repeat()
    delay = not_before - time.time()
    if delay > 0:
        again.not_before = not_before
    queue.put(again)
    if delay > 0:
        # Nothing else wakes an idle worker when the delay is over.
        timer = threading.Timer(delay, queue.wake)
        timer.daemon = True
        timer.start()


def settle_restored(queued: Iterable[Experiment], queue: Any) -> None:
    """At start, finish what the program died before doing for the restored ``queued``
    experiments of ``queue``: an upstream that failed and was to be retried gets its
    next attempt queued (its delay counted from its failure), and the failure policy of
    every link whose upstream ended is applied (under "skip" the downstream is
    cancelled with the reason), so nothing waits for an upstream that will never run.
    An INTERRUPTED upstream still blocks its downstream until it is requeued."""
    for exp in queued:
        if not exp.links:  # most experiments: nothing to settle
            continue
        for link in exp.links:
            upstream = link.current
            if _retry_due(upstream):
                _queue_retry(upstream, queue, (upstream.finished_at or time.time()) + upstream.retry.delay)
        if not exp.done():
            apply_failure_policies(exp)


def then(upstream: Experiment, func: Callable, args: tuple, kwargs: dict, **options: Any) -> Experiment:
    """Queue ``func(upstream's result, *args, **kwargs)`` to run once ``upstream`` has finished.

    Raises RuntimeError if ``upstream`` is not in a queue, and what ``Experiment`` raises.
    """
    queue = upstream._queue
    if queue is None:
        raise RuntimeError(f"{upstream!r} is not queued; put it on a queue before chaining on it")
    downstream = Experiment(func, args, kwargs, inputs={0: upstream}, **options)
    queue.put(downstream)
    return downstream
