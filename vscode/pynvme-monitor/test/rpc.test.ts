// The client against a real monitor service: a Python process running an
// ioworker on pynvme's software controller (tests/soft/monitor_workload.py).
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { MonitorClient, RpcError } from "../src/rpc";
import { cmdlogRow, CmdlogEntry, Queue } from "../src/decode";

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
