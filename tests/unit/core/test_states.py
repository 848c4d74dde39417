import pytest

from ovserve.core.states import TRANSITIONS, InvalidTransition, State, check_transition


def test_every_state_has_transitions() -> None:
    assert set(TRANSITIONS) == set(State)


def test_lifecycle_path_is_allowed_and_shortcuts_are_not() -> None:
    for old, new in [
        (State.START, State.LOADING),
        (State.LOADING, State.AVAILABLE),
        (State.AVAILABLE, State.UNLOADING),
        (State.UNLOADING, State.END),
    ]:
        check_transition(old, new)
    with pytest.raises(InvalidTransition, match="AVAILABLE -> END"):
        check_transition(State.AVAILABLE, State.END)
    with pytest.raises(InvalidTransition):
        check_transition(State.END, State.AVAILABLE)
