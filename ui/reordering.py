"""Moving several queued experiments at once with :meth:`ExperimentQueue.move`.

Each function takes experiments, ignores the ones that are no longer queued (they may
have started meanwhile), keeps the relative order of the ones it moves, and calls
``move`` once per experiment that actually changes place.
"""

from __future__ import annotations

from collections.abc import Iterable

from labqueue.core import Experiment, ExperimentQueue

__all__ = ["move_down", "move_to", "move_to_bottom", "move_to_top", "move_up"]


def _move(queue: ExperimentQueue, exp: Experiment, position: int, order: list[Experiment]) -> bool:
    """Move ``exp`` to ``position`` in the queue and in ``order``, our copy of it.

    False if it is no longer queued (it started or was removed since we looked).
    """
    order.remove(exp)
    try:
        queue.move(exp, position)
    except ValueError:
        return False
    order.insert(min(position, len(order)), exp)
    return True


def move_up(queue: ExperimentQueue, experiments: Iterable[Experiment]) -> None:
    """Move each experiment one place towards the front; a block at the front stays."""
    chosen = set(experiments)
    order = queue.queued
    free = 0  # the first position not taken by a chosen one that could not move
    for position, exp in enumerate(list(order)):
        if exp in chosen:
            target = max(position - 1, free)
            if target != position:
                _move(queue, exp, target, order)
            free = target + 1


def move_down(queue: ExperimentQueue, experiments: Iterable[Experiment]) -> None:
    """Move each experiment one place towards the back; a block at the back stays."""
    chosen = set(experiments)
    order = queue.queued
    free = len(order) - 1
    for position in range(len(order) - 1, -1, -1):
        exp = order[position]
        if exp in chosen:
            target = min(position + 1, free)
            if target != position:
                _move(queue, exp, target, order)
            free = target - 1


def move_to_top(queue: ExperimentQueue, experiments: Iterable[Experiment]) -> None:
    """Put the experiments first, in their current order."""
    move_to(queue, experiments, 0)


def move_to_bottom(queue: ExperimentQueue, experiments: Iterable[Experiment]) -> None:
    """Put the experiments last, in their current order."""
    move_to(queue, experiments, queue.qsize("queued"))


def move_to(queue: ExperimentQueue, experiments: Iterable[Experiment], position: int) -> None:
    """Put the experiments together, in their current order, before the one now at
    ``position`` among the queued ones (``position`` = their number: at the end)."""
    chosen = set(experiments)
    order = queue.queued
    position = max(0, min(position, len(order)))
    anchor = order[position] if position < len(order) else None
    before = [exp for exp in order[:position] if exp in chosen]
    after = [exp for exp in order[position:] if exp in chosen]
    # Those in front of the anchor go, last first, each right in front of the block.
    head = anchor
    for exp in reversed(before):
        target = order.index(head) - 1 if head is not None else len(order) - 1
        if _move(queue, exp, target, order):
            head = exp
    if anchor is None:
        return
    # Those behind it go, first first, each right behind the block.
    anchor_index = order.index(anchor)
    tail = order[anchor_index - 1] if anchor_index > 0 else None
    for exp in after:
        target = order.index(tail) + 1 if tail is not None else 0
        if _move(queue, exp, target, order):
            tail = exp
