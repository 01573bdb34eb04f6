// How numbers, times and durations look on the page.

/** A citizen's number as a seat sees it: the first three and the last four digits, the
 *  middle hidden (138****5678); numbers of seven digits or fewer keep their last two. */
export function maskNumber(number) {
  const n = String(number || "");
  if (!n) return "";
  if (n.length >= 8) return n.slice(0, 3) + "*".repeat(n.length - 7) + n.slice(-4);
  return "*".repeat(Math.max(n.length - 2, 0)) + n.slice(-2);
}

let timeZone; // the site's (from the profile); the browser's until it is known

export function useTimeZone(tz) {
  timeZone = tz;
}

/** An epoch time as HH:MM:SS on the site's clock, whatever the browser's zone. */
export function clock(epochSeconds) {
  if (epochSeconds == null) return "";
  return new Date(epochSeconds * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone });
}

/** An ISO time from the API (already in the site's zone) as "MM-DD HH:MM". */
export function isoShort(iso) {
  if (!iso) return "";
  return iso.slice(5, 10) + " " + iso.slice(11, 16);
}

export function seconds(v) {
  if (v == null) return "";
  const s = Math.round(v);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

export function percent(v) {
  return v == null ? "—" : `${(v * 100).toFixed(1)}%`;
}

/** A new element with a class and text (never HTML: caller data is shown literally). */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}
