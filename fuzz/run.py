"""Run one atheris fuzz target: `python -m fuzz.run {ami,agi,config} [libFuzzer options]`.

    .venv/bin/python -m fuzz.run ami -max_total_time=600 fuzz/corpus/ami

Short bounded runs are part of `make test` (tests/unit/test_fuzz.py); longer ones are this
command with a bigger -max_total_time (docs/reliability.md).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["agi", "callcore.ami", "config"]):
    from fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
