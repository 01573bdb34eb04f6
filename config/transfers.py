"""The `transfers:` section: what a caller hears when a seat's softphone transfers it to a
number that is no transfer target (the caller then comes back to its queue, ahead of the
others; callcore/features/transfers/dialplan.conf.j2)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from config.base import Strict

WRONG_NUMBER_NOTICE = "转接号码有误，正在为您转回人工服务，请稍候。"


class TransferSettings(Strict):
    # Spoken in Mandarin (espeak-ng) to a caller transferred to a number that is no target;
    # short, as the caller has already waited once.
    wrong_number_notice: Annotated[str, Field(min_length=1, max_length=120)] = (
        WRONG_NUMBER_NOTICE
    )
