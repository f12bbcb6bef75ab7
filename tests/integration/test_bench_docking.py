"""The docking benchmark runs the real service; a change that breaks it must fail here,
not first in `make bench`. Timings are printed by the bench, never asserted."""

from bench import docking


def test_docking_bench_docks_fifty_times_to_ready_and_counts_eight_bays():
    plug, rss = docking.run()
    assert plug["figures"]["dockings"] == docking.DOCKINGS
    assert plug["figures"]["median"] <= plug["figures"]["p99"] <= plug["figures"]["max"]
    assert rss["figures"]["bays"] == 8
    assert rss["figures"]["ready"] == 7  # bay 2's recorder is low on battery by design
