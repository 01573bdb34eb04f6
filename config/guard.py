"""The `guard:` section: banning addresses that guess SIP passwords or scan for accounts.

A source address with `max_failures` failed authentications (wrong password, unknown
account, refused by an ACL) within `window_seconds` is banned for `ban_seconds`. The
carrier's and the trunks' hosts are never banned, nor any network listed in `trusted`
(the seats' own LAN, for example, if the site prefers a mistyped password to never lock
a seat out).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from pydantic import Field

from config.base import Strict


class GuardSettings(Strict):
    enabled: bool = True
    max_failures: Annotated[int, Field(ge=1, le=1000)] = 10
    window_seconds: Annotated[int, Field(ge=1, le=86400)] = 300
    ban_seconds: Annotated[int, Field(ge=1, le=30 * 86400)] = 3600
    trusted: list[IPv4Network | IPv6Network] = []
