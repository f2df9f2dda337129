"""The board's read model: one card per piece of footage, filtered, counted, sorted, paged.

A card is a clip and every clip archive matching tied to it by picture (a `matches` row
either way, and so on transitively): copies, reposts, mirrored versions. A match by sound
alone does not join cards: a popular sound laid under unrelated footage is not the same
footage (the clip page shows it as "shares sound with"). The clip acquired first leads it
(earliest first acquisition; the lower id on a tie) and gives the card its status, assignee
and priority. A filter keeps a card when any of its clips passes every filter, so a repost
found by its caption still shows the footage it belongs to. Counts are of clips, by status,
under every filter but the status one.

Read straight from the case store's tables in a handful of queries over every clip (ids,
times and the match pairs), then details for the one page shown: 10,000 clips cost tens of
milliseconds (bench/bench_web.py), with no per-clip `record()`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from ..desk.workflow import PRIORITIES, STATUSES, priority_name
from ..store.cases import CaseStore
from ..store.records import as_utc
from ..store.schema import AcquisitionRow, ClipRow, IntakeFailureRow, KeyframeRow, MatchRow

SORTS = {
    "newest": "first seen, newest first",
    "oldest": "first seen, oldest first",
    "priority": "priority, highest first",
    "updated": "last change first",
    "copies": "most copies first",
}


@dataclass(frozen=True)
class BoardQuery:
    """What the board is asked for (every field from the query string, checked)."""

    status: str | None = None
    case: str | None = None
    assignee: str | None = None
    priority: str | None = None
    text: str | None = None
    sort: str = "newest"
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str]) -> BoardQuery:
        """From request parameters; unknown values are dropped rather than refused."""

        def val(key: str) -> str | None:
            v = (params.get(key) or "").strip()
            return v[:200] or None

        status = val("status")
        prio = val("priority")
        sort = val("sort") or "newest"
        try:
            page = max(1, min(100_000, int(params.get("page") or 1)))
        except ValueError:
            page = 1
        return cls(
            status=status if status in STATUSES else None,
            case=val("case"),
            assignee=val("assignee"),
            priority=prio if prio in PRIORITIES else None,
            text=val("q"),
            sort=sort if sort in SORTS else "newest",
            page=page,
        )

    def params(self, **change: object) -> dict[str, str]:
        """The query string of this query (with `change` applied), empty values left out."""
        base: dict[str, object] = {
            "status": self.status,
            "case": self.case,
            "assignee": self.assignee,
            "priority": self.priority,
            "q": self.text,
            "sort": None if self.sort == "newest" else self.sort,
            "page": None if self.page == 1 else self.page,
        }
        base.update(change)
        return {k: str(v) for k, v in base.items() if v not in (None, "")}


@dataclass(frozen=True)
class Card:
    """One piece of footage: its lead clip and how many copies it has."""

    lead: int
    members: tuple[int, ...]
    first_seen: datetime
    status: str
    priority: str
    assignee: str | None
    filename: str = ""
    kind: str = "video"
    duration_s: float | None = None
    error: str | None = None
    cases: tuple[str, ...] = ()
    anomalies: tuple[tuple[str, str], ...] = ()  # (code, severity), critical first
    thumb: int | None = None  # keyframe index of the thumbnail

    @property
    def copies(self) -> int:
        return len(self.members) - 1


@dataclass(frozen=True)
class Board:
    cards: list[Card]
    total: int  # cards passing the filters
    counts: dict[str, int]  # clips by status under the other filters
    page: int
    pages: int
    cases: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)


@dataclass
class _Clip:
    id: int
    status: str
    priority: int
    assignee: str | None
    updated: datetime
    first: datetime


def _groups(clips: dict[int, _Clip], pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """{root: member ids} of the match graph (union-find with path halving)."""
    parent = {cid: cid for cid in clips}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    out: dict[int, list[int]] = {}
    for cid in clips:
        out.setdefault(find(cid), []).append(cid)
    return out


def _like(text: str) -> str:
    esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _passing(ses: Session, q: BoardQuery, with_status: bool) -> set[int] | None:
    """Ids of clips passing the filters (None: no filter, every clip passes)."""
    conds = []
    if with_status and q.status:
        conds.append(ClipRow.status == q.status)
    if q.case:
        conds.append(ClipRow.acquisitions.any(AcquisitionRow.case == q.case))
    if q.assignee:
        conds.append(ClipRow.assignee == q.assignee)
    if q.priority:
        conds.append(ClipRow.priority == PRIORITIES[q.priority])
    if q.text:
        low, fold = _like(q.text.lower()), _like(q.text.casefold())
        acq = or_(
            func.lower(AcquisitionRow.source_url).like(low, escape="\\"),
            func.lower(AcquisitionRow.note).like(low, escape="\\"),
        )
        conds.append(
            or_(
                func.lower(ClipRow.filename).like(low, escape="\\"),
                ClipRow.onscreen_search.like(fold, escape="\\"),
                ClipRow.acquisitions.any(acq),
            )
        )
    if not conds:
        return None
    return set(ses.scalars(select(ClipRow.id).where(*conds)))


def _all_clips(ses: Session) -> dict[int, _Clip]:
    firsts = dict(
        ses.execute(
            select(AcquisitionRow.clip_id, func.min(AcquisitionRow.at)).group_by(
                AcquisitionRow.clip_id
            )
        ).all()
    )
    rows = ses.execute(
        select(
            ClipRow.id,
            ClipRow.status,
            ClipRow.priority,
            ClipRow.assignee,
            ClipRow.updated_at,
            ClipRow.created_at,
        )
    )
    return {
        r[0]: _Clip(r[0], r[1], r[2], r[3], as_utc(r[4]), as_utc(firsts.get(r[0]) or r[5]))
        for r in rows
    }


def _sort_key(sort: str, lead: _Clip, members: list[int], clips: dict[int, _Clip]) -> tuple:
    if sort == "oldest":
        return (lead.first.timestamp(), lead.id)
    if sort == "priority":
        return (-lead.priority, -lead.first.timestamp(), -lead.id)
    if sort == "updated":
        return (-max(clips[m].updated.timestamp() for m in members), -lead.id)
    if sort == "copies":
        return (-len(members), -lead.first.timestamp(), -lead.id)
    return (-lead.first.timestamp(), -lead.id)


@dataclass(frozen=True)
class _Index:
    """Every clip's sort facts and the groups of the match graph: rebuilt only when the desk
    changed (`digest`), so a board request reads the page's details and the filters only."""

    clips: dict[int, _Clip]
    groups: list[tuple[_Clip, list[int]]]  # (lead, members in order of first acquisition)
    cases: list[str]
    assignees: list[str]
    orders: dict[str, list[tuple[_Clip, list[int]]]] = field(default_factory=dict)

    def ordered(self, sort: str) -> list[tuple[_Clip, list[int]]]:
        """The groups in `sort` order (computed once per index and order)."""
        got = self.orders.get(sort)
        if got is None:
            got = sorted(self.groups, key=lambda lm: _sort_key(sort, lm[0], lm[1], self.clips))
            self.orders[sort] = got
        return got


