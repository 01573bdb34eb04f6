"""The enterprise register in the engine: the config's and the store's, in memory.

Routing compares every caller with the register, so it is held in memory as national
numbers; registrations made by the API apply at once, those made elsewhere (the CLI)
arrive with the periodic re-read of the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from callcore.features.enterprises import register
from config.directory import national
from config.schema import SiteConfig


class EnterpriseService:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        db: Callable[[], Engine],
        submit: Callable[[Any], None],
    ):
        self._config = config
        self._db = db
        self._submit = submit
        self._stored: frozenset[str] = frozenset()
        self._numbers: frozenset[str] = frozenset()
        self._numbers_for: tuple[int, frozenset[str]] | None = None

    def changed(self, rec: register.EnterpriseRecord) -> None:
        """An enterprise contact registered or withdrawn in this process (the API)."""
        if rec.active:
            self._stored = self._stored | {rec.number}
        else:
            self._stored = self._stored - {rec.number}
        self._submit(rec)

    def numbers(self) -> frozenset[str]:
        """The register (config and store) as national numbers, as `decide` compares them."""
        cfg = self._config()
        if self._numbers_for != (id(cfg), self._stored):
            area = cfg.site.area_code
            every = {e.number for e in cfg.enterprises} | self._stored
            self._numbers = frozenset(national(n, area) for n in every)
            self._numbers_for = (id(cfg), self._stored)
        return self._numbers

    async def refresh(self) -> None:
        """Re-read the store's register (raises if the store is not readable)."""
        self._stored = await asyncio.to_thread(register.numbers, self._db())
