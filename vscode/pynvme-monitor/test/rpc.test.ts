// The client against a real monitor service: a Python process running an
// ioworker on pynvme's software controller (tests/soft/monitor_workload.py).
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { MonitorClient, RpcError } from "../src/rpc";
import { cmdlogRow, CmdlogEntry, Queue } from "../src/decode";
import { page } from "../src/webview";
import { capture, Captured, views } from "./capture";

const root = path.resolve(__dirname, "..", "..", "..", "..");
let dir = "";
let proc: ChildProcess;
let sockPath = "";

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pynvme-mon-"));
  proc = spawn("/usr/bin/python3", [path.join(root, "tests/soft/monitor_workload.py"), "60"], {
    env: { ...process.env, PYTHONPATH: path.join(root, "python"), PYNVME_MONITOR_DIR: dir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: proc.stdout! });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("the workload did not start")), 60000);
    lines.on("line", (l) => { if (l.trim() === "ready") { clearTimeout(t); resolve(); } });
  });
  sockPath = path.join(dir, `pynvme-${proc.pid}.sock`);
});

after(() => {
  proc?.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the original's three methods and the richer ones, decoded", async () => {
  const c = new MonitorClient(sockPath, 10000);
  try {
    const qpairs = await c.call<{ ctrlr: string; qid: number; qpair: number; outstanding: number; model: string }[]>(
      "list_all_qpair");
    assert.deepEqual(qpairs.map((q) => q.qid), [1, 2, 3]);
    assert.ok(qpairs.every((q) => q.model === "pynvme software controller"));
    const queues = await c.call<Queue[]>("queues");
    assert.deepEqual(queues.map((q) => q.kind), ["admin", "qpair", "ioworker"]);
    const io = queues[1];
    const log = await c.call<CmdlogEntry[]>("cmdlog", { qid: io.qid, count: 8 });
    assert.equal(log.length, 1);
    assert.deepEqual(cmdlogRow(log[0]).slice(1, 3), ["Write (0x01)", "0/00 Successful Completion"]);
    const lines = await c.call<string[]>("get_cmdlog", [qpairs[1].qpair]);
    assert.match(lines[0], /Write/);
    await new Promise((r) => setTimeout(r, 1200));
    const [bw, iops] = await c.call<number[]>("get_iostat");
    assert.ok(iops > 0 && bw > 0, `iostat ${bw} ${iops}`);
    // the same path a VS Code extension of the original polls, in this directory
    const shared = new MonitorClient(path.join(dir, "pynvme.sock"));
    assert.equal((await shared.call<{ pid: number }>("info")).pid, proc.pid);
    shared.close();
  } finally {
    c.close();
  }
});

test("errors come back as RpcError with the JSON-RPC code", async () => {
  const c = new MonitorClient(sockPath);
  try {
    await assert.rejects(c.call("nope"), (e: unknown) => e instanceof RpcError && e.code === -32601);
    await assert.rejects(c.call("cmdlog", { qid: 77 }), (e: unknown) => e instanceof RpcError && e.code === -32602);
    assert.ok(Array.isArray(await c.call("queues")));   // the connection survives errors
  } finally {
    c.close();
  }
});

test("no process: the call fails at once; a silent server: it times out", async () => {
  const gone = new MonitorClient(path.join(dir, "nobody.sock"));
  await assert.rejects(gone.call("info"));
  const silentPath = path.join(dir, "silent.sock");
  const server = net.createServer(() => { /* accepts, never answers */ });
  await new Promise<void>((r) => server.listen(silentPath, () => r()));
  const c = new MonitorClient(silentPath, 300);
  const t0 = Date.now();
  await assert.rejects(c.call("info"), /no answer/);
  assert.ok(Date.now() - t0 < 2000);
  c.close();
  server.close();
});

// ---- the webviews, from the live service, rendered in headless Chromium ----

const out = path.join(root, "build", "vscode");
// run.sh sets PYNVME_SCREENSHOTS=1: there a missing Chromium fails the test
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));

function browser(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // a profile of its own for each: browsers running side by side
    const profile = fs.mkdtempSync(path.join(dir, "chromium-"));
    execFile(chromium!, ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
      `--user-data-dir=${profile}`, ...args],
      { timeout: 90000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
  });
}

