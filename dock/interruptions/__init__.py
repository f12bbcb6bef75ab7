"""Interruptions of recording, the officer's explanations, exemptions and compliance.

`timeline` builds sessions and interruptions from a recorder's event log and clips;
`compliance` counts them per officer and period; `voice_note` checks a spoken note before it
is kept. Those three are pure or nearly so. `reading` is the docking's step (the event log
from its saved cursor, the interruptions kept and journaled); `records` holds the changes
made at the dock (a note stored and linked, a written explanation, an exemption), each with
its journal row in the caller's transaction; `note_prompt` drives a bay's button.
"""
