"""The hotline directory as the network sees it: which called numbers mean which hotline.

Carriers deliver the called number in several shapes (12345, 051512345, +8651512345,
0086 515 12345). One normalisation here serves both the FastAGI router and the static
dialplan, so the two can never disagree about a number.
"""

from __future__ import annotations

import re

from config.schema import Hotline, SiteConfig

_SEPARATORS = re.compile(r"[\s\-().]")
_MAX_DIALED = 32


def clean(dialed: str) -> str:
    """The called number as digits (a leading + kept); anything else is not a number."""
    text = _SEPARATORS.sub("", dialed or "")[:_MAX_DIALED]
    if text.startswith("+"):
        body = text[1:]
        return "+" + body if body.isdigit() else ""
    return text if text.isdigit() else ""


def national(number: str, area_code: str = "") -> str:
    """A caller's number as one key however the carrier presents it: the national
    significant number (+8613800000000, 008613800000000 -> 13800000000; 0515 88001234,
    +86 515 88001234 -> 51588001234; a local 88001234 gets the site's area code)."""
    text = clean(number)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13 and text[2] == "1":
        text = text[2:]  # a mobile number with the country code but no +
    text = text.lstrip("+")
    if text.startswith("0"):
        return text[1:]
    if area_code and 7 <= len(text) <= 8 and text[0] not in "01":
        return area_code.lstrip("0") + text
    return text


class Directory:
    def __init__(self, cfg: SiteConfig):
        self.cfg = cfg
        area = cfg.site.area_code  # e.g. "0515"
        self._prefixes = (
            f"+86{area[1:]}",
            f"0086{area[1:]}",
            f"86{area[1:]}",
            area,
        )
        self._by_number: dict[str, Hotline] = {}
        for h in cfg.hotlines:
            for n in h.carrier_numbers:
                self._by_number[n] = h

    def variants(self, hotline: Hotline) -> list[str]:
        """Every called-number shape that means this hotline, for the static dialplan."""
        out: list[str] = []
        for n in hotline.carrier_numbers:
            out.append(n)
            out.extend(p + n for p in self._prefixes)
        return out

    def normalize(self, dialed: str) -> str:
        """The directory's own form of a called number, or the cleaned digits if unknown."""
        text = clean(dialed)
        if text in self._by_number:
            return text
        for p in self._prefixes:
            if text.startswith(p) and text[len(p) :] in self._by_number:
                return text[len(p) :]
        return text

    def lookup(self, dialed: str) -> Hotline | None:
        return self._by_number.get(self.normalize(dialed))

    def __iter__(self):
        return iter(self.cfg.hotlines)
