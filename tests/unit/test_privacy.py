"""Citizens' numbers are masked in every log line; ids and hotline numbers are not."""

from __future__ import annotations

import logging

from callcore.privacy import MaskingFormatter, mask_text


def test_mobiles_and_fixed_lines_are_masked_ids_are_not():
    line = ("caller 13812345678 (+8613912345678) and 051588001234 on PJSIP/8001-0000002a, "
            "linkedid 1796305292.375763, dialed 12345, local 88348666")
    out = mask_text(line)
    assert "13812345678" not in out and "138****5678" in out
    assert "13912345678" not in out and "139****5678" in out
    assert "051588001234" not in out and "051*****1234" in out
    for kept in ("1796305292.375763", "12345", "88348666", "8001-0000002a"):
        assert kept in out
    assert mask_text("x13812345678999") == "x13812345678999"  # part of a longer run


def test_the_formatter_masks_arguments_and_tracebacks():
    fmt = MaskingFormatter("%(message)s")
    rec = logging.LogRecord("t", logging.WARNING, __file__, 1, "call from %s", ("13700001111",),
                            None)
    assert fmt.format(rec) == "call from 137****1111"
    try:
        raise ValueError("bad caller 13700001111")
    except ValueError:
        import sys

        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert "13700001111" not in fmt.format(rec)
