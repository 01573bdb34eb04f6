// Labels in Chinese (the default) and English. Elements name their label with
// data-i18n (text), data-i18n-title (title) or data-i18n-placeholder; code calls t().
const LABELS = {
  app_title: ["坐席工作台", "Seat workstation"],
  wallboard_title: ["12345 热线实时大屏", "12345 hotline wallboard"],
  lang_switch: ["English", "中文"],
  sign_in: ["签到", "Sign in"],
  sign_out: ["退出", "Sign out"],
  token: ["令牌", "Token"],
  token_hint: ["请输入坐席令牌", "Enter the seat's token"],
  wallboard_token_hint: ["请输入大屏令牌", "Enter the wallboard's token"],
  bad_token: ["令牌无效或已撤销", "Unknown or revoked token"],
  not_a_seat: ["这个令牌不属于任何坐席", "This token belongs to no seat"],
  state: ["状态", "State"],
  login: ["签入", "Log in"],
  logout: ["签出", "Log out"],
  pause: ["暂停", "Pause"],
  resume: ["恢复", "Resume"],
  reason: ["暂停原因", "Pause reason"],
  wrapup_left: ["话后整理剩余", "Wrap-up left"],
  seconds: ["秒", "s"],
  since: ["起始", "since"],
  live_down: ["实时状态暂不可用", "Live state unavailable"],
  stream_down: ["事件流已断开，正在重连…", "Event stream lost, reconnecting…"],
  // seat states (seats/states.py)
  st_logged_off: ["未签入", "logged off"],
  st_available: ["空闲", "available"],
  st_ringing: ["振铃", "ringing"],
  st_talking: ["通话中", "talking"],
  st_wrap_up: ["话后整理", "wrap-up"],
  st_paused: ["暂停", "paused"],
  st_unreachable: ["话机未注册", "phone unreachable"],
  // screen pop
  screen_pop: ["来电弹屏", "Screen pop"],
  no_call: ["暂无来电", "No call"],
  caller: ["来电号码", "Caller"],
  caller_name: ["来电姓名", "Caller name"],
  dialed: ["拨打号码", "Dialed"],
  hotline: ["热线", "Hotline"],
  zone: ["专区", "Zone"],
  flags: ["标记", "Flags"],
  enterprise: ["企业来电（一企来）", "Enterprise (一企来)"],
  affinity: ["首接负责（原坐席优先）", "First contact (own seat first)"],
  ringing_at: ["振铃时间", "Ringing at"],
  call_ringing: ["振铃中", "ringing"],
  call_talking: ["通话中", "talking"],
  call_ended: ["已结束", "ended"],
  previous_calls: ["历史来电", "Previous calls"],
  no_previous: ["无历史来电", "No previous calls"],
  open_requests: ["未办结工单", "Open work orders"],
  no_open_requests: ["无未办结工单", "No open work orders"],
  time: ["时间", "Time"],
  route: ["队列", "Queue"],
  seat: ["坐席", "Seat"],
  outcome: ["结果", "Outcome"],
  wait: ["等待", "Wait"],
  talk: ["通话", "Talk"],
  status: ["状态", "Status"],
  request_id: ["编号", "Number"],
  // work orders' states (callcore/features/workorders/model.py)
  rq_registered: ["已受理", "registered"],
  rq_dispatched: ["已派单", "dispatched"],
  rq_signed: ["办理中", "signed for"],
  rq_returned: ["退单待审", "returned, under review"],
  rq_extension_requested: ["延期待审", "extension asked"],
  rq_replied: ["已反馈", "replied"],
  rq_followed_up: ["已回访", "followed up"],
  rq_closed: ["已办结", "closed"],
  rq_merged: ["已并单", "merged"],
  // outcomes (callcore/i18n.py)
  oc_answered: ["已接听", "answered"],
  oc_abandoned: ["放弃", "abandoned"],
  oc_transferred: ["已转接", "transferred"],
  oc_timeout: ["超时", "timeout"],
  oc_failed: ["失败", "failed"],
  oc_null: ["进行中", "in progress"],
  // knowledge base
  knowledge: ["知识库", "Knowledge base"],
  search: ["搜索", "Search"],
  search_hint: ["输入关键词，回车搜索", "Words to look for, Enter to search"],
  no_hits: ["没有找到相关知识", "Nothing found"],
  fuzzy: ["没有完全匹配的结果，以下为相近结果", "No exact match; closest results"],
  class: ["分类", "Class"],
  unit: ["责任单位", "Unit"],
  close: ["关闭", "Close"],
  valid: ["有效期", "Valid"],
  // transfers
  transfer: ["转接", "Transfer"],
  blind: ["直接转", "Blind"],
  attended: ["咨询转", "Attended"],
  complete_transfer: ["完成咨询转接", "Complete the transfer"],
  transfer_sent: ["已转接至", "Transferred to"],
  consulting: ["正在咨询", "Consulting"],
  // calls today
  calls_today: ["今日通话", "My calls today"],
  no_calls: ["今日暂无通话", "No calls today"],
  refresh: ["刷新", "Refresh"],
  // panels other features fill
  panel_workorder: ["工单", "Work order"],
  panel_callbacks: ["回访与回拨任务", "Follow-ups and callbacks"],
  panel_recordings: ["录音", "Recordings"],
  panel_quality: ["质检评分", "QA scores"],
  panel_pending: ["此功能尚未接入工作台", "Not yet part of the workstation"],
  shortcuts: ["快捷键", "Shortcuts"],
  done: ["完成", "Done"],
  error: ["出错", "Error"],
  // wallboard
  updated_at: ["更新于", "Updated"],
  waiting_now: ["当前排队", "Waiting now"],
  longest_wait: ["最长等待", "Longest wait"],
  offered_today: ["今日来电", "Offered today"],
  answered_today: ["今日接通", "Answered today"],
  abandoned_today: ["今日放弃", "Abandoned today"],
  sl15_today: ["15秒接通率", "Answered in 15 s"],
  answer_rate_today: ["接通率", "Answer rate"],
  avg_wait_today: ["平均等待", "Average wait"],
  sl15_m15: ["近15分钟15秒接通率", "15 s rate, last 15 min"],
  queue: ["队列", "Queue"],
  waiting: ["排队", "Waiting"],
  seats_free: ["空闲坐席", "Seats free"],
  seats_busy: ["通话坐席", "Seats talking"],
  seats_paused: ["暂停坐席", "Seats paused"],
  sl15: ["15秒接通率", "15 s rate"],
  offered: ["来电", "Offered"],
  answered: ["接通", "Answered"],
  stale: ["数据未更新", "Figures not updating"],
};

let lang = localStorage.getItem("callcore.lang") === "en" ? "en" : "zh";

export function t(key) {
  const pair = LABELS[key];
  return pair ? pair[lang === "en" ? 1 : 0] : key;
}

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("callcore.lang", lang);
  apply(document);
}

/** Put the current language's labels on every element of `root` that names one. */
export function apply(root) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.dispatchEvent(new CustomEvent("langchange"));
}
