"""`dock serve` tells the people at the dock which interruptions a bay's officer must explain."""

from dock.events import VoiceNotesNeeded
from dock.main import VerdictPrinter


def test_serve_says_each_note_a_bay_asks_for_and_nothing_when_none_is_left():
    lines: list[str] = []
    printer = VerdictPrinter(lines.append)
    described = (
        "2026-11-23 15:15:28 UTC bad weather (恶劣天气), 371 s, found by event_log, unexplained",
        "2026-11-23 16:00:00 UTC no reason logged (未记录原因), 40 s, found by gap, unexplained",
    )
    printer.event(
        VoiceNotesNeeded(
            bay=2, device="ZFY1", officer_number="310115", keys=("a", "b"), described=described
        )
    )
    printer.event(VoiceNotesNeeded(bay=2, device="ZFY1", officer_number="310115", keys=()))
    assert lines == [f"bay 2 ZFY1: voice note needed: {line}" for line in described]
