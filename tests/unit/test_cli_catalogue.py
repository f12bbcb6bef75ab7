"""Every message the retention commands print or refuse with through t() (theirs and
dock.retention's) has its Chinese in the catalogs, so `dock hold`, `dock purge`, `dock
retention` and `dock sample` speak the agency's language like the other commands."""

from __future__ import annotations

import re
from pathlib import Path

from dock import control, i18n, reflash, retention, technician
from dock.cli import firmware_commands, reflash_commands, retention_commands, technician_commands

# t("...") whose one literal is the whole message (not a concatenation).
LITERAL = re.compile(r"""\bt\(\s*"([^"\\]+)"\s*[,)]""")


def messages_of(path: Path) -> set[str]:
    return set(LITERAL.findall(path.read_text(encoding="utf-8")))


def test_every_message_of_the_retention_commands_has_its_chinese():
    modules = [Path(retention_commands.__file__), *Path(retention.__file__).parent.glob("*.py")]
    messages = set().union(*(messages_of(path) for path in modules))
    assert "no active holds" in messages and "would remove" in messages  # the scan finds them
    assert "answer every checklist item; missing: {items}" in messages
    catalog = i18n._catalog("zh")
    untranslated = sorted(m for m in messages if catalog.gettext(m) == m)
    assert untranslated == []


def test_every_message_of_the_reflash_firmware_and_technician_commands_has_its_chinese():
    """Theirs, dock.reflash's and dock.technician's, and the control ops those commands ask."""
    modules = [
        Path(reflash_commands.__file__),
        Path(firmware_commands.__file__),
        Path(technician_commands.__file__),
        *Path(reflash.__file__).parent.glob("*.py"),
        Path(technician.__file__),
        Path(control.__file__),
    ]
    messages = set().union(*(messages_of(path) for path in modules))
    assert "bay {bay}: technician mode for {name}" in messages  # the scan finds them
    assert (
        "{succeeded} succeeded, {refused} refused, {failed} failed, {skipped} skipped" in messages
    )
    catalog = i18n._catalog("zh")
    untranslated = sorted(m for m in messages if catalog.gettext(m) == m)
    assert untranslated == []


def test_a_purge_count_reads_in_chinese_by_default():
    assert i18n.t("{verb}: {count} clips", verb=i18n.t("would remove"), count=3) == (
        "将清除：3 个视频"
    )
