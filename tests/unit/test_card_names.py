"""What a card says about a clip by itself, cross-checked with the recorder's listing."""

from datetime import UTC, datetime

from dock.offload.card_names import clip_facts, parse_layout_name
from firmware_bridge.client import ClipInfo
from hw.mass_storage import Entry, EntryKind

CST = 480  # China Standard Time, minutes east of UTC


def entry(path: str, **kwargs) -> Entry:
    name = path.rsplit("/", 1)[-1]
    return Entry(path, name.encode(), 100, EntryKind.FILE, path.count("/"), **kwargs)


def listed(path: str, start_s: int = 0, end_s: int = 0, is_important: bool = False) -> ClipInfo:
    return ClipInfo(path, start_s, end_s, 100, b"", is_important, "")


def s(moment: datetime) -> int:
    return int(moment.timestamp())


def test_a_recorder_layout_name_is_read_in_the_cards_zone():
    name = parse_layout_name("20261201_083015_ZFY00001_310115.MP4", CST)
    assert name is not None
    assert name.start_utc == datetime(2026, 12, 1, 0, 30, 15, tzinfo=UTC)
    assert (name.serial, name.officer_number, name.extension) == ("ZFY00001", "310115", "MP4")


def test_names_outside_the_layout_or_with_impossible_times_are_not_read_as_times():
    assert parse_layout_name("20261123_081502_0001.MP4", CST) is None  # no officer
    assert parse_layout_name("20261399_256199_ZFY1_1.MP4", CST) is None
    assert parse_layout_name("../20261201_083015_ZFY1_1.MP4", CST) is None


def test_the_cards_name_wins_and_a_listing_that_disagrees_is_recorded():
    path = "DCIM/20261201/20261201_083015_ZFY00001_310115.MP4"
    listing_start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    facts = clip_facts(
        entry(path),
        listed(path, s(listing_start), s(listing_start) + 60),
        device_serial="ZFY00001",
        officer_number="310115",
        card_utc_offset_min=CST,
    )
    assert facts.time_source == "card_name"
    assert facts.start_utc == datetime(2026, 12, 1, 0, 30, 15, tzinfo=UTC)
    assert len(facts.disagreements) == 1 and "in the recorder's listing" in facts.disagreements[0]


def test_a_listing_without_times_falls_back_to_the_cards_own_times_never_1970():
    created = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    modified = datetime(2026, 12, 1, 1, 10, tzinfo=UTC)
    facts = clip_facts(
        entry("DCIM/clip.MP4", created_utc=created, modified_utc=modified),
        listed("DCIM/clip.MP4"),
        device_serial="ZFY00001",
        officer_number=None,
        card_utc_offset_min=CST,
    )
    assert (facts.time_source, facts.start_utc, facts.end_utc) == ("card_times", created, modified)
    assert facts.disagreements == ()
    bare = clip_facts(
        entry("DCIM/clip.MP4"),
        None,
        device_serial="ZFY00001",
        officer_number=None,
        card_utc_offset_min=CST,
    )
    assert (bare.time_source, bare.start_utc) == ("none", None)
    assert "no recording time" in bare.disagreements[0]


def test_the_important_mark_on_the_card_is_kept_and_a_listing_without_it_noted():
    readonly = clip_facts(
        entry("DCIM/a.MP4", is_readonly=True),
        listed("DCIM/a.MP4"),
        device_serial="Z",
        officer_number=None,
        card_utc_offset_min=CST,
    )
    assert readonly.is_important and "marked important on the card" in readonly.disagreements[-1]
    folder = clip_facts(
        entry("IMPORTANT/b.MP4"),
        None,
        device_serial="Z",
        officer_number=None,
        card_utc_offset_min=CST,
    )
    assert folder.is_important


def test_a_serial_or_officer_in_the_name_that_is_not_this_recorders_is_noted():
    path = "DCIM/20261201_083015_ZFY99999_000777.MP4"
    facts = clip_facts(
        entry(path),
        None,
        device_serial="ZFY00001",
        officer_number="310115",
        card_utc_offset_min=CST,
    )
    assert facts.card_serial == "ZFY99999" and facts.card_officer_number == "000777"
    assert any("serial ZFY99999" in d for d in facts.disagreements)
    assert any("officer 000777" in d for d in facts.disagreements)
