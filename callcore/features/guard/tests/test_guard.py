"""Failures counted per dialog and address, bans past the limit (never for trusted or trunk
addresses), bans audited, applied, expired and lifted through the file."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

import config
from callcore.features.guard.model import Ban, BanFile, Failures, acl_conf, remote_ip, trusted
from callcore.features.guard.service import GuardService


def event(addr: str, session: str, name: str = "ChallengeResponseFailed") -> dict:
    return {"Event": name, "Service": "PJSIP", "AccountID": "8001", "SessionID": session,
            "RemoteAddress": f"IPV4/UDP/{addr}/5060"}


def test_remote_addresses_are_read_and_garbage_is_ignored():
    assert remote_ip("IPV4/UDP/203.0.113.9/5060") == ip_address("203.0.113.9")
    assert remote_ip("IPV6/UDP/2001:db8::9/5060") == ip_address("2001:db8::9")
    for bad in (None, "", "IPV4/UDP", "IPV4/UDP/not-an-ip/5060", "x/y/999.1.1.1/1"):
        assert remote_ip(bad) is None
    assert trusted(ip_address("10.1.2.3"), [ip_network("10.0.0.0/8")])
    assert not trusted(ip_address("2001:db8::1"), [ip_network("10.0.0.0/8")])


def test_failures_count_dialogs_within_the_window():
    f = Failures(window_s=60)
    assert f.add("a", "call-1", 0) == 1
    assert f.add("a", "call-1", 1) == 1  # the same REGISTER raising three events
    assert f.add("a", "call-2", 2) == 2
    assert f.add("b", "call-3", 2) == 1
    assert f.add("a", "call-4", 100) == 1  # the old ones left the window


def test_the_acl_denies_each_banned_address():
    assert "type = acl" not in acl_conf([])
    text = acl_conf([Ban("203.0.113.9", 0, 60, 10), Ban("2001:db8::9", 0, 60, 10)])
    assert "deny = 203.0.113.9/255.255.255.255" in text and "deny = 2001:db8::9/128" in text


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def guard(tmp_path: Path):
    cfg = config.load(config.loader.default_path())
    cfg = cfg.model_copy(update={"guard": cfg.guard.model_copy(
        update={"max_failures": 3, "window_seconds": 60, "ban_seconds": 30,
                "trusted": [ip_network("192.168.10.0/24")]})})  # fmt: skip
    applied: list[list[str]] = []
    audits: list = []

    async def apply(bans: list[Ban]) -> None:
        applied.append(sorted(b.address for b in bans))

    clock = Clock()
    g = GuardService(lambda: cfg, BanFile(tmp_path / "bans.json"), apply, audits.append,
                     clock=clock)
    return g, applied, audits, clock, tmp_path / "bans.json"


async def test_a_guesser_is_banned_audited_applied_and_expires(guard):
    g, applied, audits, clock, _ = guard
    for i in range(2):
        g.on_failure(event("203.0.113.9", f"c{i}"))
    assert g.bans() == []
    g.on_failure(event("203.0.113.9", "c2", "InvalidAccountID"))
    assert [b.address for b in g.bans()] == ["203.0.113.9"]
    await asyncio.sleep(0.01)
    assert applied[-1] == ["203.0.113.9"]
    assert [(a.action, a.target, a.actor) for a in audits] == [("ban", "203.0.113.9", "guard")]
    assert g.summary().startswith("1 (203.0.113.9")
    clock.now += 31
    await g.tick()
    await asyncio.sleep(0.01)
    assert g.bans() == [] and applied[-1] == []
    assert audits[-1].action == "unban" and '"expired"' in audits[-1].detail


async def test_trusted_networks_and_trunks_are_never_banned(guard):
    g, applied, _, _, _ = guard
    carrier = next(t for t in g._config().trunks if t.id == "carrier").host
    for i in range(10):
        g.on_failure(event("192.168.10.7", f"lan{i}"))
        g.on_failure(event(carrier, f"trunk{i}"))
    assert g.bans() == [] and applied == []
    assert g.counters["ignored_trusted"] == 20


async def test_an_operator_lifts_a_ban_through_the_file(guard):
    g, applied, audits, _, path = guard
    for i in range(3):
        g.on_failure(event("198.51.100.4", f"c{i}"))
    assert BanFile(path).remove(["198.51.100.4"])  # what `callcore ban remove` does
    await g.tick()
    await asyncio.sleep(0.01)
    assert g.bans() == [] and applied[-1] == []
    assert g.unban("198.51.100.4", "admin") is None  # already lifted
    assert g.unban("not an address", "admin") is None
    # a ban survives an engine restart: the new service reads the file
    for i in range(3):
        g.on_failure(event("198.51.100.5", f"d{i}"))
    again = GuardService(g._config, BanFile(path), g._apply, audits.append)
    assert [b.address for b in again.bans()] == ["198.51.100.5"]
