"""Ratings' operations: file a rating (live or from queue_log) and read the figures back.

Synchronous (SQLAlchemy): the engine calls it from a thread. Writes go through the store
writer's `submit` (journal first), reads through `engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, column, func, literal, select, table

from callcore.features.ratings.model import (
    GROUPINGS,
    CallContext,
    RatingFact,
    RatingFigures,
    RatingRecord,
    Source,
    Verdict,
    context_of,
    rating_record,
)
from callcore.features.ratings.tables import Rating
from callcore.store.models import Call, CallLeg
from config.ratings import LEVELS
from config.schema import SiteConfig

ratings = Rating.__table__
calls = Call.__table__
legs = CallLeg.__table__
# the work orders' table by name: work orders are a sibling feature, not imported here
orders = table("workorders", column("id"))


class RatingsDisabled(RuntimeError):
    """The site has no `ratings:` section: callers are not asked."""


class RatingService:
    def __init__(
        self,
        engine: Engine,
        submit: Callable[[RatingRecord], None],
        config: Callable[[], SiteConfig],
    ) -> None:
        self._engine = engine
        self._submit = submit
        self._config = config

    def _keys(self) -> dict[str, int]:
        settings = self._config().ratings
        if settings is None:
            raise RatingsDisabled("the site config has no ratings section")
        return settings.keys

    # -- writing ----------------------------------------------------------------------------

    def context(self, linkedid: str) -> CallContext:
        """The stored call's rating context (empty fields for what the store lacks)."""
        with self._engine.connect() as conn:
            call = conn.execute(select(calls).where(calls.c.linkedid == linkedid)).mappings()
            call_row = call.first() or {}
            chain = conn.execute(select(legs).where(legs.c.linkedid == linkedid)).mappings()
            chain_rows = list(chain)
            request_id = conn.execute(  # a call registers the work order named after it
                select(orders.c.id).where(orders.c.id == linkedid)
            ).scalar()
        seat_zone = {s.id: s.zone for s in self._config().seats}
        return context_of(call_row, chain_rows, request_id or "", seat_zone)

    def record(
        self,
        linkedid: str,
        verdict: Verdict,
        at: float,
        *,
        source: Source = Source.LIVE,
        context: CallContext | None = None,
    ) -> RatingRecord:
        """File the rating of a call; `context` from the engine's own state, else the store."""
        rec = rating_record(
            linkedid,
            verdict,
            context if context is not None else self.context(linkedid),
            at,
            source,
        )
        self._submit(rec)
        return rec

    def reconcile(self, facts: Iterable[RatingFact]) -> list[RatingRecord]:
        """File the ratings queue_log holds (given while callcore was away). A call rated
        live too keeps its live row; replaying changes nothing."""
        keys = self._keys()
        return [
            self.record(f.linkedid, f.verdict(keys), f.at, source=Source.RECONCILED) for f in facts
        ]

    # -- reading ----------------------------------------------------------------------------

    def ratings(
        self,
        since: datetime,
        until: datetime,
        seat: str | None = None,
        unsatisfied: bool = False,
    ) -> list[dict[str, Any]]:
        """Rating rows given in [since, until), oldest first."""
        stmt = select(ratings).where(ratings.c.at >= since, ratings.c.at < until)
        if seat is not None:
            stmt = stmt.where(ratings.c.seat == seat)
        if unsatisfied:
            stmt = stmt.where(ratings.c.level >= 4)
        stmt = stmt.order_by(ratings.c.at, ratings.c.linkedid)
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def unsatisfied_calls(self, linkedids: Iterable[str]) -> set[str]:
        """Which of these calls were rated 不满意 or 非常不满意 (for QA sampling)."""
        wanted = list(linkedids)
        out: set[str] = set()
        with self._engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                stmt = select(ratings.c.linkedid).where(
                    ratings.c.linkedid.in_(wanted[i : i + 500]), ratings.c.level >= 4
                )
                out.update(conn.execute(stmt).scalars())
        return out

    def rating_of(self, linkedid: str) -> dict[str, Any] | None:
        """A call's rating row (level, key, outcome, at), or None if it has none (QA's view
        of a sampled call)."""
        stmt = select(ratings.c.level, ratings.c.key, ratings.c.outcome, ratings.c.at).where(
            ratings.c.linkedid == linkedid
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def figures(
        self, since: datetime, until: datetime, grouping: str = "all"
    ) -> dict[str, RatingFigures]:
        """The figures of calls answered that entered in [since, until), grouped like
        `model.rating_figures` (which this SQL matches; tests compare the two)."""
        if grouping not in GROUPINGS:
            raise ValueError(f"unknown grouping {grouping!r}; one of {', '.join(GROUPINGS)}")
        rated = ratings.c.linkedid.is_not(None)
        route_zone = case(
            (calls.c.route.like("q-%"), func.substr(calls.c.route, 3)), else_=literal("")
        )
        keys = {
            "all": literal(""),
            "zone": case((rated, ratings.c.zone), else_=route_zone),
            "seat": case((rated, ratings.c.seat), else_=calls.c.seat),
            "number": case((rated, ratings.c.hotline), else_=calls.c.hotline),
        }
        grp = keys[grouping].label("grp")
        stmt = (
            select(
                grp,
                func.count().label("answered"),
                *(
                    func.sum(case((ratings.c.level == lv, 1), else_=0)).label(f"l{lv}")
                    for lv in LEVELS
                ),
            )
            .select_from(calls.outerjoin(ratings, ratings.c.linkedid == calls.c.linkedid))
            .where(
                calls.c.answered_at.is_not(None),
                calls.c.entered_at >= since,
                calls.c.entered_at < until,
            )
        )
        if grouping != "all":
            stmt = stmt.group_by(grp)
        out: dict[str, RatingFigures] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(stmt).mappings():
                if not row["answered"]:
                    continue  # `all` over no calls still returns one row
                out[row["grp"] or ""] = RatingFigures(
                    answered=int(row["answered"]),
                    levels={lv: int(row[f"l{lv}"] or 0) for lv in LEVELS},
                )
        return out
