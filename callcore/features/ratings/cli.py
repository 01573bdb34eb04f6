"""`callcore ratings`: the after-call ratings (一次一评) from the store.

`figures` prints the rated share and 满意率 per zone, seat or number, `list` the ratings
given, `show` one call's. Read-only; the store's schema is brought up to date first, as
`callcore calls` does. Chinese unless `--lang en`; `--json` for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from callcore.commands import Context, fail, open_store, parse_since, pass_ctx
from callcore.features.ratings.api import figure_out, rating_out
from callcore.features.ratings.model import GROUPINGS
from callcore.features.ratings.service import RatingService

T = TypeVar("T")
_WORDS = {
    "key": ("分组", "group"),
    "answered": ("接听", "answered"),
    "rated": ("已评价", "rated"),
    "unrated": ("未评价", "not rated"),
    "rated_share": ("参评率", "rated share"),
    "satisfaction": ("满意率", "satisfaction"),
    "none": ("没有评价记录", "no ratings"),
    "all": ("全部", "all"),
}


def _w(key: str, lang: str) -> str:
    zh, en = _WORDS[key]
    return zh if lang == "zh" else en


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _with_service(c: Context, work: Callable[[RatingService], T]) -> T:
    engine = open_store(c.inst)
    try:

        def refuse(_rec: Any) -> None:
            raise RuntimeError("the command line reads ratings; the engine files them")

        return work(RatingService(engine, refuse, lambda: c.inst.config))
    finally:
        engine.dispose()


def _window(c: Context, since: str | None) -> tuple[datetime, datetime]:
    tz = c.inst.config.site.timezone
    start = parse_since(since or "today", tz)
    now = datetime.now(ZoneInfo(tz))
    assert start is not None
    if start >= now:
        fail(f"--since {since!r} is not in the past")
    return start, now


def _lang(c: Context, lang: str | None) -> str:
    return lang or c.inst.config.site.lang


@click.group("ratings")
def ratings_group() -> None:
    """After-call ratings (一次一评): figures, the ratings given, one call's."""


@ratings_group.command("figures")
@click.option("--since", help="ISO time, 'today' (default), or an age such as 2h, 7d.")
@click.option("--by", type=click.Choice(GROUPINGS), default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the groups.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def figures(c: Context, since: str | None, by: str, as_json: bool, lang: str | None) -> None:
    """Rated share and 满意率 of the calls answered since then, per group."""
    start, end = _window(c, since)
    found = _with_service(c, lambda s: s.figures(start, end, by))
    groups = [figure_out(k, f).model_dump() for k, f in sorted(found.items())]
    if as_json:
        click.echo(json.dumps(groups, ensure_ascii=False, indent=1))
        return
    lang = _lang(c, lang)
    if not groups:
        click.echo(_w("none", lang))
        return
    cols = ("key", "answered", "rated", "unrated", "rated_share", "satisfaction")
    click.echo("  ".join(_w(k, lang) for k in cols))
    for g in groups:
        key = g["key"] or _w("all", lang)
        nums = [str(g[k]) for k in cols[1:4]] + [_pct(g["rated_share"]), _pct(g["satisfaction"])]
        click.echo("  ".join([key, *nums]))


@ratings_group.command("list")
@click.option("--since", help="ISO time, 'today' (default), or an age such as 2h, 7d.")
@click.option("--seat", help="Only this seat's ratings.")
@click.option("--unsatisfied", is_flag=True, help="Only 不满意 and 非常不满意.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of ratings.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def list_ratings(
    c: Context, since: str | None, seat: str | None, unsatisfied: bool, as_json: bool,
    lang: str | None,
) -> None:  # fmt: skip
    """The ratings given since then, oldest first."""
    start, end = _window(c, since)
    rows = _with_service(c, lambda s: s.ratings(start, end, seat, unsatisfied))
    lang = _lang(c, lang)
    out = [rating_out(r, lang).model_dump() for r in rows]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    if not out:
        click.echo(_w("none", lang))
    for r in out:
        click.echo(f"{r['at']}  {r['linkedid']}  {r['seat'] or '-'}  {r['zone'] or '-'}  "
                   f"{r['hotline'] or '-'}  {r['label']}  ({r['outcome']})")  # fmt: skip


@ratings_group.command("show")
@click.argument("linkedid")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def show(c: Context, linkedid: str, lang: str | None) -> None:
    """One call's rating, as JSON."""
    row = _with_service(c, lambda s: s.rating(linkedid))
    if row is None:
        fail(f"no rating for call {linkedid!r}")
    click.echo(json.dumps(rating_out(row, _lang(c, lang)).model_dump(), ensure_ascii=False,
                          indent=1))  # fmt: skip
