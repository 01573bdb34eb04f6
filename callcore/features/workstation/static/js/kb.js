// The knowledge base: search (Chinese full text on the server), results with title,
// class and unit, and one article open at a time.
import { t } from "./i18n.js";
import { el } from "./format.js";

const $ = (id) => document.getElementById(id);

/** Text with its matched spans as <mark> elements (built as nodes, never as HTML). */
function marked(m) {
  const out = [];
  let at = 0;
  for (const [a, b] of m.marks || []) {
    if (a > at) out.push(document.createTextNode(m.text.slice(at, a)));
    out.push(el("mark", "", m.text.slice(a, b)));
    at = b;
  }
  out.push(document.createTextNode(m.text.slice(at)));
  return out;
}

export class Knowledge {
  constructor(api) {
    this.api = api;
    $("kb-form").onsubmit = (e) => {
      e.preventDefault();
      this.search($("kb-q").value.trim());
    };
    $("kb-close").onclick = () => {
      $("kb-article").hidden = true;
      $("kb-q").focus();
    };
  }

  async search(q) {
    if (!q) return;
    $("kb-msg").textContent = "…";
    try {
      const res = await this.api.get("/api/v1/knowledge/search", { q, limit: "10" });
      $("kb-msg").textContent = res.hits.length ? (res.fuzzy ? t("fuzzy") : "") : t("no_hits");
      $("kb-hits").replaceChildren(...res.hits.map((h) => this.hit(h)));
    } catch (e) {
      $("kb-msg").textContent = `${t("error")}: ${e.message}`;
      $("kb-hits").replaceChildren();
    }
  }

  hit(h) {
    const li = el("li", "hit");
    const open = el("button", "link");
    open.type = "button";
    open.append(...marked(h.title));
    open.onclick = () => this.open(h.id);
    const meta = el("div", "muted", `${t("class")}: ${h.class_name || h.class_id} · ${t("unit")}: ${h.unit}`);
    const snip = el("div", "snippet");
    snip.append(...marked(h.snippet));
    li.append(open, meta, snip);
    return li;
  }

  async open(id) {
    try {
      const a = await this.api.get(`/api/v1/knowledge/articles/${encodeURIComponent(id)}`);
      $("kb-title").textContent = a.title;
      const valid = [a.valid_from, a.valid_until].filter(Boolean).join(" – ");
      $("kb-meta").textContent = `${t("class")}: ${a.class_name || a.class_id} · ${t("unit")}: ${a.unit}${valid ? ` · ${t("valid")}: ${valid}` : ""}`;
      $("kb-body").textContent = a.body;
      $("kb-article").hidden = false;
      $("kb-article").focus();
    } catch (e) {
      $("kb-msg").textContent = `${t("error")}: ${e.message}`;
    }
  }
}
