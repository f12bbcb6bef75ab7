"""Interruptions of recording, the officer's explanations, exemptions and compliance.

`timeline` builds sessions and interruptions from a recorder's event log and clips;
`compliance` counts them per officer and period; `voice_note` checks a spoken note before it
is kept. All three are pure or nearly so: storage, journal rows and the bay's buttons are
wired by the docking and the service.
"""
