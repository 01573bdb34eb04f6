"""Seat- and supervisor-facing words: Chinese by default, English on request."""

from __future__ import annotations

_TEXT: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "time": ("时间", "time"),
    "caller": ("主叫号码", "caller"),
    "name": ("主叫姓名", "name"),
    "dialed": ("被叫号码", "dialed"),
    "hotline": ("热线", "hotline"),
    "number": ("号码", "number"),
    "route": ("队列", "queue"),
    "wait": ("等待(秒)", "wait (s)"),
    "talk": ("通话(秒)", "talk (s)"),
    "seat": ("座席", "seat"),
    "outcome": ("结果", "outcome"),
    "fallback": ("静态兜底", "static fallback"),
    "offered": ("呼入", "offered"),
    "answered": ("接听", "answered"),
    "abandoned": ("放弃", "abandoned"),
    "avg_wait": ("平均等待(秒)", "avg wait (s)"),
    "sl15": ("15秒接通率", "SL15"),
    "answer_rate": ("接通率", "answer rate"),
    "transferred": ("已转接", "transferred"),
    "timeout": ("超时", "timeout"),
    "failed": ("失败", "failed"),
    "in_progress": ("进行中", "in progress"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "unknown_number": ("未知号码", "unknown number"),
    "total": ("合计", "total"),
    "calls_title": ("通话记录", "Calls"),
    "demo_title": ("演示结果：各号码话务统计", "Demo: calls per number"),
    "no_calls": ("没有通话记录", "no calls"),
}

_OUTCOME_KEY = {
    "answered": "answered",
    "abandoned": "abandoned",
    "transferred": "transferred",
    "timeout": "timeout",
    "failed": "failed",
}


def t(key: str, lang: str = "zh") -> str:
    zh, en = _TEXT.get(key, (key, key))
    return zh if lang == "zh" else en


def outcome(value: str | None, lang: str = "zh") -> str:
    if value is None:
        return t("in_progress", lang)
    if value == "answered":
        return "已接听" if lang == "zh" else "answered"
    return t(_OUTCOME_KEY.get(value, value), lang)
