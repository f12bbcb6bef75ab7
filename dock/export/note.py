"""The written note (文字说明材料) and the BagIt tag files, built from one ExportFacts.

The rules (000 art.14, 002 art.16, 003 art.23, 004 art.13) ask for a note naming maker,
extractor and extraction time beside the evidence; the time is shown in the agency's zone,
named, because a court reads local time. The same facts fill bag-info.txt (RFC 8493).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

NOTE_STEM = "文字说明材料"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@dataclass(frozen=True)
class DiscClip:
    """One clip as it goes on the disc: its bag path and the facts the note lists."""

    sha256: str
    size_bytes: int
    disc_name: str  # under data/clips/, fitted to Joliet's byte limit
    card_name: str  # the card's full name, as recorded
    device_serial: str
    officer_number: str | None
    recorded_start_utc: datetime


@dataclass(frozen=True)
class ExportFacts:
    case: str
    unit: str
    maker: str
    extractor: str
    confirmers: tuple[str, str]
    approval_id: str
    approved_at_utc: datetime
    extracted_at_utc: datetime
    time_zone: str
    clips: tuple[DiscClip, ...]

    def local(self, moment: datetime) -> str:
        """A time in the agency's zone, the zone named: 2026-12-02 19:25:07 CST (Asia/Shanghai)."""
        shown = moment.astimezone(ZoneInfo(self.time_zone))
        return f"{shown:%Y-%m-%d %H:%M:%S} {shown.tzname()} ({self.time_zone}, UTC{shown:%z})"


def note_text(facts: ExportFacts) -> str:
    lines = [
        f"{NOTE_STEM} / Written note",
        f"案件 Case: {facts.case}",
        f"单位 Unit: {facts.unit}",
        f"制作人 Maker: {facts.maker}",
        f"提取人 Extractor: {facts.extractor}",
        f"提取时间 Extraction time: {facts.local(facts.extracted_at_utc)}",
        f"确认人 Confirmed by: {facts.confirmers[0]}, {facts.confirmers[1]}",
        f"批准 Approval: {facts.approval_id} at {facts.local(facts.approved_at_utc)}",
        f"视频 Clips: {len(facts.clips)} (SHA-256, bytes, recorder, officer, recorded, name)",
    ]
    for c in facts.clips:
        lines.append(
            f"{c.sha256}  {c.size_bytes}  {c.device_serial}  {c.officer_number or '-'}  "
            f"{facts.local(c.recorded_start_utc)}  data/clips/{c.disc_name}  ({c.card_name})"
        )
    return "\n".join(lines) + "\n"


def note_pdf(text: str) -> bytes:
    """The note as PDF with a CJK font embedded, so the Chinese renders on any reader."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("wqy", fname=CJK_FONT)
    pdf.set_font("wqy", size=9)
    for line in text.splitlines():
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def label_text(facts: ExportFacts, copy: int) -> str:
    """What the disc's label says (and its face should): copy, unit, maker, time, case."""
    return (
        f"副本 Copy {copy} of 2\n单位 Unit: {facts.unit}\n制作人 Maker: {facts.maker}\n"
        f"时间 Time: {facts.local(facts.extracted_at_utc)}\n案件 Case: {facts.case}\n"
        f"批准 Approval: {facts.approval_id}\n"
    )


def bag_tag_files(facts: ExportFacts, payload: dict[str, bytes], label: bytes) -> dict[str, bytes]:
    """bagit.txt, bag-info.txt, label.txt, manifest and tag manifest for clips plus `payload`.

    The label is a tag file so that the tag manifest covers it (LABEL.txt at the disc's root
    is the same bytes); it is the one file in which copy 1's bag differs from copy 2's.

    payload: the note's files under data/ (their bytes are small and hashed here); clip hashes
    are their store names, proven again while they stream into the image.
    """
    manifest = [f"{c.sha256}  data/clips/{c.disc_name}" for c in facts.clips]
    manifest += [f"{hashlib.sha256(b).hexdigest()}  data/{name}" for name, b in payload.items()]
    octets = sum(c.size_bytes for c in facts.clips) + sum(len(b) for b in payload.values())
    info = [
        f"Source-Organization: {facts.unit}",
        f"External-Identifier: {facts.case}",
        f"Case: {facts.case}",
        f"Unit: {facts.unit}",
        f"Maker: {facts.maker}",
        f"Extractor: {facts.extractor}",
        f"Extraction-Time: {facts.local(facts.extracted_at_utc)}",
        f"Extraction-Time-UTC: {facts.extracted_at_utc.isoformat()}",
        f"Confirmed-By: {facts.confirmers[0]}; {facts.confirmers[1]}",
        f"Approval: {facts.approval_id}",
        f"Bagging-Date: {facts.extracted_at_utc:%Y-%m-%d}",
        f"Payload-Oxum: {octets}.{len(manifest)}",
    ]
    tags = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": ("\n".join(info) + "\n").encode(),
        "label.txt": label,
        "manifest-sha256.txt": ("\n".join(manifest) + "\n").encode(),
    }
    tagmanifest = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in tags.items())
    tags["tagmanifest-sha256.txt"] = tagmanifest.encode()
    return tags
