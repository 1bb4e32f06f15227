import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CmdlogEntry, totals } from "../src/decode";
import { chartContent, cmdlogTable, escapeHtml, page } from "../src/webview";

const entry = (over: Partial<CmdlogEntry>): CmdlogEntry => ({
  cid: 1, opcode: 2, name: "Read", nsid: 1, prp1: 0x1000, cdw10_15: [8, 0, 7, 0, 0, 0],
  submit_us: 12.5, latency_us: 3, synthesized: false,
  status: { sct: 0, sc: 0, name: "Successful Completion", ok: true }, ...over,
});

test("the command log table: one row per entry, decoded, status classed", () => {
  const html = cmdlogTable([
    entry({ cid: 9 }),
    entry({ cid: 8, opcode: 1, name: "Write", status: { sct: 0, sc: 0x80, name: "LBA Out of Range", ok: false } }),
    entry({ cid: 7, status: null, latency_us: null }),
    entry({ cid: 6, synthesized: true, status: { sct: 3, sc: 0x71, name: "Command Aborted <timeout>", ok: false } }),
  ]);
  assert.equal(html.match(/<tr>/g)?.length, 5);   // the head and four rows
  assert.match(html, /<td>Read <span class="dim">0x02<\/span><\/td><td class="ok">0\/00 Successful Completion<\/td><td class="num">3 us<\/td>/);
  assert.match(html, /<td class="error">0\/80 LBA Out of Range<\/td>/);
  assert.match(html, /<td class="pending">outstanding<\/td><td class="num"><\/td>/);
  assert.match(html, /3\/71 Command Aborted &lt;timeout&gt; \(by the driver\)/);
  assert.match(html, /0x00000008 0x00000000 0x00000007<\/td>/);
  assert.match(cmdlogTable([]), /no command/);
  assert.match(cmdlogTable([], "ioworker"), /output_cmdlog_list/);
});

test("the page: content security policy with a nonce, escaped title", () => {
  const html = page({ title: "soft:size=64M <qid 1>", content: "<b>x</b>", nonce: "N0NCE", cspSource: "vscode-webview:" });
  assert.match(html, /script-src 'nonce-N0NCE'/);
  assert.match(html, /<script nonce="N0NCE">/);
  assert.match(html, /<title>soft:size=64M &lt;qid 1&gt;<\/title>/);
  assert.match(html, /<div id="content"><b>x<\/b><\/div>/);
  assert.equal(escapeHtml(`a"'&`), "a&quot;&#39;&amp;");
});

test("the chart content: the current figures above the chart", () => {
  const now = totals([{ running: true, iops: 20000, bandwidth: 81920000, latency_avg_us: 1,
    latency_us: { p50: 1.24, p99: 8535.86, p99_9: 14851, ios: 20000, window_s: 1 } }]);
  const html = chartContent([{ t: 1, iops: 20000, p50_us: 1.24, p99_us: 8535.86 }], now);
  assert.match(html, /<b>20.0K IOPS<\/b> · 78.1 MiB\/s · p50 1.2 us · p99 8.54 ms · 1 ioworker</);
  assert.match(html, /<svg /);
  assert.match(chartContent([], totals([])), /no ioworker running/);
});
