// The engine's API as the page uses it: JSON with the token, errors with their message,
// and the event stream over one WebSocket that reconnects by itself.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, data.error || "error", data.message || r.statusText);
    return data;
  }

  get(path, params) {
    const q = params ? "?" + new URLSearchParams(params).toString() : "";
    return this.request("GET", path + q);
  }

  post(path, body) {
    return this.request("POST", path, body ?? {});
  }

  /** The event stream; `onEvent(frame)` for every frame, `onStatus(up)` when it connects
   *  or is lost. Returns a function that closes it for good. */
  events(types, onEvent, onStatus) {
    let ws = null;
    let closed = false;
    let delay = 500;
    const open = () => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const q = new URLSearchParams({ types: types.join(","), access_token: this.token });
      ws = new WebSocket(`${proto}//${location.host}/api/v1/events?${q}`);
      ws.onmessage = (m) => {
        delay = 500;
        onEvent(JSON.parse(m.data));
      };
      ws.onopen = () => onStatus(true);
      ws.onclose = () => {
        onStatus(false);
        if (!closed) setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    };
    open();
    return () => {
      closed = true;
      if (ws) ws.close();
    };
  }
}

/** The token kept for this tab only (sessionStorage: it goes when the tab closes). */
export const tokens = {
  load(key) {
    return sessionStorage.getItem(key) || "";
  },
  save(key, token) {
    sessionStorage.setItem(key, token);
  },
  clear(key) {
    sessionStorage.removeItem(key);
  },
};
