/// The live dashboard the hub serves at `/`: one self-contained page (its CSS, script and charts
/// inline; nothing loaded from elsewhere) that reads `/api/overview` and then follows
/// `/api/stream` (server-sent events, once a second); with `?snapshot` it renders once and stays
/// still. Every figure is written with `textContent`:
/// names come from gateways and workers, and none is ever parsed as HTML.
enum Dashboard {
    static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Switchboard</title>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
          header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
          header h1 { font-size: 18px; margin: 0; }
          header .state { font-size: 13px; opacity: .85; }
          header .state.bad { color: #ff8a80; opacity: 1; font-weight: 600; }
          main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); }
          section { background: #fff; border-radius: 6px; padding: 12px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.08); overflow-x: auto; }
          h2 { font-size: 15px; margin: 0 0 8px; text-transform: capitalize; }
          table { border-collapse: collapse; width: 100%; }
          th, td { text-align: right; padding: 3px 5px; border-bottom: 1px solid #eceef2; white-space: nowrap; font-size: 13px; }
          th:first-child, td:first-child { text-align: left; }
          th { font-weight: 600; color: #5b6476; font-size: 12px; }
          td.warn { color: #b36b00; font-weight: 600; } td.bad { color: #c62828; font-weight: 600; }
          svg { width: 100%; height: 90px; background: #fafbfc; }
          .legend { font-size: 12px; color: #5b6476; } .legend b.a { color: #3b6ea8; } .legend b.b { color: #d08a2b; }
          .empty { color: #8a93a5; font-size: 13px; }
        </style>
        </head>
        <body>
        <header><h1>Switchboard</h1><span id="hub" class="state">connecting…</span><span id="updated" class="state"></span></header>
        <main>
          <div id="processes" style="display: contents"></div>
          <section id="throughput"><h2>Throughput, last 5 minutes</h2><svg id="throughput-chart" viewBox="0 0 300 90" preserveAspectRatio="none"></svg>
            <div class="legend"><b class="a">received</b> and <b class="b">completed</b> per second; now <span id="rate"></span></div></section>
          <section id="latency"><h2>ACK latency, last 5 minutes</h2><svg id="latency-chart" viewBox="0 0 300 90" preserveAspectRatio="none"></svg>
            <div class="legend"><b class="a">mean</b> and <b class="b">max</b> per second, ms; now <span id="ack"></span></div></section>
          <section id="workers"><h2>Workers</h2><table><thead><tr><th>worker</th><th>queues</th><th>held</th><th>capacity</th><th>load</th></tr></thead><tbody></tbody></table></section>
          <section id="quarantine"><h2>Recent refusals (quarantine)</h2><table><tbody></tbody></table></section>
          <section id="dead"><h2>Recent dead letters</h2><table><tbody></tbody></table></section>
        </main>
        <script>
        "use strict";
        function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
        function row(cells, attrs) { const tr = el("tr"); for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
          for (const c of cells) tr.appendChild(Array.isArray(c) ? el("td", c[0], c[1]) : el("td", c)); return tr; }
        function seconds(s) { return s < 90 ? s.toFixed(0) + " s" : s < 5400 ? (s / 60).toFixed(0) + " min" : (s / 3600).toFixed(1) + " h"; }
        function polyline(svg, values, max, color) {
          const p = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
          const n = Math.max(values.length - 1, 1);
          p.setAttribute("points", values.map((v, i) => (i * 300 / n).toFixed(1) + "," + (88 - 84 * v / max).toFixed(1)).join(" "));
          p.setAttribute("fill", "none"); p.setAttribute("stroke", color); p.setAttribute("stroke-width", "1.5");
          p.setAttribute("vector-effect", "non-scaling-stroke"); svg.appendChild(p);
        }
        function chart(id, a, b) { const svg = document.getElementById(id); svg.replaceChildren();
          const max = Math.max(1, ...a, ...b); polyline(svg, a, max, "#3b6ea8"); polyline(svg, b, max, "#d08a2b"); }
        function problems(id, list, empty) { const body = document.querySelector("#" + id + " tbody"); body.replaceChildren();
          if (!list.length) { body.appendChild(row([[empty, "empty"]])); return; }
          for (const p of list) body.appendChild(row([new Date(p.at).toISOString().slice(11, 19), p.place, p.what])); }
        function render(o) {
          const state = document.getElementById("hub");
          state.textContent = o.hub + (o.database_up ? " — serving" : " — DATABASE UNREACHABLE") + (o.serving ? "" : " — draining");
          state.className = "state" + (o.database_up && o.serving ? "" : " bad");
          document.getElementById("updated").textContent = "updated " + new Date(o.at).toISOString().slice(11, 19) + " UTC";
          const box = document.getElementById("processes"); box.replaceChildren();
          for (const p of o.processes) {
            const s = el("section", undefined, "process"); s.setAttribute("data-process", p.process);
            s.appendChild(el("h2", p.process.replace("_", " ")));
            const t = el("table"); t.appendChild(row(["queue", "waiting", "held", "oldest", "done today", "in target", "at risk", "late", "dead", "workers"].map(h => [h])));
            t.firstChild.querySelectorAll("td").forEach(td => { const th = el("th", td.textContent); td.replaceWith(th); });
            for (const q of p.queues) {
              t.appendChild(row([q.queue, [q.depth, "depth"], [q.held, "held"], [seconds(q.oldest_wait_s), q.oldest_wait_s > 600 ? "warn" : ""],
                [q.done_today, "done"], [q.service_level_today === undefined ? "–" : q.service_level_today + " %", q.service_level_today < 80 ? "warn" : "sl"],
                [q.at_risk, q.at_risk ? "warn" : "risk"], [q.breached, q.breached ? "bad" : "breached"], [q.dead, q.dead ? "bad" : "dead"],
                [q.workers, q.workers ? "workers" : (q.depth ? "bad" : "workers")]], {"data-queue": q.queue}));
            }
            s.appendChild(t); box.appendChild(s);
          }
          const body = document.querySelector("#workers tbody"); body.replaceChildren();
          if (!o.workers.length) body.appendChild(row([["no worker connected", "empty"]]));
          for (const w of o.workers) body.appendChild(row([w.worker + (w.draining ? " (leaving)" : ""), w.queues.join(", "), w.held, w.capacity,
            Math.round(100 * w.held / Math.max(w.capacity, 1)) + " %"], {"data-worker": w.worker}));
          const series = o.series.slice(-300);
          chart("throughput-chart", series.map(s => s[0]), series.map(s => s[2]));
          chart("latency-chart", series.map(s => s[3]), series.map(s => s[4]));
          const last = series.length ? series[series.length - 1] : [0, 0, 0, 0, 0];
          document.getElementById("rate").textContent = last[0] + " received/s, " + last[2] + " completed/s";
          document.getElementById("ack").textContent = last[3] + " ms mean, " + last[4] + " ms max";
          problems("quarantine", o.quarantine, "none");
          problems("dead", o.dead_letters, "none");
        }
        fetch("/api/overview").then(r => r.json()).then(render).catch(() => {});
        // ?snapshot renders once and stays still (a printout, a headless screenshot); otherwise live.
        if (!new URLSearchParams(location.search).has("snapshot")) {
          const stream = new EventSource("/api/stream");
          stream.onmessage = e => render(JSON.parse(e.data));
          stream.onerror = () => { const s = document.getElementById("hub"); s.textContent = "hub unreachable, retrying…"; s.className = "state bad"; };
        }
        </script>
        </body>
        </html>
        """
}
