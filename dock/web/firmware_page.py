"""The technician's firmware page: the staged images, a bay's reflash and the batch update.

A face like `dock firmware` and `dock reflash`: both actions go to the running dock over its
control socket (ops reflash with a staged image, and firmware_update_all), where the bay
threads hold the links and the batch lives (dock.reflash.batch), so the page and the CLI
cannot differ. Only a technician sees the page; each action asks for the technician's
password again, which the dock checks as it does the CLI's (a wrong one counts towards the
lock-out): a page left signed in is not enough to rewrite a recorder's firmware. A bay is put
in technician mode (and taken out) here too, through the ops `dock technician` uses
(technician_enter with the password, technician_leave); the bays page shows the mode.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dock import control, ledger
from dock.i18n import t
from dock.people.roles import Role, require
from dock.reflash.batch import OUTCOME_WORDS, BayResult, totals
from dock.reflash.staging import Staging, trusted_keys
from dock.web.bays import bay_views
from dock.web.site import Ask, page


def _page(ask: Ask, status: int = 200, **shown: Any) -> Response:
    site = ask.site
    staged = Staging(site.data_dir, trusted_keys(site.settings)).images()
    docked = []
    with site.db.transaction() as session:
        for bay in bay_views(site):
            device = ledger.find_device(session, bay.device) if bay.device else None
            if device is not None:
                docked.append((bay, device.model, device.firmware_version))
    return ask.render(
        "firmware.html", status=status, staged=staged, docked=docked, words=OUTCOME_WORDS, **shown
    )


def firmware_page(ask: Ask) -> Response:
    require(ask.actor, Role.TECHNICIAN)
    return _page(ask)


def reflash_bay(ask: Ask) -> Response:
    require(ask.actor, Role.TECHNICIAN)
    reply = _ask_dock(
        ask, op="reflash", bay=_bay(ask), image_sha256=ask.form.get("image_sha256", "")
    )
    return _page(ask, outcome=str(reply.get("outcome", "")), is_done=bool(reply.get("confirmed")))


def enter_technician_mode(ask: Ask) -> Response:
    require(ask.actor, Role.TECHNICIAN)
    bay = _bay(ask)
    reply = _ask_dock(ask, op="technician_enter", bay=bay)
    said = t("bay {bay}: technician mode for {name}", bay=bay, name=reply.get("technician", ""))
    return _page(ask, outcome=said, is_done=True)


def leave_technician_mode(ask: Ask) -> Response:
    require(ask.actor, Role.TECHNICIAN)
    bay = _bay(ask)
    control.request(ask.site.data_dir, {"op": "technician_leave", "bay": bay})
    return _page(ask, outcome=t("bay {bay}: technician mode ended", bay=bay), is_done=True)


def update_all(ask: Ask) -> Response:
    require(ask.actor, Role.TECHNICIAN)
    reply = _ask_dock(
        ask,
        op="firmware_update_all",
        model=ask.form.get("model", ""),
        version=ask.form.get("version", ""),
    )
    results = [BayResult.from_dict(row) for row in reply.get("results", [])]
    return _page(ask, results=results, totals=totals(results))


def _bay(ask: Ask) -> int:
    text = ask.form.get("bay", "")
    if not text.isdigit():
        raise control.ControlError(t("choose a bay"))
    return int(text)


def _ask_dock(ask: Ask, **request: Any) -> dict[str, Any]:
    """The running dock's answer, in the signed-in technician's name and password."""
    request |= {"user": ask.actor.username, "password": ask.form.get("password", "")}
    return control.request(ask.site.data_dir, request, timeout_s=control.BATCH_WAIT_S)


ROUTES = [
    Route("/firmware", page(firmware_page)),
    Route("/firmware/reflash", page(reflash_bay), methods=["POST"]),
    Route("/firmware/update-all", page(update_all), methods=["POST"]),
    Route("/firmware/technician/enter", page(enter_technician_mode), methods=["POST"]),
    Route("/firmware/technician/leave", page(leave_technician_mode), methods=["POST"]),
]
NAV = [("/firmware", "Firmware")]
