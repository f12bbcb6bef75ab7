"""Bay states and every legal move between them, in one table.

A move that is not in TRANSITIONS is a bug in the caller, never something to paper over:
it raises IllegalTransition. Offloading and reflashing have their moves here already; the
code that drives them arrives with their own issues.
"""

from __future__ import annotations

from enum import StrEnum

from dock.errors import DockError


class BayState(StrEnum):
    EMPTY = "empty"
    IDENTIFYING = "identifying"
    CHECKING = "checking"
    OFFLOADING = "offloading"
    READY = "ready"
    ATTENTION = "attention"  # the recorder needs a person: the reasons say who and why
    FAULT = "fault"  # the link or the dock failed; nothing was half-written
    REFLASHING = "reflashing"


# A recorder with a verdict: one a technician may reflash or put in technician mode.
CHECKED = (BayState.READY, BayState.ATTENTION)


class Trigger(StrEnum):
    DOCKED = "docked"
    IDENTIFIED = "identified"  # known, paired, speaks our protocol: go on to the checks
    NEEDS_OFFLOAD = "needs_offload"  # identified and has clips to take off first
    NOT_ACCEPTED = "not_accepted"  # unknown serial, wrong key, other protocol version
    OFFLOAD_DONE = "offload_done"
    OFFLOAD_FAILED = "offload_failed"
    CHECK_PASSED = "check_passed"
    CHECK_FAILED = "check_failed"
    RECHECK = "recheck"  # a person asked for the check again
    LINK_LOST = "link_lost"  # the recorder stopped answering
    UNDOCKED = "undocked"
    REFLASH_STARTED = "reflash_started"
    REFLASH_DONE = "reflash_done"


S, T = BayState, Trigger

TRANSITIONS: dict[tuple[BayState, Trigger], BayState] = {
    (S.EMPTY, T.DOCKED): S.IDENTIFYING,
    (S.IDENTIFYING, T.IDENTIFIED): S.CHECKING,
    (S.IDENTIFYING, T.NEEDS_OFFLOAD): S.OFFLOADING,
    (S.IDENTIFYING, T.NOT_ACCEPTED): S.ATTENTION,
    (S.OFFLOADING, T.OFFLOAD_DONE): S.CHECKING,
    (S.OFFLOADING, T.OFFLOAD_FAILED): S.ATTENTION,
    (S.CHECKING, T.CHECK_PASSED): S.READY,
    (S.CHECKING, T.CHECK_FAILED): S.ATTENTION,
    (S.READY, T.RECHECK): S.IDENTIFYING,
    (S.ATTENTION, T.RECHECK): S.IDENTIFYING,
    (S.FAULT, T.RECHECK): S.IDENTIFYING,
    (S.READY, T.REFLASH_STARTED): S.REFLASHING,
    (S.ATTENTION, T.REFLASH_STARTED): S.REFLASHING,
    (S.REFLASHING, T.REFLASH_DONE): S.IDENTIFYING,
}
# Losing the link or the recorder can happen in any occupied state.
for _state in S:
    if _state is not S.EMPTY:
        TRANSITIONS[(_state, T.UNDOCKED)] = S.EMPTY
        if _state is not S.FAULT:
            TRANSITIONS[(_state, T.LINK_LOST)] = S.FAULT


class IllegalTransition(DockError):
    def __init__(self, bay: int, state: BayState, trigger: Trigger) -> None:
        super().__init__(f"bay {bay}: no move from {state} on {trigger}; this is a dock bug")


def next_state(bay: int, state: BayState, trigger: Trigger) -> BayState:
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(bay, state, trigger) from None
