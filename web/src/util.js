// Small helpers: DOM building without innerHTML (caller numbers come from
// outside), and the formats the lists use.

/**
 * el makes an element with attributes and children (strings become text).
 * @param {string} tag
 * @param {Record<string,string>} attrs
 * @param {...(Node|string)} kids
 */
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === "" && k === "class") continue;
    e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k === "" || k === null || k === undefined) continue;
    e.append(k);
  }
  return e;
}

/** clear removes every child of e. */
export function clear(e) {
  e.replaceChildren();
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const yearFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

/** fmtTime shows a time of today as its clock time, older ones with their day. */
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeFmt.format(d);
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (d.toDateString() === yesterday.toDateString()) return `Yesterday ${timeFmt.format(d)}`;
  if (d.getFullYear() === now.getFullYear()) return `${dayFmt.format(d)}, ${timeFmt.format(d)}`;
  return yearFmt.format(d);
}

/** fmtClock gives m:ss (or h:mm:ss) for a number of seconds. */
export function fmtClock(sec) {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** fmtDuration is fmtClock for durations in the lists. */
export function fmtDuration(sec) {
  return fmtClock(Math.round(Number(sec) || 0));
}

/**
 * causeReason turns a SIP cause ("480 Temporarily Unavailable"), a JsSIP cause
 * ("Busy") or an outcome ("no-answer") into the words an agent understands; an
 * empty string when there was no failure to explain.
 */
export function causeReason(cause, outcome) {
  const c = String(cause || "").trim();
  const code = Number((c.match(/^(\d{3})\b/) || [])[1] || 0);
  const lc = c.toLowerCase();
  if (code === 480 || lc === "unavailable" || lc.includes("no phone registered")) return "no phone registered";
  if (code === 404 || code === 484 || code === 604 || lc.includes("no route") || lc === "not found" || lc === "address incomplete") return "no route";
  if (code === 486 || code === 600 || code === 603 || lc === "busy" || lc === "rejected") return "busy";
  if (code === 408 || code === 487 || lc === "no answer" || lc === "request timeout" || lc.includes("no-answer")) return "no answer";
  if (c) return code ? c.replace(/^\d{3}\s*/, "").toLowerCase() || c : lc;
  switch (outcome) {
    case "busy": return "busy";
    case "no-answer": return "no answer";
    case "failed": return "failed";
    default: return "";
  }
}
