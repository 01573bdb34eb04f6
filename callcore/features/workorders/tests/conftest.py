"""Shared fixtures: the city's site config, a settable clock, a store of each kind."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

import config
from callcore.features.workorders.deadlines import WorkingCalendar
from callcore.features.workorders.model import Actor, Role, Rules
from callcore.features.workorders.service import WorkOrderService
from config.schema import SiteConfig

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, start: datetime):
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> datetime:
        self.at += timedelta(**kw)
        return self.at


SEAT = Actor("G01", Role.SEAT, seat="G01")
OTHER_SEAT = Actor("G02", Role.SEAT, seat="G02")
SUPERVISOR = Actor("S01", Role.SUPERVISOR)
ADMIN = Actor("admin", Role.ADMIN)
RENSHE = Actor("人社局值班", Role.DEPARTMENT, unit="renshe")
TINGHU = Actor("亭湖区12345", Role.DEPARTMENT, unit="tinghu")
GONGAN = Actor("公安局", Role.DEPARTMENT, unit="gongan")


@pytest.fixture(scope="session")
def site() -> SiteConfig:
    return config.load()


@pytest.fixture(scope="session")
def rules(site: SiteConfig) -> Rules:
    return Rules(site.workorders, WorkingCalendar(site.site.timezone))


@pytest.fixture
def clock() -> Clock:
    return Clock(local(2025, 9, 29, 9, 30))  # a Monday, before 国庆 2025


@pytest.fixture
def service(engine: Engine, site: SiteConfig, clock: Clock) -> WorkOrderService:
    return WorkOrderService(engine, lambda: site, clock)
