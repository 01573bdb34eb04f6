"""Failures per address, bans, and the ACL they become. Pure: no I/O but the ban file.

Asterisk reports each failed SIP authentication as an AMI security event whose
`RemoteAddress` is `IPV4/UDP/203.0.113.9/5060`. One REGISTER can raise several events
(an unknown account gives InvalidAccountID twice and ChallengeResponseFailed once), so
failures are counted per SIP dialog (`SessionID`, the Call-ID): sixty guesses are sixty
failures, one guess is one.

Bans live in `<home>/lib/bans.json`, written atomically under a lock by the engine (bans,
expiries) and by `callcore ban remove`; the rendered `pjsip_bans.conf` is made from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Any

IP = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

#: The security events that count as a failure.
FAILURES = ("InvalidAccountID", "ChallengeResponseFailed", "InvalidPassword", "FailedACL")


def remote_ip(remote: str | None) -> IP | None:
    """The address in a security event's RemoteAddress (`IPV4/UDP/1.2.3.4/5060`)."""
    parts = (remote or "").split("/")
    if len(parts) < 3:
        return None
    try:
        return ip_address(parts[2].strip("[]"))
    except ValueError:
        return None


def trusted(addr: IP, networks: Iterable[Network]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


class Failures:
    """Failed dialogs per address within a sliding window."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._seen: dict[str, deque[tuple[float, str]]] = {}

    def add(self, addr: str, session: str, now: float) -> int:
        """Count one failure (once per dialog); returns the address's count in the window."""
        q = self._seen.setdefault(addr, deque(maxlen=1000))
        while q and now - q[0][0] > self.window_s:
            q.popleft()
        if not session or all(s != session for _, s in q):
            q.append((now, session))
        if len(self._seen) > 50_000:  # a scan from many addresses: drop the quiet ones
            for a in [a for a, d in self._seen.items() if not d or now - d[-1][0] > self.window_s]:
                del self._seen[a]
        return len(q)

    def forget(self, addr: str) -> None:
        self._seen.pop(addr, None)


@dataclass(frozen=True)
class Ban:
    address: str
    since: float
    until: float
    failures: int
    by: str = "guard"  # who banned: the guard, or an operator's name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def acl_conf(bans: Iterable[Ban]) -> str:
    """`pjsip_bans.conf`: one PJSIP ACL denying every banned address (an empty file when
    there is none, so the include in pjsip.conf always resolves)."""
    rows = sorted(bans, key=lambda b: b.address)
    lines = ["; Rendered by callcore's guard from lib/bans.json: banned SIP sources."]
    if rows:
        lines += ["[callcore-bans]", "type = acl"]
        for b in rows:
            net = ip_address(b.address)
            mask = "255.255.255.255" if net.version == 4 else "128"
            lines.append(f"deny = {b.address}/{mask}")
    return "\n".join(lines) + "\n"


class BanFile:
    """The bans, kept in a JSON file that the engine and the CLI both change."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = path.with_suffix(".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read(self) -> dict[str, Ban]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        out = {}
        for item in raw.get("bans", []):
            with contextlib.suppress(TypeError, ValueError, KeyError):
                ban = Ban(**item)
                ip_address(ban.address)
                out[ban.address] = ban
        return out

    def _write(self, bans: Mapping[str, Ban]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"bans": [b.to_dict() for b in bans.values()]}, ensure_ascii=False),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)

    def add(self, ban: Ban) -> None:
        with self._locked():
            bans = self.read()
            bans[ban.address] = ban
            self._write(bans)

    def remove(self, addresses: Iterable[str]) -> list[Ban]:
        """Lift these bans; returns those that were there."""
        with self._locked():
            bans = self.read()
            gone = [bans.pop(a) for a in list(addresses) if a in bans]
            if gone:
                self._write(bans)
            return gone

    def expired(self, now: float) -> list[Ban]:
        with self._locked():
            bans = self.read()
            return [b for b in bans.values() if b.until <= now]
