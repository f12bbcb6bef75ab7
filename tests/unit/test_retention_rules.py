"""A retention rule is stored and journaled in one stable English form and shown in the
agency's language: texts stored before rules had kinds still read, in either language."""

from __future__ import annotations

import pytest

from dock import i18n
from dock.retention import purge
from dock.retention.policy import Rule, RuleKind, shown_rule

STORED = {
    "default 180 days": Rule(RuleKind.DEFAULT, days=180),
    "category 交通 事故 1095 days": Rule(RuleKind.CATEGORY, days=1095, category="交通 事故"),
    "case 城管罚字第1号: kept as its case file": Rule(RuleKind.CASE_FILE, case="城管罚字第1号"),
    "case A-7: kept while the case file is open": Rule(RuleKind.CASE_OPEN, case="A-7"),
}


@pytest.fixture
def english():
    i18n.choose("en", "Asia/Shanghai")
    yield
    i18n.choose("zh", "Asia/Shanghai")


@pytest.mark.parametrize("stored", STORED)
def test_a_stored_rule_parses_to_its_kind_and_stores_back_the_same(stored):
    rule = Rule.parse(stored)
    assert rule == STORED[stored] and rule.stored == stored


def test_a_rule_is_shown_in_chinese_by_default():
    assert [shown_rule(text) for text in STORED] == [
        "默认保存期 180 天",
        "类别“交通 事故” 1095 天",
        "案件 城管罚字第1号：随案卷保存",
        "案件 A-7：案卷未结，一直保存",
    ]


def test_a_rule_is_shown_in_english_when_chosen(english):
    assert shown_rule("category 交通事故 1095 days") == "category 交通事故: 1095 days"


def test_a_stored_text_of_no_known_kind_is_shown_as_it_is():
    assert Rule.parse("kept by hand") is None
    assert shown_rule("kept by hand") == "kept by hand"


EXPIRED = purge.Expired(
    7, "ab" * 32, 10, None, "2026-01-02 03:00:00.000000", "2026-07-01 03:00:00.000000",
    "default 180 days",
)  # fmt: skip


def test_a_dry_run_line_reads_in_the_agency_language():
    assert purge.lines([EXPIRED]) == [
        f"视频 7（-，2026-01-02 录制）：按“默认保存期 180 天”于 2026-07-01 到期；{'ab' * 32}"
    ]


def test_a_dry_run_line_in_english(english):
    assert purge.lines([EXPIRED]) == [
        f"clip 7 (-, recorded 2026-01-02): expired 2026-07-01 under default period: 180 days; "
        f"{'ab' * 32}"
    ]
