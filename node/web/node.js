// The node's dashboard: polls /status and /ui/node.json and redraws.
"use strict";

(function () {
  const { h } = QG;
  const pending = (s) => s === "DEFINED" || s === "STARTED" || s === "LOCKED_IN";
  // A supported entry: an exact version (protocol=2.0.1), or a component
  // version (protocol=2.0), which runs every release of it.
  const entry = (e) => (/=\d+\.\d+$/.test(e) ? `${e} (every ${e.slice(e.indexOf("=") + 1)}.x)` : e);

  function facts(st, info) {
    const sync = st.synced ? QG.h("span", { class: "badge ok", id: "synced", "data-synced": "true" }, "synced")
      : QG.h("span", { class: "badge warn", id: "synced", "data-synced": "false" }, "catching up");
    return [
      h("span", { id: "head", "data-height": st.head.height, "data-view": st.head.view, "data-epoch": st.head.epoch },
        "height ", h("b", {}, st.head.height), " · view ", h("b", {}, st.head.view), " · epoch ", h("b", {}, st.head.epoch)),
      h("span", { id: "peers", "data-peers": st.peers }, "peers ", h("b", {}, st.peers), ` (${info.mesh_peers} in the gossip mesh)`),
      received(info),
      sync,
    ];
  }

  // The blocks applied since the node started, by how they first arrived:
  // gossip is the normal path, sync the catch-up one.
  function received(info) {
    const total = info.blocks_by_gossip + info.blocks_by_sync;
    const share = total > 0 ? Math.round((100 * info.blocks_by_gossip) / total) : null;
    return h("span", { id: "received", "data-gossip": info.blocks_by_gossip, "data-sync": info.blocks_by_sync },
      "blocks by gossip ", h("b", {}, share === null ? "–" : `${share}%`),
      total > 0 ? ` (${info.blocks_by_gossip} of ${total}; ${info.blocks_by_sync} by sync)` : " (none received yet)");
  }

  function timer(label, views, seconds) {
    return h("div", {},
      h("div", { class: "k" }, label),
      h("div", { class: "v num" }, `${views} views`),
      seconds > 0 ? h("div", { class: "sub num" }, `≈ ${QG.duration(seconds)} · ${QG.clock(seconds)}`) : null);
  }

  // what names what a deployment changes: a component's version, or a
  // parameter's value ("from → to" while it is pending).
  function what(d, st) {
    const from = d.param ? ((st.params || []).find((p) => p.name === d.param) || {}).active
      : (st.versions.find((c) => c.component === d.component) || {}).active;
    const to = d.param ? d.value : d.version;
    const change = `${from !== undefined && from !== to && pending(d.state) ? from + " → " : ""}${to}`;
    return d.param ? `param ${d.param} ${change}` : `${d.component} ${change}`;
  }

  function deployment(d, st, info) {
    const card = h("div", { class: "card", "data-deployment": d.name, "data-state": d.state, "data-param": d.param },
      h("h3", {}, d.name, QG.badge(d.state)),
      h("div", { class: "sub" }, what(d, st),
        ` · ${d.mode} mode · ${d.state.toLowerCase().replace("_", " ")} since view ${d.since_view}`));
    if (pending(d.state) && d.param) {
      // A parameter change needs no new software: the node-plugin hands the
      // value to the node software (params.json and the hook).
      card.append(h("p", { class: "support", "data-supports": true },
        h("span", { class: "yes" }, "✓ no new software needed"), " · the node gets the value in params.json"));
    } else if (pending(d.state)) {
      card.append(h("p", { class: "support", "data-supports": d.this_node_supports },
        d.this_node_supports ? h("span", { class: "yes" }, "✓ this node supports it", d.covered_by ? ` (supported ${d.covered_by})` : null)
          : h("span", { class: "no" }, "✗ this node does NOT support it")));
    }
    const sig = d.signaling;
    if (sig) {
      card.append(h("p", {}, `Epoch ${sig.epoch}: needs more than ${sig.threshold} of stake in every role below.`));
      for (const r of sig.roles) card.append(QG.bar(r, sig.threshold));
      card.append(h("div", { class: "timer" },
        sig.views_to_cutoff > 0 ? timer("to the cutoff", sig.views_to_cutoff, sig.views_to_cutoff * info.view_interval_seconds)
          : h("div", {}, h("div", { class: "k" }, "cutoff"), h("div", { class: "v" }, "passed"), h("div", { class: "sub" }, "readiness counts next epoch")),
        h("div", {}, h("div", { class: "k" }, "gossip"), h("div", { class: "v num" }, `${sig.live_signers} ready`),
          h("div", { class: "sub" }, "signers seen this epoch"))));
    }
    if (d.activation_view !== undefined) {
      const left = Math.max(0, d.activation_view - st.head.view);
      if (d.state === "LOCKED_IN") {
        card.append(h("div", { class: "timer", "data-activation-view": d.activation_view },
          h("div", {}, h("div", { class: "k" }, "activation view"), h("div", { class: "v num" }, d.activation_view)),
          timer("to the activation", left, d.eta_seconds || 0)));
      } else if (d.state === "ACTIVE") {
        card.append(h("p", {}, `Activated at view ${d.activation_view}.`));
      } else if (d.state === "CANCELED") {
        card.append(h("p", { class: "sub" }, `Would have activated at view ${d.activation_view}.`));
      }
    }
    if (d.state === "DEFINED") card.append(h("p", { class: "sub" }, "Waiting for its start epoch."));
    return card;
  }

  function self(st, info) {
    const rows = [
      ["node", info.node_id],
      ["role", info.role ? `${info.role}, stake ${info.stake}` : "no stake in this epoch"],
      ["runs", info.supported.map(entry).join(", ")],
    ];
    const ident = h("div", { class: "card" }, h("h3", {}, "Identity"),
      h("table", { class: "kv" }, rows.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v)))));
    const ready = h("div", { class: "card", id: "own-readiness" }, h("h3", {}, "Readiness this epoch"));
    if (info.readiness.length === 0) ready.append(h("p", { class: "empty" }, "No deployment is signaling."));
    for (const r of info.readiness) {
      let what;
      if (!r.supports) what = h("span", { class: "no" }, "not ready: this binary does not run it");
      else if (!r.role_counted) what = h("span", { class: "sub" }, "ready, but its role is not counted");
      else if (r.counted) what = h("span", { class: "yes" }, `✓ signaled and counted in epoch ${r.epoch}`);
      else if (r.signaled) what = h("span", {}, `signaled in epoch ${r.epoch}; not finalized yet`);
      else what = h("span", {}, "ready; signals at the next chance");
      ready.append(h("p", { "data-own": r.deployment, "data-counted": r.counted, "data-signaled": r.signaled },
        h("b", {}, r.deployment), ": ", what));
    }
    return [ident, ready];
  }

  // history draws one lane per component: every version's activation view,
  // the pending activations, and the head.
  function history(st) {
    const locked = st.deployments.filter((d) => d.state === "LOCKED_IN" && d.activation_view !== undefined);
    let end = st.head.view;
    for (const c of st.versions) for (const r of c.history) end = Math.max(end, r.activation_view);
    for (const d of locked) end = Math.max(end, d.activation_view);
    end = Math.max(1, Math.ceil(end * 1.08));
    const at = (v) => `left:${((100 * v) / end).toFixed(2)}%`;
    const lanes = st.versions.map((c) => {
      const axis = h("div", { class: "axis" });
      c.history.forEach((r, i) => {
        axis.append(h("div", { class: "pt", style: at(r.activation_view), title: `${c.component} ${r.version}: from view ${r.activation_view}, first block at view ${r.first_view}` }));
        axis.append(h("div", { class: "tag" + (i % 2 ? " up" : ""), style: at(r.activation_view) }, h("b", {}, r.version), ` @${r.activation_view}`));
      });
      for (const d of locked.filter((d) => d.component === c.component)) {
        axis.append(h("div", { class: "pt pending", style: at(d.activation_view), title: `${d.name}: activates at view ${d.activation_view}` }));
        axis.append(h("div", { class: "tag up", style: at(d.activation_view) }, h("b", {}, d.version), ` @${d.activation_view} (pending)`));
      }
      axis.append(h("div", { class: "now", style: at(st.head.view), title: `head: view ${st.head.view}` }));
      return h("div", { class: "lane", "data-component": c.component, "data-active": c.active, "data-versions": c.history.length },
        h("div", { class: "name" }, c.component, h("div", { class: "sub" }, "now " + c.active)), axis);
    });
    if (!lanes.length) return [h("p", { class: "empty" }, "No component has a version yet.")];
    lanes.push(h("p", { class: "sub legend" }, `● a version and the view it became active from   ○ a pending activation   | the head (view ${st.head.view}); views 0 to ${end}`));
    return lanes;
  }

  // params lists every protocol parameter: its value, type and since when,
  // and a pending change with the views to its activation.
  function params(st, info) {
    const ps = st.params || [];
    if (!ps.length) return [h("p", { class: "empty" }, "This chain declares no protocol parameters.")];
    const rows = ps.map((p) => {
      const last = p.history[p.history.length - 1] || { activation_view: 0 };
      const next = p.pending.map((c) => {
        let when = "";
        if (c.activation_view !== undefined) {
          const secs = c.views_to_activation * info.view_interval_seconds;
          when = ` · activates at view ${c.activation_view}, in ${c.views_to_activation} views` +
            (secs > 0 ? ` (≈ ${QG.duration(secs)}, ${QG.clock(secs)})` : "");
        }
        return h("div", { class: "sub", "data-pending": c.deployment },
          h("b", {}, c.deployment), ` sets ${c.value} · ${c.mode} · `, QG.badge(c.state), when);
      });
      return h("tr", { "data-param": p.name, "data-active": p.active, "data-pending": p.pending.map((c) => c.deployment).join(" ") },
        h("td", {}, h("b", {}, p.name), h("div", { class: "sub" }, p.type)),
        h("td", { class: "value" }, p.active,
          h("div", { class: "sub" }, last.activation_view > 0 ? `since view ${last.activation_view}` : "since genesis")),
        h("td", {}, next.length ? next : h("span", { class: "sub" }, "no change pending")));
    });
    return [h("table", { class: "kv params" }, rows)];
  }

  function warnings(st, info) {
    return st.deployments.filter((d) => d.state === "LOCKED_IN" && !d.this_node_supports && !d.param).map((d) => {
      const left = Math.max(0, d.activation_view - st.head.view);
      const secs = d.eta_seconds || left * info.view_interval_seconds;
      return h("div", { class: "banner", "data-upgrade-needed": d.name },
        h("b", {}, "Upgrade needed: "), `${d.name} activates ${d.component} ${d.version} at view ${d.activation_view}, `,
        `in ${left} views (≈ ${QG.duration(secs)}, ${QG.clock(secs)}), and this node does not run it. `,
        "It will halt there rather than fork.");
    });
  }

  const every = Number(new URLSearchParams(location.search).get("every")) || 1000;
  QG.poll(every, document.getElementById("live"), async () => {
    const [st, info] = await Promise.all([QG.getJSON("/status"), QG.getJSON("/ui/node.json")]);
    document.title = `quorumgate · ${st.node_id}`;
    document.getElementById("node-id").textContent = st.node_id;
    QG.replace("facts", facts(st, info));
    QG.replace("warnings", warnings(st, info));
    QG.replace("deployments", st.deployments.length ? st.deployments.map((d) => deployment(d, st, info))
      : [h("p", { class: "empty" }, "No deployments yet.")]);
    QG.replace("self", self(st, info));
    QG.replace("params", params(st, info));
    QG.replace("history", history(st));
  });
})();
