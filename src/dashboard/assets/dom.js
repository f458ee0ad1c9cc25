// DOM helpers. Every piece of data goes in as a text node or an attribute value set with
// setAttribute, never as markup, so text from logs cannot become HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    // CSSOM, not a style attribute: the page's CSP forbids inline style attributes.
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

/** Creates an HTML element: h("a", {href}, "text", child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return append(el, children);
}

/** Creates an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return append(el, children);
}

/** Replaces the children of an element. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Fetches JSON from the API; throws an Error with the server's message. */
export async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

/** "1.2 s", "3 m 04 s", "2 h 05 m". */
export function fmtDuration(sec) {
  if (sec === undefined || sec === null || !Number.isFinite(sec)) return "";
  if (sec < 10) return `${sec.toFixed(2)} s`;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} m ${String(Math.floor(sec % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(hours / 24)} d ${String(hours % 24).padStart(2, "0")} h`;
}

/** Local "YYYY-MM-DD HH:MM:SS" of an ISO instant. */
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A coloured status pill. */
export function badge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status);
}

/** Pretty JSON in a <pre>, or nothing for undefined. */
export function jsonBlock(value, cls) {
  if (value === undefined) return null;
  return h("pre", { class: cls ?? "json" }, JSON.stringify(value, null, 2));
}

/** A link handled by the client-side router. */
export function link(href, ...children) {
  return h("a", { href, "data-link": true }, ...children);
}
