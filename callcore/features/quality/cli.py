"""`callcore qa`: the QA desk (质检) from the command line: draw a day, a reviewer's queue,
show a sample, score, correct, summaries.

The store and site config come from the click context: mounted under `callcore`, the
instance's (`ctx.obj.inst`); standalone, `--db` and `--config` (or CALLCORE_DB_URL /
CALLCORE_CONFIG). Output is Chinese unless `--lang en`. Showing a sample, scoring and
correcting are audited under `--actor` (default: the login name).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

import config as site_config
from callcore.features.quality.model import Marks, QualityError, Reason, Score
from callcore.features.quality.service import Actor, QualityService, Queued, SampleView
from callcore.features.ratings.model import level_label
from callcore.features.ratings.service import RatingService
from callcore.i18n import t
from callcore.privacy import mask_number
from callcore.store import db
from config.schema import SiteConfig


def _t(key: str, lang: str, **kw: Any) -> str:
    return t(key, lang).format(**kw)


@dataclass
class _Qa:
    db_url: str
    config: SiteConfig
    lang: str
    actor: str

    @contextmanager
    def service(self) -> Iterator[QualityService]:
        engine = db.make_engine(self.db_url)
        try:
            db.upgrade(engine)
            ratings = RatingService(engine, lambda rec: None, lambda: self.config)
            yield QualityService(
                engine,
                lambda: self.config,
                unsatisfied=ratings.unsatisfied_calls,
                rating_of=ratings.rating_of,
            )
        except QualityError as exc:
            _fail(exc.text(self.lang))
        finally:
            engine.dispose()


    def today(self) -> date:
        return datetime.now(ZoneInfo(self.config.site.timezone)).date()


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: a day is YYYY-MM-DD") from None


@click.group("qa")
@click.option("--db", "db_url", envvar="CALLCORE_DB_URL", help="The store (default: instance's).")
@click.option("--config", "config_path", envvar="CALLCORE_CONFIG", type=click.Path())
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--actor", help="Who acts, for the audit (default: the login name).")
@click.pass_context
def qa(
    ctx: click.Context, db_url: str | None, config_path: str | None, lang: str, actor: str | None
) -> None:
    """The QA desk (质检): draw samples, review and score them, summaries."""
    inst = getattr(ctx.obj, "inst", None)
    if db_url is None and inst is None:
        _fail(_t("qa_no_store", lang))
    cfg = site_config.load(config_path) if config_path or inst is None else inst.config
    ctx.obj = _Qa(db_url or inst.db_url, cfg, lang, actor or getpass.getuser())


pass_qa = click.make_pass_decorator(_Qa)


@qa.command("draw")
@click.option("--day", help="The calls' local day, YYYY-MM-DD (default: yesterday).")
@pass_qa
def draw(c: _Qa, day: str | None) -> None:
    """Draw a day's samples by the site's rules (drawing again adds nothing)."""
    when = _day(day) or c.today() - timedelta(days=1)
    with c.service() as svc:
        samples = svc.draw(when)
    click.echo(_t("qa_drawn", c.lang, day=when.isoformat(), n=len(samples)))


def _reasons(reasons: Any, lang: str) -> str:
    return "、".join(
        Reason(r).label(lang) if r in Reason._value2member_map_ else r for r in reasons
    )


def _queue_table(items: list[Queued], lang: str) -> Table:
    table = Table(title=_t("qa_queue", lang))
    for key in ("qa_day", "seat", "qa_call", "qa_reasons", "qa_reviewer", "qa_status", "qa_total"):
        table.add_column(_t(key, lang))
    for q in items:
        s = q.sample
        status = _t("qa_scored" if q.score else "qa_pending", lang)
        total = "" if q.score is None else str(q.score.total)
        table.add_row(
            s.day.isoformat(),
            s.seat,
            s.linkedid,
            _reasons(s.reasons, lang),
            s.reviewer,
            status,
            total,
        )
    return table


@qa.command("queue")
@click.option("--reviewer", help="A reviewer's id (default: every reviewer).")
@click.option("--day", help="Only calls of this local day, YYYY-MM-DD.")
@click.option("--seat", help="Only this seat's calls.")
@click.option(
    "--status",
    type=click.Choice(["pending", "scored", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@pass_qa
def queue(
    c: _Qa, reviewer: str | None, day: str | None, seat: str | None, status: str, as_json: bool
) -> None:
    """Samples to review (by default the ones not scored yet), oldest day first."""
    with c.service() as svc:
        items = svc.samples(day=_day(day), reviewer=reviewer, seat=seat, status=status)
    if as_json:
        _json(
            [{**q.sample.__dict__, "score": q.score.to_dict() if q.score else None} for q in items]
        )
    elif not items:
        click.echo(_t("qa_none", c.lang))
    else:
        Console(width=140).print(_queue_table(items, c.lang))


def _version_lines(s: Score, lang: str) -> list[str]:
    at = s.submitted_at.isoformat(timespec="seconds")
    lines = [_t("qa_version", lang, v=s.version, total=s.total, reviewer=s.reviewer, at=at)]
    if s.failed:
        lines.append(_t("qa_failed", lang, items="、".join(s.fails)))
    if s.reason:
        lines.append(_t("qa_why", lang, reason=s.reason))
    return lines


def _show_lines(v: SampleView, lang: str) -> list[str]:
    s = v.sample
    lines = [
        f"{_t('qa_call', lang)}: {s.linkedid}  {_t('qa_day', lang)}: {s.day}  {_t('seat', lang)}: "
        f"{s.seat}  {_t('qa_reviewer', lang)}: {s.reviewer}",
        f"{_t('qa_reasons', lang)}: {_reasons(s.reasons, lang)}",
    ]
    if v.call is not None:
        lines.append(
            f"{_t('caller', lang)}: {mask_number(v.call.caller_number)}  "
            f"{_t('talk', lang)}: {v.call.talk_seconds or 0:.0f}"
        )
    level = v.rating["level"] if v.rating else None
    lines.append(f"{_t('qa_rating', lang)}: {level_label(level, lang)}")
    lines.append(f"{_t('qa_recordings', lang)}: /api/v1/calls/{s.linkedid}/recordings")
    for score in v.history:
        lines += _version_lines(score, lang)
    return lines


@qa.command("show")
@click.argument("linkedid")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@pass_qa
def show(c: _Qa, linkedid: str, as_json: bool) -> None:
    """One sample: its call, rating, recordings and score versions (audited)."""
    with c.service() as svc:
        v = svc.view(linkedid, Actor(c.actor, "cli"))
    if as_json:
        _json(
            {
                "sample": v.sample.__dict__,
                "rating": v.rating,
                "caller_number": mask_number(v.call.caller_number) if v.call else None,
                "scores": [s.to_dict() for s in v.history],
            }
        )
        return
    click.echo("\n".join(_show_lines(v, c.lang)))


def _pairs(texts: tuple[str, ...], what: str, lang: str) -> dict[str, str]:
    out = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(_t("qa_bad_mark", lang, what=what, text=text))
        out[key.strip()] = value.strip()
    return out


def _marks(
    c: _Qa, points: tuple[str, ...], fails: tuple[str, ...], notes: tuple[str, ...], comment: str
) -> Marks:
    given: dict[str, int] = {}
    for item, value in _pairs(points, "--points", c.lang).items():
        if not value.isdigit():
            raise click.BadParameter(_t("qa_bad_mark", c.lang, what="--points", text=value))
        given[item] = int(value)
    return Marks(given, tuple(fails), _pairs(notes, "--note", c.lang), comment)


def _marks_options(fn: Any) -> Any:
    for option in reversed(
        (
            click.option("--reviewer", required=True, help="The reviewer's id (e.g. QA01)."),
            click.option("--points", "-p", multiple=True, help="item=points, once per point item."),
            click.option("--fail", "fails", multiple=True, help="A fail item ticked (zeroes it)."),
            click.option("--note", multiple=True, help="item=comment."),
            click.option("--comment", default="", help="A comment on the whole call."),
        )
    ):
        fn = option(fn)
    return fn


@qa.command("score")
@click.argument("linkedid")
@_marks_options
@pass_qa
def score(
    c: _Qa,
    linkedid: str,
    reviewer: str,
    points: tuple[str, ...],
    fails: tuple[str, ...],
    note: tuple[str, ...],
    comment: str,
) -> None:
    """Score a sample (version 1)."""
    marks = _marks(c, points, fails, note, comment)
    with c.service() as svc:
        s = svc.submit(reviewer, linkedid, marks, Actor(c.actor, "cli"))
    click.echo(_t("qa_saved", c.lang, lid=s.linkedid, v=s.version, total=s.total))


@qa.command("correct")
@click.argument("linkedid")
@_marks_options
@click.option("--reason", required=True, help="Why the score changes.")
@pass_qa
def correct(
    c: _Qa,
    linkedid: str,
    reviewer: str,
    points: tuple[str, ...],
    fails: tuple[str, ...],
    note: tuple[str, ...],
    comment: str,
    reason: str,
) -> None:
    """Correct a score: the next version, with a reason; the earlier ones are kept."""
    marks = _marks(c, points, fails, note, comment)
    with c.service() as svc:
        s = svc.correct(reviewer, linkedid, marks, reason, Actor(c.actor, "cli"))
    click.echo(_t("qa_saved", c.lang, lid=s.linkedid, v=s.version, total=s.total))


@qa.command("summary")
@click.option("--since", help="First local day, YYYY-MM-DD (default: the 1st of this month).")
@click.option("--until", help="Day after the last, YYYY-MM-DD (default: tomorrow).")
@click.option(
    "--period", type=click.Choice(["day", "week", "month"]), default="day", show_default=True
)
@click.option("--seat", help="Only this seat.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@pass_qa
def summary(
    c: _Qa, since: str | None, until: str | None, period: str, seat: str | None, as_json: bool
) -> None:
    """Per seat and day, week or month: scored calls, average, fails."""
    today = c.today()
    start = _day(since) or today.replace(day=1)
    end = _day(until) or today + timedelta(days=1)
    with c.service() as svc:
        rows = svc.summary(start, end, period, seat=seat)
    if as_json:
        _json([r.as_dict() for r in rows])
        return
    if not rows:
        click.echo(_t("qa_none", c.lang))
        return
    table = Table(title=_t("qa_summary", c.lang))
    for key in ("seat", "qa_period", "qa_count", "qa_average", "qa_fails"):
        table.add_column(_t(key, c.lang))
    for r in rows:
        avg = "" if r.average is None else f"{r.average:.1f}"
        table.add_row(r.seat, r.period, str(r.count), avg, str(r.fails))
    Console(width=140).print(table)
