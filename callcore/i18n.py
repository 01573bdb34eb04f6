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
    "guard.none": ("当前没有封禁的地址", "no address is banned"),
    "guard.header": ("地址 / 封禁时间 → 解封时间 / 失败次数 / 封禁者",
                     "address / banned → until / failures / by"),
    "unknown_number": ("未知号码", "unknown number"),
    "total": ("合计", "total"),
    "calls_title": ("通话记录", "Calls"),
    "demo_title": ("演示结果：各号码话务统计", "Demo: calls per number"),
    "no_calls": ("没有通话记录", "no calls"),
    # -- the supervisors' monitor (callcore monitor) -------------------------------------
    "monitor_title": ("12345热线实时监控", "12345 hotline live monitor"),
    "live_unavailable": ("实时数据不可用", "live figures unavailable"),
    "redis_unavailable": ("无法连接实时数据库(Redis)", "Redis cannot be reached"),
    "engine_silent": ("引擎未在更新实时数据", "the engine is not updating the live state"),
    "live_ok": ("实时", "live"),
    "degraded": ("降级运行", "degraded"),
    "degraded_database": (
        "数据库不可用，通话记录暂存本地日志（待写入 {} 条）",
        "database unavailable, call records held in the local journal ({} waiting)",
    ),
    "degraded_ami": (
        "与Asterisk的管理连接中断，数据可能滞后",
        "AMI connection to Asterisk lost, figures may lag",
    ),
    "degraded_fastagi": (
        "智能路由服务不可用，按静态拨号方案路由",
        "FastAGI routing down, calls routed by the static dialplan",
    ),
    "degraded_recordings": (
        "录音存储有风险（{}），通话照常进行",
        "recordings at risk ({}), calls go on",
    ),
    "queue": ("队列", "queue"),
    "zone": ("专区", "zone"),
    "waiting": ("排队", "waiting"),
    "longest_wait": ("最长等待(秒)", "longest wait (s)"),
    "seats_free": ("空闲/在线", "free/on"),
    "today": ("今日", "today"),
    "m15": ("15分钟", "15 min"),
    "m60": ("60分钟", "60 min"),
    "max_wait": ("最长等待(秒)", "max wait (s)"),
    "avg_talk": ("平均通话(秒)", "avg talk (s)"),
    "callers_waiting": ("排队来电(等待最久在前)", "callers waiting (longest first)"),
    "position": ("位置", "pos"),
    "priority": ("优先级", "prio"),
    "wait_so_far": ("已等待(秒)", "waited (s)"),
    "seats_title": ("座席状态", "seats"),
    "state": ("状态", "state"),
    "reason": ("原因", "reason"),
    "for": ("持续(秒)", "for (s)"),
    "numbers_title": ("各号码统计", "per number"),
    "queues_title": ("队列与专区", "queues and zones"),
    "highlights": ("提醒", "alerts"),
    "no_alerts": ("无", "none"),
    "sl_low": ("15秒接通率低于目标", "SL15 under target"),
    "long_wait": ("来电等待过久", "caller waiting too long"),
    "long_pause": ("座席暂停过久", "seat paused too long"),
    "pause_break": ("小休", "break"),
    "pause_meal": ("就餐", "meal"),
    "pause_training": ("培训", "training"),
    "pause_meeting": ("会议", "meeting"),
    "pause_acw": ("事后处理", "after-call work"),
    "pause_Auto-Pause": ("未接自动暂停", "auto-paused (no answer)"),
    "action_pause": ("暂停", "pause"),
    "action_resume": ("恢复", "resume"),
    "action_logoff": ("签出", "log off"),
    "action_move": ("调整专区", "move"),
    "action_listen": ("监听", "listen"),
    "action_whisper": ("耳语", "whisper"),
    "action_barge": ("强插", "barge"),
    "action_ok": ("已执行", "done"),
    "action_failed": ("未执行", "failed"),
    "no_token": ("未提供令牌，无法执行操作", "no token: actions are disabled"),
    "choose_reason": ("选择暂停原因", "pause reason"),
    "choose_zone": ("选择专区", "move to zone"),
    # the monitor's staffing table (the interval under way, Erlang A)
    "staffing_title": ("本时段排班", "staffing, this interval"),
    "staff_expected": ("预计呼入", "calls expected"),
    "staff_needed": ("需要座席", "seats needed"),
    "staff_logged_in": ("已签入", "logged in"),
    "staff_staffed": ("可接听", "staffed"),
    "staff_gap": ("余缺", "surplus"),
    "staff_basis": ("依据", "basis"),
    "staff_basis_forecast": ("同期预测", "same weekday"),
    "staff_basis_previous": ("上一时段", "last interval"),
    "staff_basis_none": ("无话务", "no calls"),
    "minutes": ("分钟", " min"),
    "computing": ("计算中", "computing"),
    # -- ratings (一次一评) in the monitor and the demo -----------------------------------
    "ratings_title": ("一次一评（今日）", "ratings today"),
    "ratings": ("一次一评", "ratings after the call"),
    "rated": ("已评价", "rated"),
    "not_rated": ("未评价", "not rated"),
    "rated_share": ("参评率", "rated share"),
    "satisfaction": ("满意率", "satisfaction"),
    "unsatisfied": ("不满意", "unsatisfied"),
    "unsatisfied_rating": ("不满意评价", "unsatisfied rating"),
    # the QA desk's command line
    "qa_drawn": ("已抽取 {day} 的质检样本 {n} 条", "{n} samples drawn for {day}"),
    "qa_none": ("没有符合条件的样本", "no samples"),
    "qa_day": ("日期", "day"),
    "qa_call": ("通话", "call"),
    "qa_reasons": ("抽检原因", "reasons"),
    "qa_reviewer": ("质检员", "reviewer"),
    "qa_status": ("状态", "status"),
    "qa_total": ("得分", "total"),
    "qa_pending": ("待评", "pending"),
    "qa_scored": ("已评", "scored"),
    "qa_queue": ("质检样本", "QA samples"),
    "qa_rating": ("满意度评价", "rating"),
    "qa_recordings": ("录音", "recordings"),
    "qa_version": (
        "版本 {v}：{total} 分（{reviewer}，{at}）",
        "version {v}: {total} ({reviewer}, {at})",
    ),
    "qa_failed": ("  一票否决：{items}", "  failed on: {items}"),
    "qa_why": ("  更正原因：{reason}", "  corrected because: {reason}"),
    "qa_saved": (
        "已保存 {lid} 的评分（版本 {v}）：{total} 分",
        "saved the score of {lid} (version {v}): {total}",
    ),
    "qa_summary": ("质检汇总", "QA summary"),
    "qa_period": ("周期", "period"),
    "qa_count": ("质检数", "scored"),
    "qa_average": ("平均分", "average"),
    "qa_fails": ("否决数", "fails"),
    "qa_no_store": (
        "请用 --db 或 CALLCORE_DB_URL 指定数据库",
        "give the store with --db or CALLCORE_DB_URL",
    ),
    "qa_bad_mark": ("{what} 应写作 项目=值：{text!r}", "{what} takes item=value: {text!r}"),
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


def pause_reason(value: str, lang: str = "zh", site_name: str = "") -> str:
    """A pause reason id in words: the site's own name for it in Chinese (config
    `pause_reasons`), a known English word, else the id."""
    if lang == "zh" and site_name:
        return site_name
    return t(f"pause_{value}", lang) if f"pause_{value}" in _TEXT else site_name or value


def outcome(value: str | None, lang: str = "zh") -> str:
    if value is None:
        return t("in_progress", lang)
    if value == "answered":
        return "已接听" if lang == "zh" else "answered"
    return t(_OUTCOME_KEY.get(value, value), lang)
