"""A small JSON API for comparing a dock's journal with what the registry holds.

`dock audit verify --against-registry URL` reads the verified head and the held hashes
page by page; helper routes only, mounted by the web app (API_ROUTES).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from registry.models import Dock, Row

MAX_PAGE = 5000


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


async def dock_head(request: Request) -> JSONResponse:
    with _sessions(request)() as session:
        dock = session.get(Dock, request.path_params["dock"])
        if dock is None:
            return JSONResponse({"error": "unknown dock"}, status_code=404)
        return JSONResponse(
            {
                "dock": dock.id,
                "verified_head_id": dock.verified_head_id,
                "verified_head_hash": dock.verified_head_hash,
                "last_checkpoint_size": dock.last_checkpoint_size,
            }
        )


async def dock_hashes(request: Request) -> JSONResponse:
    """Held rows after `after` (first versions only): [[row_id, hash, chain_ok], ...]."""
    try:
        after = int(request.query_params.get("after", "0"))
        limit = min(int(request.query_params.get("limit", "1000")), MAX_PAGE)
    except ValueError:
        return JSONResponse({"error": "after and limit are integers"}, status_code=400)
    with _sessions(request)() as session:
        rows = session.execute(
            select(Row.row_id, Row.hash, Row.chain_ok)
            .where(
                Row.dock_id == request.path_params["dock"],
                Row.conflict_no == 0,
                Row.row_id > after,
            )
            .order_by(Row.row_id)
            .limit(limit)
        ).all()
    return JSONResponse({"rows": [[r.row_id, r.hash, r.chain_ok] for r in rows]})


API_ROUTES = [
    Route("/api/docks/{dock}/head", dock_head),
    Route("/api/docks/{dock}/hashes", dock_hashes),
]
