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
  // it (a node catching up would show the past).
  function networkView(s, name) {
    let best = null;
    for (const n of s.nodes) {
      const d = find(n, name);
      if (d && (!best || n.status.head.height > best[2])) best = [d, n.id, n.status.head.height];
    }
    return best;
  }

  function deploymentCard(s, name) {
    const [d, by] = networkView(s, name);
    const counts = {};
    for (const n of s.nodes) { const x = find(n, name); if (x) counts[x.state] = (counts[x.state] || 0) + 1; }
    const card = h("div", { class: "card", "data-deployment": name, "data-state": d.state },
      h("h3", {}, name, QG.badge(d.state)),
      h("div", { class: "sub" }, `${d.component} ${d.version} · ${d.mode} mode · as ${by} sees it · `,
        Object.entries(counts).map(([st, c]) => `${c} ${st}`).join(", ")));
    const sig = d.signaling;
    if (sig) {
      card.append(h("p", {}, `Epoch ${sig.epoch}: needs more than ${sig.threshold} of stake in every role; `,
        `${sig.views_to_cutoff} views to the cutoff; ${sig.live_signers} ready signers seen by gossip.`));
      for (const r of sig.roles) card.append(QG.bar(r, sig.threshold));
    } else if (d.state === "LOCKED_IN") {
      card.append(h("p", {}, `Activates at view ${d.activation_view}` + (d.eta_seconds ? `, in about ${QG.duration(d.eta_seconds)}.` : ".")));
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
    if (!terminal(d.state)) {
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
    QG.replace("matrix", matrix(s, names));
  });
})();
