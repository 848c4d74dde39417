"""Version states and the one table of allowed transitions.

The public states are TensorFlow Serving's. A failure is not a state: it is an error
status carried beside the state (OVMS shows a failed load as LOADING / UNKNOWN).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ovserve.errors import Code


class State(enum.Enum):
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


#: state -> states it may move to. Anything else is a bug and raises.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.START: frozenset({State.LOADING, State.END}),
    State.LOADING: frozenset({State.AVAILABLE, State.LOADING, State.END, State.UNLOADING}),
    State.AVAILABLE: frozenset({State.UNLOADING}),
    State.UNLOADING: frozenset({State.END}),
    State.END: frozenset({State.LOADING}),
}


class InvalidTransition(RuntimeError):
    """A state change that the table does not allow (a programming error)."""


def check_transition(old: State, new: State) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"{old.name} -> {new.name} is not an allowed transition")


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """What the status APIs report for one version."""

    version: int
    state: State
    error_code: Code = Code.OK
    error_message: str = "OK"
