"""One `transitions` machine per workflow, shared by every deliverable of that workflow.

Each machine carries a single token model. Firing a trigger for a deliverable puts the token in
the deliverable's stage, fires, and reads where it landed: no model is added or removed per
firing (that costs ~0.8 ms on `transitions`), and the cost of a machine does not grow with the
network (see CONVENTIONS: 10,000 attached models cost 31 MB).
"""

from __future__ import annotations

import threading
from functools import cache

from transitions import Machine, MachineError

from .spec import Workflow

_lock = threading.Lock()


class _Token:
    """The model transitions moves: only a `state`, so the stored row never learns machine methods."""

    state: str


@cache
def machine_for(workflow: Workflow) -> tuple[Machine, _Token]:
    token = _Token()
    machine = Machine(
        model=token,
        states=[s.name for s in workflow.stages],
        initial=workflow.initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    for t in workflow.transitions:
        machine.add_transition(t.trigger, list(t.sources), t.dest)
    return machine, token


def next_stage(workflow: Workflow, stage: str, trigger: str) -> str | None:
    """The stage `trigger` leads to from `stage`, by firing it on the workflow's machine; None if invalid.

    The machines have no conditions and no callbacks, so a trigger fired from a stage always lands
    on the same stage: each (stage, trigger) of a workflow is fired once and its answer kept (firing
    cost ~40 µs of every advance, issue 15)."""
    key = (workflow.name, stage, trigger)
    found = _fired.get(key)
    if found is not None and found[0] is workflow:
        return found[1]
    dest = _fire(workflow, stage, trigger)
    _fired[key] = (workflow, dest)
    return dest


_fired: dict[tuple[str, str, str], tuple[Workflow, str | None]] = {}  # (workflow, stage, trigger) -> (its spec, dest)


def _fire(workflow: Workflow, stage: str, trigger: str) -> str | None:
    machine, token = machine_for(workflow)
    event = machine.events.get(trigger)
    if event is None:
        return None
    with _lock:
        machine.set_state(stage, model=token)
        try:
            event.trigger(token)
        except MachineError:
            return None
        return token.state


def triggers_from(workflow: Workflow, stage: str) -> list[str]:
    machine, _token = machine_for(workflow)
    return list(machine.get_triggers(stage))
