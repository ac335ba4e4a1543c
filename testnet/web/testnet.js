// The testnet's page: polls /api/status (every node's /status) and redraws
// the matrix of nodes × deployments.
"use strict";

(function () {
  const { h } = QG;
  const every = Number(new URLSearchParams(location.search).get("every")) || 1000;
  const terminal = (s) => s === "ACTIVE" || s === "FAILED" || s === "CANCELED";

  const find = (n, name) => n.status && n.status.deployments.find((d) => d.name === name);
  const halted = (n) => n.process === "exited" && /halted/.test(n.exit || "");

  // deploymentNames: every deployment some node knows, in the order the
  // nodes list them.
  function deploymentNames(s) {
    const names = [];
    for (const n of s.nodes) for (const d of (n.status ? n.status.deployments : [])) if (!names.includes(d.name)) names.push(d.name);
    return names;
  }

  // networkView is a deployment as the node furthest along the chain sees
  // it (a node catching up would show the past), and that node.
  function networkView(s, name) {
    let best = null;
    for (const n of s.nodes) {
      const d = find(n, name);
      if (d && (!best || n.status.head.height > best[1].status.head.height)) best = [d, n];
    }
    return best;
  }

  // ahead is the answering node furthest along the chain, or null.
  const ahead = (s) => s.nodes.filter((n) => n.status).reduce((m, n) => (!m || n.status.head.view > m.status.head.view ? n : m), null);
  const paramOf = (n, name) => n.status && (n.status.params || []).find((p) => p.name === name);

  // what names what a deployment changes: a component's version, or a
  // parameter's value ("from → to" while it is pending, as st has it).
  function what(d, st) {
    if (!d.param) return `${d.component} ${d.version}`;
    const p = (st.params || []).find((p) => p.name === d.param);
    return `param ${d.param} ${p && p.active !== d.value && !terminal(d.state) ? p.active + " → " : ""}${d.value}`;
  }

  function deploymentCard(s, name) {
    const [d, by] = networkView(s, name);
    const counts = {};
    for (const n of s.nodes) { const x = find(n, name); if (x) counts[x.state] = (counts[x.state] || 0) + 1; }
    const card = h("div", { class: "card", "data-deployment": name, "data-state": d.state, "data-param": d.param },
      h("h3", {}, name, QG.badge(d.state)),
      h("div", { class: "sub" }, `${what(d, by.status)} · ${d.mode} mode · as ${by.id} sees it · `,
        Object.entries(counts).map(([st, c]) => `${c} ${st}`).join(", ")));
    if (d.param && !terminal(d.state)) {
      // A parameter change needs no new software: every node signals for it
      // by itself and hands the value on in params.json.
      card.append(h("p", { class: "support" }, h("span", { class: "yes" }, "✓ no new software needed"),
        " · every node signals for it by itself and gets the value in params.json"));
    }
    const sig = d.signaling;
    if (sig) {
      card.append(h("p", {}, `Epoch ${sig.epoch}: needs more than ${sig.threshold} of stake in every role; `,
        `${sig.views_to_cutoff} views to the cutoff; ${sig.live_signers} ready signers seen by gossip.`));
      for (const r of sig.roles) card.append(QG.bar(r, sig.threshold));
    } else if (d.state === "LOCKED_IN") {
      const left = Math.max(0, d.activation_view - by.status.head.view);
      card.append(h("p", { "data-views-to-activation": left }, `Activates at view ${d.activation_view}, in ${left} views` +
        (d.eta_seconds ? ` (about ${QG.duration(d.eta_seconds)}).` : ".")));
    } else if (d.state === "ACTIVE") {
      card.append(h("p", {}, `Active since view ${d.activation_view}.`));
    }
    const lock = (s.lock_ins || []).find((l) => l.deployment === name && !l.error);
    if (lock) {
      card.append(h("p", { class: "sub" }, `Locked in at view ${lock.view} (epoch ${lock.epoch}) with: ` +
        lock.ready.map((r) => r.node_id).join(", ") + "."));
      for (const r of lock.roles) card.append(QG.bar(r, lock.threshold, true));
    }
    return card;
  }

  function processCell(n) {
    if (n.process === "running") return h("span", { class: "badge ok" }, "running");
    if (halted(n)) return h("span", { class: "badge bad", title: n.exit }, "halted");
    if (n.process === "exited") return h("span", { class: "badge bad", title: n.exit }, "exited");
    if (n.process === "down") return h("span", { class: "badge warn" }, "down");
    return h("span", { class: "badge off" }, n.process);
  }

  function depCell(n, name) {
    const d = find(n, name);
    if (!n.status) return h("td", { "data-dep": name, "data-state": "" }, h("span", { class: "sub" }, "—"));
    if (!d) return h("td", { "data-dep": name, "data-state": "UNKNOWN" }, h("span", { class: "sub" }, "not seen yet"));
    const cell = h("td", { class: "cell-dep", "data-dep": name, "data-state": d.state }, QG.badge(d.state));
    if (d.activation_view !== undefined && !["FAILED", "CANCELED"].includes(d.state)) cell.append(h("span", { class: "sub" }, `at view ${d.activation_view}`));
    if (!terminal(d.state) && d.param) {
      cell.append(h("span", { class: "sub yes" }, "✓ no new software"));
    } else if (!terminal(d.state)) {
      cell.append(d.this_node_supports ? h("span", { class: "sub yes" }, "✓ runs it") : h("span", { class: "sub no" }, "✗ does not run it"));
    }
    if (d.signaling) for (const r of d.signaling.roles) cell.append(QG.bar(r, d.signaling.threshold, true));
    return cell;
  }

  function matrix(s, names) {
    const head = h("tr", {}, ["node", "role · stake", "process", "active version", "runs", "head", "peers", "sync"].map((c) => h("th", {}, c)),
      names.map((name) => h("th", {}, name)));
    const rows = s.nodes.map((n) => {
      const st = n.status;
      const link = st ? h("a", { href: `http://${n.api}/`, target: "_blank" }, n.id) : n.id;
      return h("tr", { "data-node": n.id, "data-process": n.process, "data-halted": halted(n), class: st ? "" : "down" },
        h("td", {}, h("b", {}, link), n.sequencer ? h("span", { class: "sub" }, " sequencer") : ""),
        h("td", {}, `${n.role} · ${n.stake}`),
        // A halt's words are in the banner above; another exit's go here.
        h("td", { "data-col": "process" }, processCell(n), n.exit && !halted(n) ? h("div", { class: "sub exit" }, n.exit) : ""),
        h("td", { "data-col": "version" }, st ? st.versions.map((c) => `${c.component} ${c.active}`).join(", ") : "—"),
        h("td", { "data-col": "runs" }, h("span", { class: "sub" }, (n.supported || []).join(", "))),
        h("td", { "data-col": "head", class: "num" }, st ? `${st.head.height} · view ${st.head.view} · epoch ${st.head.epoch}` : "—"),
        h("td", { class: "num" }, st ? st.peers : "—"),
        h("td", {}, st ? (st.synced ? h("span", { class: "badge ok" }, "synced") : h("span", { class: "badge warn" }, "catching up")) : "—"),
        names.map((name) => depCell(n, name)));
    });
    return h("table", { class: "matrix", id: "matrix-table" }, h("thead", {}, head), h("tbody", {}, rows));
  }

  // Past LARGE nodes (testnet.SummarizeAbove) the page summarises, as
  // testnet status does: a row per role, each parameter's values counted,
  // and the matrix only for the nodes that stand out, with every node's row
  // folded away below.
  const LARGE = 12;
  const LAG = 3; // views behind the highest head before a node stands out
  const versionsOf = (n) => n.status.versions.map((c) => `${c.component}=${c.active}`).join(",");
  const span = (vs) => (vs.length ? (Math.min(...vs) === Math.max(...vs) ? `${vs[0]}` : `${Math.min(...vs)}..${Math.max(...vs)}`) : "—");

  // counted is "value (count)" for each value, the most common first, a
  // value few nodes hold naming them.
  function counted(pairs) {
    const by = new Map();
    for (const [v, id] of pairs) { if (!by.has(v)) by.set(v, []); by.get(v).push(id); }
    const vs = [...by.keys()].sort((a, b) => by.get(b).length - by.get(a).length || String(a).localeCompare(String(b)));
    return vs.map((v, i) => `${v} (${by.get(v).length}${i > 0 && by.get(v).length <= 10 ? ": " + by.get(v).join(", ") : ""})`).join(", ");
  }

  function roleTable(s) {
    const roles = [...new Set(s.nodes.map((n) => n.role)), "all"];
    const head = h("tr", {}, ["role", "nodes", "stake", "running", "answering", "synced", "view", "peers", "active versions"].map((c) => h("th", {}, c)));
    const rows = roles.map((role) => {
      const ns = s.nodes.filter((n) => role === "all" || n.role === role);
      const up = ns.filter((n) => n.status);
      return h("tr", { "data-role": role },
        h("td", {}, h("b", {}, role)), h("td", { class: "num" }, ns.length), h("td", { class: "num" }, ns.reduce((a, n) => a + n.stake, 0)),
        h("td", { class: "num" }, ns.filter((n) => n.process === "running").length), h("td", { class: "num" }, up.length),
        h("td", { class: "num", "data-col": "synced" }, up.filter((n) => n.status.synced).length),
        h("td", { class: "num" }, span(up.map((n) => n.status.head.view))), h("td", { class: "num" }, span(up.map((n) => n.status.peers))),
        h("td", {}, counted(up.map((n) => [versionsOf(n), n.id]))));
    });
    return h("table", { class: "matrix", id: "roles-table" }, h("thead", {}, head), h("tbody", {}, rows));
  }

  // standOut: the nodes not running, not answering, not synced, behind, or
  // seeing a version, deployment or parameter differently from most.
  function standOut(s, names) {
    const out = new Set();
    const up = s.nodes.filter((n) => n.status);
    const top = up.reduce((m, n) => Math.max(m, n.status.head.view), 0);
    const minority = (key) => {
      const by = new Map();
      for (const n of up) { const k = key(n); if (!by.has(k)) by.set(k, []); by.get(k).push(n.id); }
      const groups = [...by.values()].sort((a, b) => b.length - a.length);
      for (const g of groups.slice(1)) for (const id of g) out.add(id);
    };
    minority(versionsOf);
    for (const name of names) minority((n) => { const d = find(n, name); return d ? `${d.state}@${d.activation_view}` : "unknown"; });
    const pnames = new Set(up.flatMap((n) => (n.status.params || []).map((p) => p.name)));
    for (const p of pnames) minority((n) => { const v = paramOf(n, p); return v ? v.active : "unknown"; });
    for (const n of s.nodes) if (!n.status || !n.status.synced || n.status.head.view + LAG < top) out.add(n.id);
    return out;
  }

  function summary(s, names) {
    const out = standOut(s, names);
    const few = { ...s, nodes: s.nodes.filter((n) => out.has(n.id)) };
    const all = matrix(s, names);
    all.id = "matrix-table";
    const picked = few.nodes.length ? matrix(few, names) : h("p", { class: "empty", id: "no-standouts" },
      `Every node runs, answers, is synced within ${LAG} views of the highest head, and agrees with the others.`);
    if (few.nodes.length) picked.id = "standouts-table";
    return [roleTable(s),
      h("h3", { id: "standouts" }, few.nodes.length ? `${few.nodes.length} nodes stand out` : "No node stands out"), picked,
      h("details", { id: "every-node" }, h("summary", {}, `Every node (${s.nodes.length})`), all)];
  }

  // paramSummary is params for a large testnet: each parameter's values
  // counted instead of a column per node.
  function paramSummary(s) {
    const names = [];
    for (const n of s.nodes) for (const p of (n.status && n.status.params) || []) if (!names.some((x) => x.name === p.name)) names.push(p);
    if (!names.length) return [h("p", { class: "empty" }, "This chain declares no protocol parameters.")];
    const top = ahead(s);
    const head = h("tr", {}, ["parameter", "values (nodes)", "nodes agree", `pending, as ${top.id} sees it`].map((c) => h("th", {}, c)));
    const rows = names.map(({ name, type }) => {
      const pairs = s.nodes.map((n) => [paramOf(n, name), n.id]).filter(([p]) => p).map(([p, id]) => [p.active, id]);
      const agree = new Set(pairs.map(([v]) => v)).size <= 1;
      const pending = ((paramOf(top, name) || {}).pending || []).map((c) =>
        h("div", { "data-pending": c.deployment }, h("b", {}, c.deployment), ` sets ${c.value} · ${c.mode} · `, QG.badge(c.state)));
      return h("tr", { "data-param": name, "data-agree": agree },
        h("td", {}, h("b", {}, name), h("div", { class: "sub" }, type)),
        h("td", { class: "value", "data-col": "values" }, counted(pairs)),
        h("td", {}, agree ? h("span", { class: "badge ok" }, `all ${pairs.length}`) : h("span", { class: "badge bad" }, "they differ")),
        h("td", {}, pending.length ? pending : h("span", { class: "sub" }, "no change pending")));
    });
    return [h("table", { class: "matrix params", id: "params-table" }, h("thead", {}, head), h("tbody", {}, rows))];
  }

  // params is a table of the protocol parameters: each node's active
  // value, whether the nodes that answer agree, and the changes pending as
  // the node furthest along sees them.
  function params(s) {
    const names = [];
    for (const n of s.nodes) for (const p of (n.status && n.status.params) || []) if (!names.some((x) => x.name === p.name)) names.push(p);
    if (!names.length) return [h("p", { class: "empty" }, "This chain declares no protocol parameters.")];
    const top = ahead(s);
    const head = h("tr", {}, h("th", {}, "parameter"), s.nodes.map((n) => h("th", {}, n.id)), h("th", {}, "nodes agree"), h("th", {}, `pending, as ${top.id} sees it`));
    const rows = names.map(({ name, type }) => {
      const values = s.nodes.map((n) => paramOf(n, name)).filter((p) => p).map((p) => p.active);
      const agree = new Set(values).size <= 1;
      const pending = (paramOf(top, name) || { pending: [] }).pending.map((c) =>
        h("div", { "data-pending": c.deployment }, h("b", {}, c.deployment), ` sets ${c.value} · ${c.mode} · `, QG.badge(c.state),
          c.activation_view !== undefined ? h("span", { class: "sub" }, ` at view ${c.activation_view}, in ${c.views_to_activation} views`) : ""));
      return h("tr", { "data-param": name, "data-agree": agree },
        h("td", {}, h("b", {}, name), h("div", { class: "sub" }, type)),
        s.nodes.map((n) => {
          const p = paramOf(n, name);
          return h("td", { class: "value", "data-node": n.id, "data-value": p ? p.active : undefined },
            p ? p.active : h("span", { class: "sub" }, n.status ? "unknown" : "—"));
        }),
        h("td", {}, agree ? h("span", { class: "badge ok" }, `all ${values.length}`) : h("span", { class: "badge bad" }, "they differ")),
        h("td", {}, pending.length ? pending : h("span", { class: "sub" }, "no change pending")));
    });
    return [h("table", { class: "matrix params", id: "params-table" }, h("thead", {}, head), h("tbody", {}, rows))];
  }

  QG.poll(every, document.getElementById("live"), async () => {
    const s = await QG.getJSON("/api/status");
    const names = deploymentNames(s);
    const running = s.nodes.filter((n) => n.status);
    const top = running.reduce((m, n) => Math.max(m, n.status.head.height), 0);
    document.title = `quorumgate · testnet ${s.chain_id}`;
    document.getElementById("chain").textContent = s.chain_id;
    QG.replace("facts", [
      h("span", {}, h("b", {}, running.length), ` of ${s.nodes.length} nodes answer`),
      h("span", {}, "height ", h("b", {}, top)),
      h("span", {}, `epochs of ${s.epoch_views} views at ${s.view_interval} a view`),
    ]);
    QG.replace("halts", s.nodes.filter(halted).map((n) => {
      const needs = /supports ([^\s=]+=\S+?)[\s,;)]/.exec(n.exit + " ");
      return h("div", { class: "banner", "data-halted": n.id }, h("b", {}, `${n.id} halted: `), n.exit,
        needs ? h("div", {}, "Its operator upgrades it with ", h("code", {}, `node-plugin testnet upgrade ${n.id} --supports ${needs[1]}`)) : null);
    }));
    QG.replace("deployments", names.length ? names.map((name) => deploymentCard(s, name))
      : [h("p", { class: "empty" }, "No deployments yet: node-plugin testnet propose --name protocol-2 --version 2.0.0")]);
    const large = s.nodes.length > LARGE;
    QG.replace("params", large ? paramSummary(s) : params(s));
    QG.replace("matrix", large ? summary(s, names) : [matrix(s, names)]);
  });
})();
