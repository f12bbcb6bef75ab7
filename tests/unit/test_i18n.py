"""Messages come from the catalogs, Chinese by default; times show in the agency's zone."""

from __future__ import annotations

from datetime import UTC, datetime

from dock import i18n


def test_messages_are_chinese_by_default_and_english_when_chosen():
    try:
        assert i18n.t("wrong user name or password; try again") == "用户名或密码错误，请重试"
        i18n.choose("en", "Asia/Shanghai")
        assert i18n.t("wrong user name or password; try again") == (
            "wrong user name or password; try again"
        )
    finally:
        i18n.choose("zh", "Asia/Shanghai")


def test_stored_utc_shows_in_the_agency_zone_with_the_zone_named():
    assert i18n.local_time(datetime(2026, 12, 2, 2, 0, tzinfo=UTC)) == "2026-12-02 10:00:00 CST"
