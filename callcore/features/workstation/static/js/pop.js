// The screen pop (a call ringing this seat) and the seat's calls today.
import { t } from "./i18n.js";
import { clock, el, isoShort, maskNumber, seconds } from "./format.js";

const $ = (id) => document.getElementById(id);

function outcomeLabel(v) {
  return t(`oc_${v ?? "null"}`);
}

export class ScreenPop {
  constructor(profile) {
    this.zones = Object.fromEntries(profile.zones.map((z) => [z.id, z.name]));
    this.hotlines = Object.fromEntries(profile.hotlines.map((h) => [h.number, h.name]));
  }

  /** Show a `seat.offered` event: the whole panel is replaced, never appended to. */
  show(d, at) {
    const pop = $("pop");
    pop.dataset.call = d.linkedid || "";
    pop.dataset.rangAt = String(at); // Asterisk's time of the ring, and when it was shown
    pop.dataset.shownAt = String(Date.now() / 1000);
    $("pop-empty").hidden = true;
    $("pop-body").hidden = false;
    $("pop-caller").textContent = maskNumber(d.caller);
    $("pop-name").textContent = d.caller_name || "—";
    const name = this.hotlines[d.hotline] || "";
    $("pop-hotline").textContent = [d.hotline || d.dialed, name].filter(Boolean).join(" ");
    $("pop-zone").textContent = this.zones[d.zone] || d.zone || d.queue || "";
    $("pop-at").textContent = clock(at);
    const flags = [];
    if (d.enterprise) flags.push(el("span", "flag enterprise", t("enterprise")));
    if (d.affinity) flags.push(el("span", "flag affinity", t("affinity")));
    $("pop-flags").replaceChildren(...flags);
    this.previous(d.previous_calls || []);
    this.requests(d.open_requests || []);
    this.status(d.linkedid, "call_ringing");
  }

  previous(calls) {
    const rows = calls.map((c) => {
      const tr = el("tr");
      tr.dataset.linkedid = c.linkedid;
      tr.append(
        el("td", "", isoShort(c.entered_at)),
        el("td", "", c.hotline_name || c.hotline || ""),
        el("td", "", c.seat || "—"),
        el("td", "", outcomeLabel(c.outcome)),
      );
      return tr;
    });
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", "muted", t("no_previous"));
      td.colSpan = 4;
      tr.append(td);
      rows.push(tr);
    }
    $("pop-previous").tBodies[0].replaceChildren(...rows);
  }

  requests(items) {
    const li = items.map((r) => {
      const note = r.content ? ` · ${r.content}` : "";
      const item = el("li", "", `${r.id} · ${t(`rq_${r.status}`)} · ${isoShort(r.registered_at)}${note}`);
      item.dataset.request = r.id;
      return item;
    });
    $("pop-requests").replaceChildren(...(li.length ? li : [el("li", "muted", t("no_open_requests"))]));
  }

  status(linkedid, key) {
    if (!linkedid || $("pop").dataset.call !== linkedid) return;
    const b = $("pop-status");
    b.hidden = false;
    b.textContent = t(key);
    b.dataset.state = key;
  }
}

export class CallsToday {
  constructor(api, profile) {
    this.api = api;
    this.profile = profile;
    $("today-refresh").onclick = () => this.load();
  }

  async load() {
    const since = this.profile.today_start;
    const res = await this.api
      .get("/api/v1/calls", { since, seat: this.profile.seat, limit: "200" })
      .catch(() => null);
    if (!res) return;
    const rows = res.calls.slice().reverse().map((c) => {
      const tr = el("tr");
      tr.dataset.linkedid = c.linkedid;
      tr.title = c.hotline_name;
      tr.append(
        el("td", "", isoShort(c.entered_at).slice(6)),
        el("td", "", maskNumber(c.caller_number)),
        el("td", "", c.hotline || c.dialed_number),
        el("td", "", seconds(c.wait_seconds)),
        el("td", "", seconds(c.talk_seconds)),
        el("td", "", outcomeLabel(c.outcome)),
      );
      return tr;
    });
    $("today").tBodies[0].replaceChildren(...rows);
    $("today-empty").hidden = rows.length > 0;
  }
}