async function screenshot(name: string, html: string, width: number, height: number): Promise<void> {
  const file = path.join(out, `${name}.html`);
  fs.writeFileSync(file, html);
  const png = path.join(out, `${name}.png`);
  fs.rmSync(png, { force: true });
  // on a crowded machine Chromium now and then exits without a picture: once more
  let stderr = "";
  for (let attempt = 0; attempt < 2 && !fs.existsSync(png); attempt++) {
    stderr = (await browser([`--window-size=${width},${height}`, `--screenshot=${png}`, `file://${file}`])).stderr;
  }
  assert.ok(fs.existsSync(png), `Chromium wrote no ${png}: ${stderr.split("\n").filter((l) => !/dbus|bus\.cc/.test(l)).join("\n")}`);
  const head = fs.readFileSync(png).subarray(0, 8);
  assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${png} is a PNG`);
}

test("the webviews from the live service: command logs, a moving chart, in Chromium", async (t) => {
  if (!chromium && process.env.PYNVME_SCREENSHOTS === "1") assert.fail("no Chromium (/usr/bin/chromium): apt-get install chromium");
  fs.mkdirSync(out, { recursive: true });
  const c = new MonitorClient(sockPath, 10000);
  let v: Captured;
  try {
    v = await capture(c, 8);   // the logs, then a sample a second for 8 s
  } finally {
    c.close();
  }
  const [adminPage, ioPage, early, late] = v.pages.map((p) => p.html);
  // the driver's own initialisation, decoded: names, statuses, latencies
  assert.match(adminPage, /Identify <span class="dim">0x06<\/span><\/td><td class="ok">0\/00 Successful Completion/);
  assert.match(adminPage, /Create I\/O Submission Queue/);
  assert.equal(adminPage.match(/<tr>/g)!.length, v.adminLog.length + 1);
  // the worker's 4 KiB random reads (its queue's log holds as many as its depth, up to 64)
  assert.equal(v.io.kind, "ioworker");
  assert.ok(v.ioLog.length >= 8 && v.ioLog.every((e) => e.name === "Read" && e.cdw10_15[2] === 7),
    JSON.stringify(v.ioLog.slice(0, 2)));
  assert.match(ioPage, /<td class="num">[0-9.]+ (us|ms)<\/td>/);
  // the chart: a sample a second, the worker's IOPS and latency windows
  assert.equal(v.history.values.length, 8);
  const now = v.now;
  assert.ok(now.running === 1 && now.iops > 0 && now.p99_us !== null && now.p50_us! <= now.p99_us!, JSON.stringify(now));
  assert.equal(late.match(/<polyline class="iops" points="([^"]*)"/)![1].split(" ").length, 8);
  assert.notEqual(early, late);   // it moves

  if (!chromium) {
    t.diagnostic("no Chromium: the pages were checked, not rendered");
    return;
  }
  // side by side: a browser's start-up is most of each one's time
  await Promise.all(v.pages.map((p) => screenshot(p.name, p.html, p.width, p.height)));
  // the page's own script swaps in what the extension posts: post an update
  // as VS Code would, and read the DOM Chromium ends with
  const ioTable = ioPage.match(/<div id="content">([\s\S]*)<\/div>\n<script/)![1];
  const harness = page({ title: "update", content: "<p>before</p>", ...views }).replace("</body>",
    `<script nonce="${views.nonce}">window.postMessage({type: "update", html: ${JSON.stringify(ioTable)}, state: "(live)"}, "*");</script></body>`);
  const harnessFile = path.join(out, "update-harness.html");
  fs.writeFileSync(harnessFile, harness);
  const dom = (await browser(["--virtual-time-budget=2000", "--dump-dom", `file://${harnessFile}`])).stdout;
  assert.doesNotMatch(dom, /<p>before<\/p>/);
  assert.match(dom, /<span id="state" class="state">\(live\)<\/span>/);
  assert.equal(dom.match(/<td class="ok">0\/00 Successful Completion<\/td>/g)?.length,
    v.ioLog.filter((e) => e.status?.ok).length);
});
