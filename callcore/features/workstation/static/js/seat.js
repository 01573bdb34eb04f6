// The seat's page: sign in with the token, the seat's state and its operations (the
// same as the softphone's feature codes), the screen pop, the knowledge base, transfers
// and the seat's calls today. Everything goes through the engine's API.
import { Api, ApiError, tokens } from "./api.js";
import { apply, currentLang, setLang, t } from "./i18n.js";
import { clock, useTimeZone } from "./format.js";
import { ScreenPop, CallsToday } from "./pop.js";
import { Knowledge } from "./kb.js";
import { Transfers } from "./transfer.js";
import { signInForm } from "./signin.js";

const KEY = "callcore.seat.token";
const $ = (id) => document.getElementById(id);

class Desk {
  constructor(api, profile) {
    this.api = api;
    this.profile = profile;
    this.seat = profile.seat;
    this.state = { state: "logged_off", reason: "", since: null, zone: profile.zone };
    this.zones = Object.fromEntries(profile.zones.map((z) => [z.id, z]));
    this.pop = new ScreenPop(profile);
    this.today = new CallsToday(api, profile);
    this.kb = new Knowledge(api);
    this.transfers = new Transfers(api, this.seat);
    this.timer = null;
  }

  async start() {
    $("who").textContent = `${this.profile.seat_name} · ${this.seat} · ${this.profile.extension}`;
    this.fillReasons();
    $("do-login").onclick = () => this.session("login");
    $("do-logout").onclick = () => this.session("logout");
    $("do-resume").onclick = () => this.session("resume");
    $("do-pause").onclick = () => this.session("pause", $("reason").value);
    document.addEventListener("langchange", () => {
      this.fillReasons();
      this.showState();
    });
    this.stop = this.api.events(
      ["seat.offered", "seat.state", "call.answered", "call.ended"],
      (ev) => this.onEvent(ev),
      (up) => {
        // back after a loss: what changed meanwhile is read again, not assumed
        if (up && !$("stream").hidden) this.loadState();
        $("stream").hidden = up;
      },
    );
    await Promise.all([this.loadState(), this.transfers.load(), this.today.load()]);
  }

  fillReasons() {
    const sel = $("reason");
    const chosen = sel.value;
    sel.replaceChildren(
      ...this.profile.pause_reasons.map((r) => new Option(`${r.code} ${r.name}`, r.id)),
    );
    if (chosen) sel.value = chosen;
    sel.setAttribute("aria-label", t("reason"));
  }

  async loadState() {
    try {
      const s = await this.api.get(`/api/v1/seats/${encodeURIComponent(this.seat)}`);
      this.state = { state: s.state, reason: s.reason, since: s.since, zone: s.zone };
    } catch (e) {
      $("state-msg").textContent = e instanceof ApiError && e.status === 503 ? t("live_down") : e.message;
    }
    this.showState();
  }

  async session(action, reason) {
    const msg = $("state-msg");
    msg.textContent = "…";
    try {
      const body = reason ? { action, reason } : { action };
      await this.api.post(`/api/v1/seats/${encodeURIComponent(this.seat)}/session`, body);
      msg.textContent = `${t(action)} · ${t("done")}`;
    } catch (e) {
      msg.textContent = `${t("error")}: ${e.message}`;
    }
  }

  onEvent(ev) {
    const d = ev.data || {};
    if (ev.type === "seat.state") {
      this.state = { state: d.state, reason: d.reason, since: d.since, zone: d.zone };
      this.showState();
    } else if (ev.type === "seat.offered") {
      this.pop.show(d, ev.at);
    } else if (ev.type === "call.answered") {
      this.pop.status(d.linkedid, "call_talking");
    } else if (ev.type === "call.ended") {
      this.pop.status(d.linkedid, "call_ended");
      this.today.load();
    }
  }

  showState() {
    const s = this.state;
    const badge = $("state");
    badge.dataset.state = s.state;
    const reason = this.profile.pause_reasons.find((r) => r.id === s.reason);
    badge.textContent = t(`st_${s.state}`) + (s.state === "paused" && s.reason ? ` · ${reason ? reason.name : s.reason}` : "");
    $("state-since").textContent = s.since ? `${t("since")} ${clock(s.since)}` : "";
    const off = s.state === "logged_off";
    $("do-login").disabled = !off;
    $("do-logout").disabled = off;
    $("do-pause").disabled = off || s.state === "paused";
    $("do-resume").disabled = s.state !== "paused";
    this.countdown();
  }

  /** The wrap-up time left, from the state's start and the zone's wrap-up seconds. */
  countdown() {
    clearInterval(this.timer);
    this.timer = null;
    const box = $("wrapup");
    const zone = this.zones[this.state.zone] || this.zones[this.profile.zone];
    if (this.state.state !== "wrap_up" || !zone || !this.state.since) {
      box.hidden = true;
      return;
    }
    const tick = () => {
      const left = Math.max(0, Math.ceil(zone.wrapup_seconds - (Date.now() / 1000 - this.state.since)));
      $("wrapup-left").textContent = String(left);
      if (left === 0) clearInterval(this.timer);
    };
    box.hidden = false;
    tick();
    this.timer = setInterval(tick, 250);
  }
}

const SHORTCUTS = { l: "do-login", p: "do-pause", r: "do-resume", o: "do-logout" };

function shortcuts(desk) {
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("kb-article").hidden) $("kb-close").click();
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const key = e.key.toLowerCase();
    if (key === "k") {
      e.preventDefault();
      $("kb-q").focus();
      $("kb-q").select();
    } else if (SHORTCUTS[key]) {
      e.preventDefault();
      const b = $(SHORTCUTS[key]);
      if (!b.disabled) b.click();
    } else if (/^[1-9]$/.test(key)) {
      e.preventDefault();
      desk.transfers.byIndex(Number(key) - 1);
    }
  });
}

async function signIn(token) {
  const api = new Api(token);
  const profile = await api.get("/api/v1/workstation/profile");
  useTimeZone(profile.timezone);
  if (!profile.seat) throw new ApiError(403, "not_a_seat", t("not_a_seat"));
  tokens.save(KEY, token);
  $("signin").hidden = true;
  $("desk").hidden = false;
  $("signout").hidden = false;
  const desk = new Desk(api, profile);
  shortcuts(desk);
  await desk.start();
  $("kb-q").focus(); // what a seat types into most while it talks
  window.callcoreDesk = desk; // for the browser's console and the end-to-end test
}

function main() {
  apply(document);
  $("lang").onclick = () => setLang(currentLang() === "en" ? "zh" : "en");
  $("signout").onclick = () => {
    tokens.clear(KEY);
    location.reload();
  };
  const form = signInForm($("signin"), "token_hint", signIn);
  const saved = tokens.load(KEY);
  if (saved) form.attempt(saved);
  else form.ask();
}

main();
