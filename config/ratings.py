"""The `ratings:` section: the after-call rating (一次一评, GB/T 39734-2020).

When the seat hangs up first the caller hears `prompt`, presses one key, and the key is
mapped to one of the standard's five levels. The texts are spoken (like a merge notice),
so a site changes the wording here, not in the dialplan. The levels are numbered as the
standard lists them: 1 非常满意 … 5 非常不满意.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from config.base import CrossReferenceError, Strict

#: The five levels, in the standard's order; `callcore.features.ratings.model.Level` names them.
LEVELS = (1, 2, 3, 4, 5)
#: What a caller's phone can send as one DTMF key (RFC 4733 events 0-15).
DTMF_KEYS = frozenset("0123456789*#ABCD")

_PROMPT = (
    "请您对本次服务进行评价："
    "非常满意请按1，满意请按2，基本满意请按3，不满意请按4，非常不满意请按5。"
)
_RETRY = "您的按键无效。" + _PROMPT
_THANKS = "感谢您的评价，再见。"


class RatingSettings(Strict):
    """What the caller hears after the seat hangs up, and how a key becomes a level."""

    prompt: Annotated[str, Field(min_length=1, max_length=500)] = _PROMPT
    retry: Annotated[str, Field(min_length=1, max_length=500)] = _RETRY  # after an invalid key
    thanks: Annotated[str, Field(min_length=1, max_length=500)] = _THANKS  # then goodbye
    # How long the caller has to press a key after each prompt ends.
    wait_seconds: Annotated[int, Field(ge=1, le=30)] = 5
    # Key → level. Every level is reached by exactly one key.
    keys: dict[str, int] = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}

    @field_validator("prompt", "retry", "thanks")
    @classmethod
    def _spoken(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank: the caller would hear silence")
        return v

    @field_validator("keys", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        # YAML reads `1: 1` as an integer key; a key is what the phone sends, so text.
        if isinstance(v, dict):
            return {
                str(k) if isinstance(k, int) and not isinstance(k, bool) else k: x
                for k, x in v.items()
            }
        return v

    @model_validator(mode="after")
    def _one_key_per_level(self) -> RatingSettings:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[int, str] = {}
        for key, level in self.keys.items():
            if key not in DTMF_KEYS:
                problems.append((("keys", key), f"{key!r} is not one DTMF key (0-9, *, #, A-D)"))
            if level not in LEVELS:
                problems.append((("keys", key), f"level {level} is not one of 1-5"))
            elif level in seen:
                problems.append(
                    (("keys", key), f"level {level} is also key {seen[level]!r}; one key per level")
                )
            else:
                seen[level] = key
        missing = [lv for lv in LEVELS if lv not in seen]
        if missing:
            problems.append((("keys",), f"no key for level(s) {', '.join(map(str, missing))}"))
        if problems:
            raise CrossReferenceError(problems)
        return self

    def level_of(self, key: str) -> int | None:
        """The level a key stands for; None for a key that is not mapped."""
        return self.keys.get(key)
