// Helpers shared by the node's page and the testnet's page. No framework, no
// build step: plain DOM, text set through textContent (deployment names and
// node IDs are never parsed as HTML).
"use strict";

const QG = {};

// h builds an element: h("div", {class: "card", "data-x": 1}, child, "text", ...).
QG.h = function (tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "style") el.style.cssText = v;
    else if (typeof v === "boolean" && !k.startsWith("data-")) { if (v) el.setAttribute(k, ""); }
    else el.setAttribute(k, String(v)); // data-x="false" stays readable
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
};

QG.badge = (state) => QG.h("span", { class: "badge " + state, "data-badge": state }, state.replace("_", " "));

// fraction reads "2/3" as {num: 2, den: 3}; null if it cannot be read.
QG.fraction = function (s) {
  const m = /^(\d+)\/(\d+)$/.exec(s || "");
  return m && Number(m[2]) > 0 ? { num: Number(m[1]), den: Number(m[2]) } : null;
};

// threshold turns "2/3" into 0.666…; 0 if it cannot be read.
QG.threshold = function (s) {
  const f = QG.fraction(s);
  return f ? f.num / f.den : 0;
};

// passes: ready stake strictly above the threshold, in whole numbers as the
// quorum rule counts (2/3 of 300 is not passed by 200).
QG.passes = function (role, thresholdText) {
  const f = QG.fraction(thresholdText);
  return !!f && role.total_stake > 0 && role.ready_stake * f.den > f.num * role.total_stake;
};

// bar draws one role's ready stake against the threshold. It passes only
// strictly above the threshold, as the quorum rule does.
QG.bar = function (role, thresholdText, small) {
  const th = QG.threshold(thresholdText);
  const ratio = Math.max(0, Math.min(1, role.ready_ratio || 0));
  const passed = QG.passes(role, thresholdText);
  return QG.h("div", {
      class: "bar" + (passed ? " passed" : "") + (small ? " small" : ""),
      "data-role": role.role, "data-ratio": ratio.toFixed(4), "data-threshold": th.toFixed(4), "data-passed": passed,
      title: `${role.role}: ${role.ready_stake} of ${role.total_stake} stake ready; more than ${thresholdText} needed`,
    },
    QG.h("div", { class: "label" },
      QG.h("span", {}, QG.h("b", {}, role.role), small ? "" : ` ${role.ready_stake} / ${role.total_stake} stake`),
      QG.h("span", { class: "num" }, (ratio * 100).toFixed(1) + "%", small ? "" : ` (needs > ${thresholdText})`)),
    QG.h("div", { class: "track" },
      QG.h("div", { class: "fill", style: `width:${(ratio * 100).toFixed(2)}%` }),
      QG.h("div", { class: "mark", style: `left:calc(${(th * 100).toFixed(2)}% - 1px)` })));
};

// duration renders seconds for people: "45s", "3m 10s", "2h 5m", "3d 4h".
QG.duration = function (s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
};

// clock is the local wall time s seconds from now.
QG.clock = function (s) {
  const d = new Date(Date.now() + s * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
};

QG.getJSON = async function (path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${r.statusText}`);
  return r.json();
};

// poll calls load every ms milliseconds (never two at once) and reports on
// the element liveEl whether the last try worked.
QG.poll = function (ms, liveEl, load) {
  let updates = 0;
  const tick = async () => {
    try {
      await load();
      updates++;
      document.body.dataset.updates = updates;
      liveEl.textContent = "live · updated " + new Date().toLocaleTimeString();
      liveEl.classList.remove("stale");
    } catch (e) {
      liveEl.textContent = "not answering (" + (e && e.message ? e.message : e) + "); retrying";
      liveEl.classList.add("stale");
    }
    setTimeout(tick, ms);
  };
  tick();
};

// replace swaps the children of the element with id for the given nodes.
QG.replace = function (id, ...nodes) {
  document.getElementById(id).replaceChildren(...nodes.flat());
};
