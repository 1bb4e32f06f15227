// Takes the extension's views from a live monitor service as the extension
// would (queues, command logs, one ioworker sample a second) and makes their
// pages. Used by rpc.test.ts, and by hand against a test-bed run:
//   node out/test/capture.js SOCKET OUTDIR [SECONDS]
// writes OUTDIR/{cmdlog-admin,cmdlog-io,chart-1,chart-2}.html and prints what it saw.
import * as fs from "node:fs";
import * as path from "node:path";
import { History } from "../src/chart";
import { CmdlogEntry, Ioworker, Queue, Totals, totals } from "../src/decode";
import { MonitorClient } from "../src/rpc";
import { chartContent, cmdlogTable, page } from "../src/webview";

export const views = { nonce: "t3stn0nce", cspSource: "'self'" };

export interface Captured {
  queues: Queue[];
  admin: Queue;
  io: Queue;                 // the ioworker's queue, or the script's qpair without one
  adminLog: CmdlogEntry[];
  ioLog: CmdlogEntry[];
  history: History;
  now: Totals;
  pages: { name: string; html: string; width: number; height: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function capture(c: MonitorClient, seconds = 8): Promise<Captured> {
  const queues = await c.call<Queue[]>("queues");
  const admin = queues.find((q) => q.kind === "admin");
  const io = queues.find((q) => q.kind === "ioworker") ?? queues.find((q) => q.kind === "qpair");
  if (!admin || !io) throw new Error(`no admin and IO queue among ${JSON.stringify(queues)}`);
  const adminLog = await c.call<CmdlogEntry[]>("cmdlog", { ctrlr: admin.ctrlr, qid: 0, count: 64 });
  const ioLog = await c.call<CmdlogEntry[]>("cmdlog", { ctrlr: io.ctrlr, qid: io.qid, count: 64 });
  const history = new History(60);
  const t0 = Date.now();
  let now = totals([]);
  const chart = () => page({ title: "pynvme: IOPS and latency", content: chartContent(history.values, now), ...views });
  let early = "";
  for (let i = 0; i < seconds; i++) {
    if (i) await sleep(1000);
    now = totals(await c.call<Ioworker[]>("ioworkers"));
    history.push((Date.now() - t0) / 1000, now);
    if (i === Math.floor(seconds / 2) - 1) early = chart();
  }
  return {
    queues, admin, io, adminLog, ioLog, history, now,
    pages: [
      { name: "cmdlog-admin", html: page({ title: `${admin.ctrlr} qid 0 (admin)`, content: cmdlogTable(adminLog), ...views }), width: 1100, height: 700 },
      { name: "cmdlog-io", html: page({ title: `${io.ctrlr} qid ${io.qid} (${io.kind})`, content: cmdlogTable(ioLog, io.kind), ...views }), width: 1100, height: 700 },
      { name: "chart-1", html: early, width: 820, height: 520 },
      { name: "chart-2", html: chart(), width: 820, height: 520 },
    ],
  };
}

if (require.main === module) {
  const [sock, out, secs] = process.argv.slice(2);
  if (!sock || !out) {
    console.error("usage: node out/test/capture.js SOCKET OUTDIR [SECONDS]");
    process.exit(2);
  }
  const c = new MonitorClient(sock, 30000);   // a guest on an emulated CPU answers slowly
  capture(c, Number(secs ?? 8)).then((v) => {
    fs.mkdirSync(out, { recursive: true });
    for (const p of v.pages) fs.writeFileSync(path.join(out, `${p.name}.html`), p.html);
    console.log(JSON.stringify({
      queues: v.queues.map((q) => `${q.ctrlr} ${q.kind} ${q.qid} ${q.outstanding}/${q.depth - 1}`),
      admin_log: v.adminLog.map((e) => `${e.name} ${e.status?.name ?? "outstanding"} ${e.latency_us ?? ""}`),
      io_log: v.ioLog.slice(0, 5).map((e) => `${e.name} ${e.status?.name ?? "outstanding"} ${e.latency_us ?? ""}`),
      samples: v.history.values,
    }, null, 1));
    c.close();
  }, (e) => {
    console.error(`capture: ${e.message}`);
    c.close();
    process.exit(1);
  });
}
