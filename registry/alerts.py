"""Alerts: one per (dock, kind, subject), so a row delivered twice never alerts twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Alert


def raise_alert(
    session: Session, dock_id: str, kind: str, subject: str, text: str, now: datetime
) -> Alert:
    held = session.scalars(
        select(Alert).where(Alert.dock_id == dock_id, Alert.kind == kind, Alert.subject == subject)
    ).one_or_none()
    if held is not None:
        return held
    alert = Alert(dock_id=dock_id, kind=kind, subject=subject[:256], text=text, at=now)
    session.add(alert)
    session.flush()
    return alert
