"""The one place officer- and custodian-facing text is translated and times are shown.

Messages are written in English in the code (`t("...")`) and translated from the gettext
catalogs in dock/locale (Babel reads the .po files: no compile step to forget; every .po of
a language is read, dock.po first, so a face such as the web pages keeps its own); Chinese is
the default, `[people] language` chooses. Times are stored in UTC and shown in the agency's
zone (`[people] time_zone`, default Asia/Shanghai), with the zone named.
"""

from __future__ import annotations

import functools
import gettext
import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "dock"
LANGUAGES = ("zh", "en")
_chosen = {"language": "zh", "time_zone": "Asia/Shanghai"}


def choose(language: str, time_zone: str) -> None:
    """Set from the config at start: every face then speaks the agency's language."""
    _chosen["language"] = language
    _chosen["time_zone"] = time_zone


@functools.cache
def _catalog(language: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    # dock.po, then one catalog per face (web.po: the custodians' pages), merged into one.
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    paths = sorted(folder.glob("*.po"), key=lambda p: (p.stem != DOMAIN, p.name))
    if not paths:
        return gettext.NullTranslations()
    with paths[0].open("rb") as po:
        catalog = read_po(po, locale=language)
    for path in paths[1:]:
        with path.open("rb") as po:
            for message in read_po(po, locale=language):
                if message.id:
                    catalog[message.id] = message
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def t(message: str, **values: Any) -> str:
    """`message` in the chosen language, with {names} filled in from values."""
    return _catalog(_chosen["language"]).gettext(message).format(**values)


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as the agency reads it, its zone named: 2026-12-02 18:40:00 CST."""
    if moment is None:
        return ""
    zone = ZoneInfo(_chosen["time_zone"])
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
