// The wall screen: the floor's live figures, large, fetched every two seconds. Each
// refresh writes text into cells that already exist (one row per queue, made once), so
// the page runs for days without growing: no lists of past values, one timer.
import { Api, tokens } from "./api.js";
import { apply, currentLang, setLang, t } from "./i18n.js";
import { clock, el, percent, seconds, useTimeZone } from "./format.js";
import { signInForm } from "./signin.js";

const KEY = "callcore.wallboard.token";
// every 2 s, or `?every=<ms>` (at least 500) for a screen that wants another pace
const EVERY_MS = Math.max(500, Number(new URLSearchParams(location.search).get("every")) || 2000);
const COLUMNS = ["name", "waiting", "longest", "free", "busy", "paused", "offered", "answered", "sl15"];
const $ = (id) => document.getElementById(id);

class Wallboard {
  constructor(api) {
    this.api = api;
    this.rows = new Map(); // queue -> {cell name -> td}; as many as the site has queues
    this.updates = 0;
  }

  async refresh() {
    try {
      const [queues, figures] = await Promise.all([
        this.api.get("/api/v1/queues"),
        this.api.get("/api/v1/figures"),
      ]);
      this.show(queues, figures);
      $("wall-stale").hidden = true;
    } catch (e) {
      $("wall-stale").hidden = false;
      $("wall-stale").textContent = `${t("stale")}: ${e.message}`;
    }
    setTimeout(() => this.refresh(), EVERY_MS);
  }

  show(queues, figures) {
    const today = figures.totals.today;
    let waiting = 0;
    let longest = null;
    for (const q of queues.queues) {
      waiting += q.waiting;
      if (q.longest_wait != null) longest = Math.max(longest ?? 0, q.longest_wait);
      this.row(q);
    }
    $("f-waiting").textContent = String(waiting);
    $("f-longest").textContent = longest == null ? "—" : seconds(longest);
    $("f-offered").textContent = String(today.offered);
    $("f-answered").textContent = String(today.answered);
    $("f-abandoned").textContent = String(today.abandoned);
    $("f-sl15").textContent = percent(today.sl15);
    $("f-sl15-m15").textContent = percent(figures.totals.m15.sl15);
    $("f-avgwait").textContent = today.avg_wait == null ? "—" : seconds(today.avg_wait);
    $("wall-at").textContent = clock(queues.at);
    this.updates += 1;
    $("wall").dataset.updates = String(this.updates);
  }

  row(q) {
    let cells = this.rows.get(q.queue);
    if (!cells) {
      const tr = el("tr");
      tr.dataset.queue = q.queue;
      cells = {};
      for (const c of COLUMNS) tr.append((cells[c] = el("td", c === "name" ? "" : "num")));
      $("wall-queues").tBodies[0].append(tr);
      this.rows.set(q.queue, cells);
    }
    const s = q.seats || {};
    const f = q.figures.today;
    cells.name.textContent = q.name;
    cells.waiting.textContent = String(q.waiting);
    cells.longest.textContent = q.longest_wait == null ? "—" : seconds(q.longest_wait);
    cells.free.textContent = String(s.available || 0);
    cells.busy.textContent = String((s.talking || 0) + (s.ringing || 0));
    cells.paused.textContent = String(s.paused || 0);
    cells.offered.textContent = String(f.offered);
    cells.answered.textContent = String(f.answered);
    cells.sl15.textContent = percent(f.sl15);
    cells.name.parentElement.classList.toggle("alert", q.sl_alert);
  }
}

async function start(token) {
  const api = new Api(token);
  const profile = await api.get("/api/v1/workstation/profile");
  useTimeZone(profile.timezone);
  tokens.save(KEY, token);
  $("signin").hidden = true;
  $("wall").hidden = false;
  document.title = `${profile.site} · ${t("wallboard_title")}`;
  const board = new Wallboard(api);
  window.callcoreWallboard = board; // for the end-to-end test
  await board.refresh();
}

function main() {
  apply(document);
  $("lang").onclick = () => setLang(currentLang() === "en" ? "zh" : "en");
  // a wall screen is set up once: the token may come in the address's fragment, which
  // browsers never send to the server (so it is in no access log)
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname + location.search);
  const form = signInForm($("signin"), "wallboard_token_hint", start);
  const token = fromHash || tokens.load(KEY);
  if (token) form.attempt(token);
  else form.ask();
}

main();
