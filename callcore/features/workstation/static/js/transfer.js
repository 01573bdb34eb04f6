// Transfers from the page: one button per target (zones, 12366), blind or attended, by
// the transfers API; Alt+1 … Alt+9 press the buttons in order.
import { t } from "./i18n.js";
import { el } from "./format.js";

const $ = (id) => document.getElementById(id);

export class Transfers {
  constructor(api, seat) {
    this.api = api;
    this.seat = seat;
    this.buttons = [];
    $("xfer-complete").onclick = () => this.complete();
  }

  async load() {
    const res = await this.api.get("/api/v1/transfer-targets").catch(() => ({ targets: [] }));
    this.buttons = res.targets.map((tg, i) => {
      const b = el("button", "target");
      b.type = "button";
      b.dataset.target = tg.target;
      b.append(el("span", "", `${tg.name} ${tg.target}`));
      if (i < 9) {
        b.append(" ", el("kbd", "", `Alt+${i + 1}`));
        b.setAttribute("aria-keyshortcuts", `Alt+${i + 1}`);
      }
      b.onclick = () => this.transfer(tg);
      return b;
    });
    $("xfer-targets").replaceChildren(...this.buttons);
  }

  byIndex(i) {
    if (this.buttons[i]) this.buttons[i].click();
  }

  async transfer(tg) {
    const mode = document.querySelector('input[name="xfer-mode"]:checked').value;
    const msg = $("xfer-msg");
    msg.textContent = "…";
    try {
      await this.api.post(`/api/v1/seats/${encodeURIComponent(this.seat)}/transfer`, {
        target: tg.target,
        mode,
      });
      msg.textContent = `${t(mode === "attended" ? "consulting" : "transfer_sent")} ${tg.name}`;
      $("xfer-complete").hidden = mode !== "attended";
    } catch (e) {
      msg.textContent = `${t("error")}: ${e.message}`;
    }
  }

  async complete() {
    try {
      await this.api.post(`/api/v1/seats/${encodeURIComponent(this.seat)}/transfer/complete`);
      $("xfer-msg").textContent = t("done");
      $("xfer-complete").hidden = true;
    } catch (e) {
      $("xfer-msg").textContent = `${t("error")}: ${e.message}`;
    }
  }
}
