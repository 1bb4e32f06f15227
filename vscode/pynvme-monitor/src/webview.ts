// The webviews' HTML: a page shell (content security policy, styles in VS
// Code's theme colours with fallbacks for a plain browser, a script that
// swaps the content when the extension posts an update) and the two
// contents, the command-log table and the chart. No `vscode` import: tested
// with node's test runner and rendered in headless Chromium.
import { chartSvg, Sample } from "./chart";
import { CmdlogEntry, formatBandwidth, formatIops, formatLoggedLatency, formatMicroseconds, Totals } from "./decode";

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

const hex = (v: number, width: number) => "0x" + v.toString(16).padStart(width, "0");

function statusCell(e: CmdlogEntry): { text: string; cls: string } {
  if (!e.status) return { text: "outstanding", cls: "pending" };
  const code = `${e.status.sct.toString(16)}/${e.status.sc.toString(16).padStart(2, "0")}`;
  const text = `${code} ${e.status.name}${e.synthesized ? " (by the driver)" : ""}`;
  return { text, cls: e.status.ok ? "ok" : "error" };
}

/** The command log of a queue, newest first, as a table. */
export function cmdlogTable(entries: CmdlogEntry[], kind: "admin" | "qpair" | "ioworker" = "qpair"): string {
  if (!entries.length) {
    // the ioworker keeps its queue's log only when asked: it costs per IO
    return kind === "ioworker"
      ? `<p class="empty">this ioworker keeps no command log: start it with output_cmdlog_list=[None] * 64 to see its latest commands here</p>`
      : `<p class="empty">no command in this queue's log yet</p>`;
  }
  const rows = entries.map((e, i) => {
    const st = statusCell(e);
    // CDW10 up to the last non-zero one (the full SQE in the tooltip)
    let n = e.cdw10_15.length;
    while (n > 1 && !e.cdw10_15[n - 1]) n--;
    const cdw = e.cdw10_15.slice(0, n).map((d) => hex(d >>> 0, 8)).join(" ");
    const sqe = (e.sqe ?? []).map((d) => hex(d >>> 0, 8)).join(" ");
    return (
      `<tr><td class="num">${i}</td><td class="num">${e.cid}</td>` +
      `<td>${escapeHtml(e.name)} <span class="dim">${hex(e.opcode, 2)}</span></td>` +
      `<td class="${st.cls}">${escapeHtml(st.text)}</td>` +
      `<td class="num">${escapeHtml(formatLoggedLatency(e.latency_us))}</td>` +
      `<td class="num">${e.nsid}</td><td class="mono" title="SQE: ${sqe}">${cdw}</td><td class="mono">${hex(e.prp1, 1)}</td>` +
      `<td class="num">${(e.submit_us / 1e6).toFixed(6)}</td></tr>`
    );
  });
  return (
    `<table class="cmdlog"><thead><tr><th>#</th><th>CID</th><th>command</th><th>status</th>` +
    `<th>latency</th><th>NSID</th><th>CDW10..</th><th>PRP1</th><th>submitted (s)</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>`
  );
}

/** The chart with a line of the current figures above it. */
export function chartContent(samples: Sample[], now: Totals, opts: { seconds?: number; now?: number } = {}): string {
  const summary =
    now.running === 0
      ? `<p class="summary">no ioworker running</p>`
      : `<p class="summary"><b>${escapeHtml(formatIops(now.iops))}</b> · ${escapeHtml(formatBandwidth(now.bandwidth))}` +
        ` · p50 ${escapeHtml(formatMicroseconds(now.p50_us))} · p99 ${escapeHtml(formatMicroseconds(now.p99_us))}` +
        ` · ${now.running} ioworker${now.running === 1 ? "" : "s"}</p>`;
  return summary + chartSvg(samples, opts);
}

const STYLE = `
body { font-family: var(--vscode-font-family, system-ui, sans-serif); font-size: 13px;
  color: var(--vscode-foreground, #d4d4d4); background: var(--vscode-editor-background, #1e1e1e); margin: 12px; }
h2 { font-size: 15px; font-weight: 600; margin: 0 0 8px; }
.dim, .empty, .state { color: var(--vscode-descriptionForeground, #9d9d9d); }
table.cmdlog { border-collapse: collapse; width: 100%; }
.cmdlog th { text-align: left; font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border, #555);
  padding: 3px 8px; position: sticky; top: 0; background: var(--vscode-editor-background, #1e1e1e); }
.cmdlog td { padding: 2px 8px; border-bottom: 1px solid var(--vscode-editorWidget-border, #333); white-space: nowrap; }
.cmdlog tr:hover td { background: var(--vscode-list-hoverBackground, #2a2d2e); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: var(--vscode-editor-font-family, monospace); font-size: 12px; }
.ok { color: var(--vscode-testing-iconPassed, #73c991); }
.error { color: var(--vscode-errorForeground, #f48771); }
.pending { color: var(--vscode-editorWarning-foreground, #cca700); }
.summary { font-size: 14px; margin: 0 0 6px; }
svg.chart text { fill: var(--vscode-foreground, #d4d4d4); font-size: 11px; }
svg.chart text.title { font-size: 12px; font-weight: 600; }
svg.chart .grid { stroke: var(--vscode-editorWidget-border, #3c3c3c); stroke-width: 1; }
svg.chart polyline { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.chart .iops { stroke: var(--vscode-charts-blue, #3794ff); }
svg.chart .p50 { stroke: var(--vscode-charts-green, #89d185); stroke-width: 2; }
svg.chart .p99 { stroke: var(--vscode-charts-orange, #d18616); stroke-width: 2; }
svg.chart circle.iops { fill: var(--vscode-charts-blue, #3794ff); }
svg.chart circle.p50 { fill: var(--vscode-charts-green, #89d185); }
svg.chart circle.p99 { fill: var(--vscode-charts-orange, #d18616); }
svg.chart text.empty { fill: var(--vscode-descriptionForeground, #9d9d9d); font-size: 13px; }
`;

// Runs in the webview: the extension posts {type: "update", html, state}.
const SCRIPT = `
window.addEventListener("message", (ev) => {
  const m = ev.data;
  if (!m || m.type !== "update") return;
  document.getElementById("content").innerHTML = m.html;
  document.getElementById("state").textContent = m.state || "";
});
`;

/**
 * A whole webview page. `cspSource` is the webview's own source (VS Code's
 * `webview.cspSource`); `nonce` allows the one inline script.
 */
export function page(opts: { title: string; content: string; state?: string; nonce: string; cspSource: string }): string {
  const csp =
    `default-src 'none'; style-src ${opts.cspSource} 'unsafe-inline'; img-src ${opts.cspSource} data:; ` +
    `script-src 'nonce-${opts.nonce}';`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp.replace(/"/g, "&quot;")}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title><style>${STYLE}</style></head>
<body><h2>${escapeHtml(opts.title)} <span id="state" class="state">${escapeHtml(opts.state ?? "")}</span></h2>
<div id="content">${opts.content}</div>
<script nonce="${opts.nonce}">${SCRIPT}</script></body></html>`;
}
