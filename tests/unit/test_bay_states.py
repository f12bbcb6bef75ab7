"""Every bay move is in one table; anything else is refused."""

import pytest

from dock.bays.states import TRANSITIONS, BayState, IllegalTransition, Trigger, next_state


def test_a_docked_fit_recorder_walks_empty_identifying_checking_ready():
    state = BayState.EMPTY
    for trigger in (Trigger.DOCKED, Trigger.IDENTIFIED, Trigger.CHECK_PASSED):
        state = next_state(1, state, trigger)
    assert state is BayState.READY


def test_pulling_a_recorder_out_empties_the_bay_from_every_occupied_state():
    for state in BayState:
        if state is not BayState.EMPTY:
            assert next_state(1, state, Trigger.UNDOCKED) is BayState.EMPTY


def test_an_empty_bay_cannot_be_undocked_or_checked():
    with pytest.raises(IllegalTransition, match="bay 3: no move from empty on undocked"):
        next_state(3, BayState.EMPTY, Trigger.UNDOCKED)
    with pytest.raises(IllegalTransition):
        next_state(3, BayState.EMPTY, Trigger.CHECK_PASSED)


def test_a_failed_check_cannot_be_turned_into_ready_without_a_new_check():
    assert (BayState.ATTENTION, Trigger.CHECK_PASSED) not in TRANSITIONS
    assert next_state(1, BayState.ATTENTION, Trigger.RECHECK) is BayState.IDENTIFYING


def test_every_state_is_reachable_by_some_move():
    targets = set(TRANSITIONS.values())
    assert set(BayState) - targets == set()
