"""`kb`: the knowledge base from the command line (import, search, list, show, add, edit,
delete).

The database is `--db`, or CALLCORE_DB_URL, or, mounted under `callcore`, the instance's
store (`ctx.obj.inst.db_url`, with the site's time zone); the schema is brought up to date
first, as `callcore calls` does. Output is Chinese unless `--lang en`.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from callcore.features.knowledge.importer import ImportRefused, read_sources
from callcore.features.knowledge.model import (
    ArticleIn,
    ArticlePatch,
    KnowledgeError,
    Marked,
    field_problem,
    t,
)
from callcore.features.knowledge.service import KnowledgeService
from callcore.store import db


@dataclass
class _Kb:
    url: str
    timezone: str
    lang: str
    actor: str

    @contextmanager
    def service(self) -> Iterator[KnowledgeService]:
        engine = db.make_engine(self.url)
        try:
            db.upgrade(engine)
            yield KnowledgeService(engine, clock=lambda: datetime.now(UTC), timezone=self.timezone)
        except KnowledgeError as exc:
            _fail(exc.text(self.lang))
        finally:
            engine.dispose()


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _instance(ctx: click.Context) -> Any:
    parent = ctx.parent.obj if ctx.parent is not None else None
    return getattr(parent, "inst", None)


@click.group("kb")
@click.option(
    "--db", "url", envvar="CALLCORE_DB_URL", help="Store URL (sqlite:///… or postgresql://…)."
)
@click.option(
    "--timezone", help="Time zone of validity dates (default: the site's, Asia/Shanghai)."
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--actor", help="Who makes the changes (default: the login name).")
@click.pass_context
def kb(
    ctx: click.Context, url: str | None, timezone: str | None, lang: str, actor: str | None
) -> None:
    """The knowledge base (知识库): articles seats search while they talk."""
    inst = _instance(ctx)
    if url is None and inst is not None:
        url = inst.db_url
    if timezone is None:
        timezone = inst.config.site.timezone if inst is not None else "Asia/Shanghai"
    if url is None:
        _fail("give the store with --db or CALLCORE_DB_URL")
    ctx.obj = _Kb(url, timezone, lang, actor or getpass.getuser())


pass_kb = click.make_pass_decorator(_Kb)


def _marked(m: Marked) -> str:
    """Text with its marks in bold red (plain where the output is not a terminal)."""
    out, at = [], 0
    for start, end in m.marks:
        out += [m.text[at:start], click.style(m.text[start:end], fg="red", bold=True)]
        at = end
    return "".join([*out, m.text[at:]])


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


@kb.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Only read and check; write nothing.")
@pass_kb
def import_(c: _Kb, paths: tuple[Path, ...], check: bool) -> None:
    """Import folders of Markdown files, .md and .csv files: all or nothing."""
    try:
        items = read_sources(list(paths), c.lang)
    except ImportRefused as exc:
        lines = [t("import_refused", c.lang, n=len(exc.problems))]
        _fail("\n".join(lines + [f"  {p}" for p in exc.problems]))
    if check:
        click.echo(f"{len(items)} ok")
        return
    with c.service() as svc:
        counts = svc.import_articles([i.article for i in items], c.actor)
    click.echo(t("imported", c.lang, **counts.__dict__))


@kb.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--all", "include_expired", is_flag=True, help="Also articles not in force.")
@click.option("--class", "class_id", help="Only this class.")
@click.option("--unit", help="Only this responsible unit.")
@click.option("--json", "as_json", is_flag=True)
@pass_kb
def search(c: _Kb, words: tuple[str, ...], limit: int, include_expired: bool,
           class_id: str | None, unit: str | None, as_json: bool) -> None:  # fmt: skip
    """Search, best match first."""
    with c.service() as svc:
        result = svc.search(" ".join(words), limit=limit, include_expired=include_expired,
                            class_id=class_id, unit=unit)  # fmt: skip
    if as_json:
        _json(result.model_dump(mode="json"))
        return
    if not result.hits:
        click.echo(t("no_hits", c.lang))
        return
    if result.fuzzy:
        click.echo(t("fuzzy", c.lang))
    for n, hit in enumerate(result.hits, 1):
        flag = "" if hit.current else f"  [{t('not_current', c.lang)}]"
        click.echo(f"{n}. {_marked(hit.title)}  ({hit.id}, {hit.unit}){flag}")
        click.echo(f"   {_marked(hit.snippet)}")


@kb.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Also articles not in force.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@pass_kb
def list_(c: _Kb, include_expired: bool, limit: int) -> None:
    """The articles, the latest change first."""
    with c.service() as svc:
        page = svc.list(include_expired=include_expired, limit=limit)
    for a in page.articles:
        flag = "" if a.current else f"  [{t('not_current', c.lang)}]"
        click.echo(f"{a.id}\t{a.title}\t{a.unit}\tv{a.version}{flag}")
    click.echo(f"{len(page.articles)}/{page.total}")


@kb.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True)
@pass_kb
def show(c: _Kb, article_id: str, as_json: bool) -> None:
    """One article, whole."""
    with c.service() as svc:
        a = svc.get(article_id)
    if as_json:
        _json(a.model_dump(mode="json"))
        return
    window = f"{a.valid_from or '…'} – {a.valid_until or '…'}"
    state = t("current" if a.current else "not_current", c.lang)
    click.echo(click.style(a.title, bold=True))
    for key, value in [
        ("id", a.id),
        ("class_id", f"{a.class_id} {a.class_name}".strip()),
        ("unit", a.unit),
        ("valid_from", f"{window} ({state})"),
        (
            "version",
            f"{a.version} · {t('updated', c.lang)} {a.updated_at:%Y-%m-%d %H:%M} {a.updated_by}",
        ),
    ]:
        click.echo(f"{t(key, c.lang)}: {value}")
    click.echo("")
    click.echo(a.body)


def _body(body: str | None, body_file: Path | None) -> str | None:
    if body_file is not None:
        return sys.stdin.read() if str(body_file) == "-" else body_file.read_text(encoding="utf-8")
    return body


def _date(value: str | None) -> str | None:
    """A date option: `none` (or empty) clears it."""
    return None if value is not None and value.strip().lower() in ("", "none") else value


def _fields(**given: Any) -> dict[str, Any]:
    """The options given, as article fields (an unset option is left out)."""
    out = {k: v for k, v in given.items() if v is not None}
    for key in ("valid_from", "valid_until"):
        if key in out:
            out[key] = _date(out[key])
    return out


def _article_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option("--title"),
            click.option("--body", help="The body (Markdown)."),
            click.option(
                "--body-file",
                type=click.Path(path_type=Path),
                help="The body from a file, - for stdin.",
            ),
            click.option("--class", "class_id", help="Class id."),
            click.option("--class-name", help="Class name, as shown."),
            click.option("--unit", help="Responsible unit id."),
            click.option(
                "--from", "valid_from", help="First day in force (YYYY-MM-DD; none clears)."
            ),
            click.option(
                "--until", "valid_until", help="Last day in force (YYYY-MM-DD; none clears)."
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _validated(c: _Kb, model: type[Any], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        _fail("\n".join(field_problem(e, c.lang) for e in exc.errors(include_url=False)))


@kb.command()
@click.option("--id", "article_id", help="The key (default: one is made).")
@_article_options
@pass_kb
def add(c: _Kb, article_id: str | None, body_file: Path | None, **given: Any) -> None:
    """Add an article."""
    given["body"] = _body(given.get("body"), body_file)
    article = _validated(c, ArticleIn, _fields(id=article_id, **given))
    with c.service() as svc:
        made = svc.create(article, c.actor)
    click.echo(t("saved", c.lang, id=made.id, version=made.version))


@kb.command()
@click.argument("article_id")
@_article_options
@click.option("--expect-version", type=int, help="Refuse unless the article is at this version.")
@pass_kb
def edit(c: _Kb, article_id: str, body_file: Path | None, expect_version: int | None,
         **given: Any) -> None:  # fmt: skip
    """Change the fields given of an article."""
    given["body"] = _body(given.get("body"), body_file)
    patch = _validated(c, ArticlePatch, _fields(expected_version=expect_version, **given))
    with c.service() as svc:
        done = svc.update(article_id, patch, c.actor)
    click.echo(t("saved", c.lang, id=done.id, version=done.version))


@kb.command()
@click.argument("article_id")
@click.option("--expect-version", type=int, help="Refuse unless the article is at this version.")
@pass_kb
def delete(c: _Kb, article_id: str, expect_version: int | None) -> None:
    """Delete an article."""
    with c.service() as svc:
        svc.delete(article_id, expect_version)
    click.echo(t("deleted", c.lang, id=article_id))
