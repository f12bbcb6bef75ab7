"""`dock serve` speaks the agency's language from the config's first line on: the verdict
lines an officer reads at the dock are Chinese under `language = "zh"`, English under "en"."""

from __future__ import annotations

import pytest

from dock.simulated_process import VERDICT_LINE, SimulatedDockProcess

WAIT_S = 30


@pytest.mark.parametrize(
    "language, ready, not_ready",
    [
        ("zh", "bay 1 SIM00001: 就绪", "bay 2 SIM00002: 未就绪: "),
        ("en", "bay 1 SIM00001: READY", "bay 2 SIM00002: NOT READY: "),
    ],
)
def test_serve_says_its_verdicts_in_the_configured_language(tmp_path, language, ready, not_ready):
    config = tmp_path / "dock.toml"
    config.write_text(
        f'[dock]\ndata_dir = "data"\n[link]\ntimeout_s = 0.5\n[people]\nlanguage = "{language}"\n',
        encoding="utf-8",
    )
    with SimulatedDockProcess(config, 2) as dock:
        verdicts = dock.wait_for_verdicts(2, WAIT_S)
        assert dock.stop() == 0
    said = [line for line in dock.stdout_lines if VERDICT_LINE.match(line)]
    assert sorted(line.split(":")[0] for line in said) == ["bay 1 SIM00001", "bay 2 SIM00002"]
    assert ready in said
    assert [line for line in said if line.startswith(not_ready)], said
    # What the tests read back is the same verdict whichever language said it.
    assert {bay: word for bay, (word, _) in verdicts.items()} == {1: "READY", 2: "NOT READY"}
