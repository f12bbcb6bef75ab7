"""The command and memory benchmarks run the real CLI and the real service on small data; a
change that breaks them must fail here, not first in `make bench`. Timings are never
asserted, only that each figure measured what it says."""

from bench import commands, serve


def test_journal_bench_verifies_an_intact_synthetic_chain_then_only_the_rows_after_it():
    figures = commands.journal_verify(rows=2_000)["figures"]
    assert figures["rows"] == 2_000 + commands.LATEST
    assert figures["incremental_first_line"].startswith(
        f"journal intact: {commands.LATEST} rows checked"
    )
    assert len(figures["full_s_halves"]) == 2 and figures["full_s"] > 0


def test_clips_bench_lists_the_first_page_of_synthetic_clips():
    figures = commands.clips_first_page(count=2_000)["figures"]
    assert figures["clips"] == 2_000
    assert len(figures["beyond_start_up_s_halves"]) == 2


def test_serve_bench_measures_a_dock_whose_bays_all_offloaded_apart_from_its_recorders():
    figures = serve.serve_rss(bays=2)["figures"]
    assert figures["verdicts"] == 2 and figures["offloads"] == 2
    assert figures["env"] == "MALLOC_ARENA_MAX=2"
    assert 0 < figures["rss_settled_mb"] <= figures["peak_rss_mb"]
