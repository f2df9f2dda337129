"""A case's footage on two timelines: when the desk first acquired each clip, and when the
file says it was made (metadata creation time). Positions are computed here, as SVG
coordinates: the page's Content-Security-Policy allows no inline style."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from ..errors import NotFound
from ..store.records import as_utc
from ..store.schema import AcquisitionRow, ClipRow
from ..workspace import Workspace

WIDTH = 1000


@dataclass(frozen=True)
class Mark:
    clip_id: int
    filename: str
    at: datetime
    x: float  # 0..WIDTH


@dataclass(frozen=True)
class CaseView:
    name: str
    clips: int
    acquired: list[Mark]
    created: list[Mark]
    span_acquired: tuple[datetime, datetime] | None
    span_created: tuple[datetime, datetime] | None
    width: int = WIDTH


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _place(items: list[tuple[int, str, datetime]]) -> tuple[list[Mark], tuple | None]:
    if not items:
        return [], None
    lo, hi = min(i[2] for i in items), max(i[2] for i in items)
    span = (hi - lo).total_seconds() or 1.0
    marks = [
        Mark(cid, name, at, 10 + (WIDTH - 20) * (at - lo).total_seconds() / span)
        for cid, name, at in sorted(items, key=lambda i: i[2])
    ]
    return marks, (lo, hi)


def case_view(ws: Workspace, name: str) -> CaseView:
    """Raises NotFound when no clip was acquired for `name`."""
    first = (
        select(AcquisitionRow.clip_id, func.min(AcquisitionRow.at).label("at"))
        .group_by(AcquisitionRow.clip_id)
        .subquery()
    )
    with ws.cases.session() as ses:
        rows = ses.execute(
            select(ClipRow.id, ClipRow.filename, ClipRow.meta, first.c.at)
            .join(first, first.c.clip_id == ClipRow.id)
            .where(ClipRow.acquisitions.any(AcquisitionRow.case == name))
            .order_by(ClipRow.id)
        ).all()
    if not rows:
        raise NotFound(f"no clip in case {name!r}")
    acquired = [(cid, fname, as_utc(first)) for cid, fname, _m, first in rows]
    created = [
        (cid, fname, t)
        for cid, fname, meta, _f in rows
        if (t := _parse((meta or {}).get("creation_time"))) is not None
    ]
    a_marks, a_span = _place(acquired)
    c_marks, c_span = _place(created)
    return CaseView(name, len(rows), a_marks, c_marks, a_span, c_span)
