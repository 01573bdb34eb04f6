"""The enterprise register (一企来) kept in the store, beside the site config's `enterprises:`.

A registered enterprise contact's calls are recognised by the calling number at entry
(`callcore.features.routing.decision.decide`). The config lists a site's fixed register; the
store holds what is added while the centre runs (`callcore enterprise add`), read by the
engine into memory at start, on SIGHUP and periodically, so routing never waits on the
database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import Engine, select

from callcore.store.kinds import clean_kind, upsert_any
from callcore.store.models import EnterpriseContact
from config.directory import national


class EnterpriseError(ValueError):
    pass


@dataclass(frozen=True)
class EnterpriseRecord:
    STORE_KIND: ClassVar[str] = "enterprise"

    number: str
    name: str
    active: bool
    as_of: float


def normalize(number: str) -> str:
    """A register number as routing compares it: the national number (+86 515 8800 1234,
    0515-88001234 -> 51588001234); a local number gets the area code when it is read."""
    digits = national(number)
    if not (3 <= len(digits) <= 20) or not digits.isdigit():
        raise EnterpriseError(f"not a phone number: {number!r}")
    return digits


def numbers(engine: Engine) -> frozenset[str]:
    """The active numbers of the store's register."""
    t = EnterpriseContact.__table__
    with engine.connect() as conn:
        return frozenset(r[0] for r in conn.execute(select(t.c.number).where(t.c.active)))


def listing(engine: Engine) -> list[EnterpriseRecord]:
    t = EnterpriseContact.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.number)).mappings()
        return [EnterpriseRecord(r["number"], r["name"], r["active"], r["as_of"]) for r in rows]


def put(engine: Engine, number: str, name: str, active: bool = True) -> EnterpriseRecord:
    """Register (or, with active=False, withdraw) a number; written like every record."""
    rec = EnterpriseRecord(normalize(number), name.strip(), active, time.time())
    with engine.begin() as conn:
        upsert_any(conn, [clean_kind(rec)])
    return rec
