"""Every text the custodians' pages show through t() has its Chinese in the catalogs (the
literals, page titles, menu entries and the *_WORDS tables), so a new page cannot show
English to an agency that reads Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from dock import i18n
from dock.web.app import PAGES

WEB = Path(i18n.__file__).parent / "web"
# t("...") or t('...') whose one literal is the whole message (not a concatenation).
LITERAL = re.compile(r"""\bt\(\s*(?:"([^"\\]+)"|'([^'\\]+)')\s*[,)]""")
TITLE = re.compile(r"""\{% set title = "([^"]+)" %\}""")


def shown_messages() -> set[str]:
    found = set()
    for path in [*WEB.glob("*.py"), *(WEB / "templates").glob("*.html")]:
        for match in LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(1) or match.group(2))
        found.update(TITLE.findall(path.read_text(encoding="utf-8")))
    for module in PAGES:
        found.update(label for _, label in module.NAV)
        for name in dir(module):
            if name.endswith("_WORDS"):
                found.update(getattr(module, name).values())
    return found


def test_every_message_of_the_pages_has_its_chinese():
    messages = shown_messages()
    assert "Sampling audits" in messages and "Purge now" in messages  # the scan finds them
    catalog = i18n._catalog("zh")
    untranslated = sorted(m for m in messages if catalog.gettext(m) == m)
    assert untranslated == []
