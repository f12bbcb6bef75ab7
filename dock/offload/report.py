"""What one offload did, for the bay's verdict, the officer and the console."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OffloadReport:
    stored: int = 0
    already_stored: int = 0
    deleted: int = 0
    quarantined: int = 0
    listed_quarantined: int = 0  # clips the recorder listed that could not be taken
    failed: int = 0
    not_verified: int = 0  # copied as read, not proven exact (kept on the recorder)
    listed_not_verified: int = 0  # of those, clips the recorder listed
    unlisted: int = 0  # files on the card the recorder did not list (copied, kept)
    unreadable: int = 0  # directories (or the rest of a walk) that could not be read
    delete_refused: int = 0
    repaired: int = 0  # damaged stored objects replaced from the recorder's original
    confirmed_late: int = 0  # deletions found done at this docking
    waiting_for_copy: int = 0  # stored, kept on the recorder until the central copy is confirmed
    problems: list[str] = field(default_factory=list)  # one line each, for the officer
    card_problems: list[str] = field(default_factory=list)  # the volume's, also in problems
    stopped: str = ""  # why the offload stopped early, when it did

    def problem(self) -> str:
        """Why the recorder needs a person after this offload, or "" when it does not.

        Files the recorder did not list are copied and kept but do not hold the bay: cards
        carry their own system files. A listed clip left behind or not proven, or a part of
        the card that could not be read, always does.
        """
        if self.stopped:
            return f"offload stopped: {self.stopped}"
        left = self.failed + self.listed_quarantined
        parts = []
        if left:
            parts.append(f"{left} clip(s) could not be taken off and stay on the recorder")
        if self.listed_not_verified:
            parts.append(
                f"{self.listed_not_verified} clip(s) copied but not verified stay on the recorder"
            )
        if self.unreadable:
            parts.append(f"{self.unreadable} part(s) of the card could not be read")
        return "; ".join(parts) + ": hand it to a custodian" if parts else ""

    def summary(self) -> str:
        """One line for the officer and the console."""
        text = (
            f"{self.stored} clip(s) stored, {self.already_stored} already stored, "
            f"{self.deleted} freed on the recorder, {self.not_verified} not verified, "
            f"{self.quarantined} quarantined, {self.failed} failed"
        )
        if self.delete_refused:
            text += f", {self.delete_refused} delete(s) refused by the recorder"
        if self.repaired:
            text += f", {self.repaired} damaged stored object(s) repaired"
        return text