_cache: dict[str, tuple[str, _Index]] = {}
_cache_lock = threading.Lock()


def _index(ses: Session, store: CaseStore) -> _Index:
    key = _digest(ses)
    with _cache_lock:
        hit = _cache.get(store.url)
    if hit is not None and hit[0] == key:
        return hit[1]
    clips = _all_clips(ses)
    pairs = ses.execute(
        select(MatchRow.clip_id, MatchRow.other_clip_id).where(footage_matches())
    ).all()
    groups = []
    for members in _groups(clips, pairs).values():
        members.sort(key=lambda m: (clips[m].first, m))
        groups.append((clips[members[0]], members))
    cases = sorted(c for c in ses.scalars(select(AcquisitionRow.case).distinct()) if c)
    assignees = sorted(a for a in ses.scalars(select(ClipRow.assignee).distinct()) if a)
    index = _Index(clips, groups, cases, assignees)
    with _cache_lock:
        _cache[store.url] = (key, index)
    return index


def board(store: CaseStore, q: BoardQuery, page_size: int) -> Board:
    """The board for `q`: the page's cards (with details), totals, counts per status."""
    with store.session() as ses:
        idx = _index(ses, store)
        clips = idx.clips
        passing = _passing(ses, q, with_status=True)
        others = _passing(ses, q, with_status=False) if q.status else passing
        leads = [
            (lead, members)
            for lead, members in idx.ordered(q.sort)
            if passing is None or any(m in passing for m in members)
        ]
        if others is None:
            counts = Counter(c.status for c in clips.values())
        else:
            counts = Counter(clips[i].status for i in others if i in clips)
        pages = max(1, -(-len(leads) // page_size))
        page = min(q.page, pages)
        shown = leads[(page - 1) * page_size : page * page_size]
        cards = _details(ses, shown)
    return Board(
        cards,
        len(leads),
        {s: counts.get(s, 0) for s in STATUSES},
        page,
        pages,
        idx.cases,
        idx.assignees,
    )


SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def _details(ses: Session, shown: list[tuple[_Clip, list[int]]]) -> list[Card]:
    ids = [lead.id for lead, _ in shown]
    if not ids:
        return []
    rows = {
        r[0]: r
        for r in ses.execute(
            select(
                ClipRow.id,
                ClipRow.filename,
                ClipRow.kind,
                ClipRow.duration_s,
                ClipRow.error,
                ClipRow.anomalies,
            ).where(ClipRow.id.in_(ids))
        )
    }
    cases: dict[int, list[str]] = {}
    for cid, case in ses.execute(
        select(AcquisitionRow.clip_id, AcquisitionRow.case)
        .where(AcquisitionRow.clip_id.in_(ids))
        .order_by(AcquisitionRow.id)
    ):
        if case and case not in cases.setdefault(cid, []):
            cases[cid].append(case)
    thumbs = dict(
        ses.execute(
            select(KeyframeRow.clip_id, func.min(KeyframeRow.index))
            .where(KeyframeRow.clip_id.in_(ids), KeyframeRow.duplicate_of.is_(None))
            .group_by(KeyframeRow.clip_id)
        ).all()
    )
    out = []
    for lead, members in shown:
        _id, name, kind, dur, error, anomalies = rows[lead.id]
        found = sorted(
            ((str(a.get("code")), str(a.get("severity", "warning"))) for a in anomalies or []),
            key=lambda a: SEVERITY.get(a[1], 3),
        )
        out.append(
            Card(
                lead.id,
                tuple(members),
                lead.first,
                lead.status,
                priority_name(lead.priority),
                lead.assignee,
                name,
                kind,
                dur,
                error,
                tuple(cases.get(lead.id, ())),
                tuple(a for a in found if a[1] != "info") or (),
                thumbs.get(lead.id),
            )
        )
    return out


def _digest(ses: Session) -> str:
    n, last = ses.execute(select(func.count(ClipRow.id), func.max(ClipRow.updated_at))).one()
    f, flast = ses.execute(
        select(func.count(IntakeFailureRow.id), func.max(IntakeFailureRow.last_at))
    ).one()
    m, mlast = ses.execute(select(func.count(MatchRow.id), func.max(MatchRow.id))).one()
    a = ses.scalar(select(func.max(AcquisitionRow.id)))
    return f"{n}:{last}:{f}:{flast}:{m}:{mlast}:{a}"


def footage_matches() -> ColumnElement[bool]:
    """`matches` rows where the picture agrees (a row from before sound matching has no
    `modality`: picture)."""
    modality = MatchRow.details["modality"].as_string()
    return or_(modality.is_(None), modality != "sound")


def digest(store: CaseStore) -> str:
    """Changes whenever a clip, an acquisition or a match is added or a clip changes (status,
    result, assignment, priority: each sets `updated_at`): the board's live view polls this
    and reloads its cards only when it moved; the board's index is rebuilt on the same key."""
    with store.session() as ses:
        return _digest(ses)
