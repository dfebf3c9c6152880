"""One `transitions` machine per workflow, shared by every deliverable of that workflow.

A deliverable is attached for the duration of one firing and detached again, so the cost of a
machine does not grow with the network (see CONVENTIONS: 10,000 attached models cost 31 MB).
"""

from __future__ import annotations

import threading
from functools import cache

from transitions import Machine, MachineError

from .definitions import Workflow

_lock = threading.Lock()


class _Token:
    """The model transitions moves: only a `state`, so the stored row never learns machine methods."""

    state: str


@cache
def machine_for(workflow: Workflow) -> Machine:
    machine = Machine(
        model=None,
        states=[s.name for s in workflow.stages],
        initial=workflow.initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    for t in workflow.transitions:
        machine.add_transition(t.trigger, list(t.sources), t.dest)
    return machine


def next_stage(workflow: Workflow, stage: str, trigger: str) -> str | None:
    """The stage `trigger` leads to from `stage`, by firing it on the workflow's machine; None if invalid."""
    machine = machine_for(workflow)
    token = _Token()
    with _lock:
        machine.add_model(token, initial=stage)
        try:
            token.trigger(trigger)  # type: ignore[attr-defined]
        except (MachineError, AttributeError):
            return None
        finally:
            machine.remove_model(token)
    return token.state


def triggers_from(workflow: Workflow, stage: str) -> list[str]:
    return list(machine_for(workflow).get_triggers(stage))
