"""What the dialplan templates need to ask for a rating (一次一评), from `ratings:`.

Each queue or dial that reaches a 12345 seat is armed before it and, with ratings on, lets
the caller stay when the seat hangs up (Queue's `c`, Dial's `g`) and go to `[cc-rating]`.
With ratings off every hook renders as a no-op and the call ends with the seat as before.
"""

from __future__ import annotations

from typing import Any

from config.ratings import RatingSettings

# The sounds `[cc-rating]` plays, made from the config's texts (callcore/asterisk/sounds.py).
PROMPT_SOUND, RETRY_SOUND, THANKS_SOUND = "rating-prompt", "rating-retry", "rating-thanks"
_OFF = "NoOp()"
# After Queue() returns: a seat served this armed caller and hung up first.
_AFTER = '''GotoIf($["${MEMBERINTERFACE}" != "" & "${CC_RATE_ARMED}" != ""]?cc-rating,s,1)'''


def rating_context(settings: RatingSettings | None) -> dict[str, Any]:
    """Template values: the settings, the Queue/Dial options and the hooks around them."""
    on = settings is not None
    return {
        "rating": settings,
        "rating_arm": "Gosub(cc-rating-arm,s,1(citizen))" if on else _OFF,
        "rating_rearm": "Gosub(cc-rating-arm,s,1(again))" if on else _OFF,
        "rating_queue_option": "c" if on else "",
        "rating_after": _AFTER if on else _OFF,
        "rating_dial_option": "g" if on else "",
        "rating_after_dial": "Goto(cc-rating,s,1)" if on else _OFF,
    }


def rating_sounds(settings: RatingSettings | None) -> dict[str, str]:
    """Sound name -> Mandarin text of what the caller hears (none with ratings off)."""
    if settings is None:
        return {}
    return {
        PROMPT_SOUND: settings.prompt,
        RETRY_SOUND: settings.retry,
        THANKS_SOUND: settings.thanks,
    }
