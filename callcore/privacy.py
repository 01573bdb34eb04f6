"""Citizens' numbers kept out of logs: every line callcore logs has them masked
(`138****5678`), unless the operator sets CALLCORE_LOG_FULL_NUMBERS=1 to debug.

What is masked: Chinese mobile numbers (11 digits from 13x to 19x) and fixed lines with
their area code (0 + 9 to 11 digits), with or without +86/0086, standing alone (not part
of a longer run of digits or a dotted id such as a Linkedid). The hotline numbers and a
city's own 7-8 digit numbers are left as they are: they are not a citizen's.
"""

from __future__ import annotations

import logging
import os
import re

_NUMBER = re.compile(
    r"(?<![\d.])(?:\+?86|0086)?(1[3-9]\d{9}|0\d{9,11})(?![\d])"
)


def mask_number(number: str) -> str:
    """A citizen's number with its middle hidden (`138****5678`): enough to tell calls
    apart, never the whole number; short numbers keep two digits in front."""
    if len(number) <= 4:
        return "*" * len(number)
    keep = 3 if len(number) >= 11 else 2
    return number[:keep] + "*" * (len(number) - keep - 4) + number[-4:]


def mask_text(text: str) -> str:
    return _NUMBER.sub(lambda m: mask_number(m.group(1)), text)


class MaskingFormatter(logging.Formatter):
    """A formatter whose every line (message, arguments, traceback) has numbers masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def full_numbers_allowed() -> bool:
    return os.environ.get("CALLCORE_LOG_FULL_NUMBERS", "") in ("1", "yes", "true")


def configure(level: int, fmt: str) -> None:
    """The process's logging: to stderr, numbers masked unless debugging asks otherwise."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter(fmt) if full_numbers_allowed() else MaskingFormatter(fmt)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
