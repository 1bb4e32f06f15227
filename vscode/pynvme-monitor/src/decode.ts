// What the views show, computed from the monitor's answers: plain functions,
// tested with node's test runner without VS Code.

export interface Status {
  sct: number;
  sc: number;
  name: string;
  ok: boolean;
}

export interface CmdlogEntry {
  cid: number;
  opcode: number;
  name: string;
  nsid: number;
  prp1: number;
  cdw10_15: number[];
  sqe?: number[];
  submit_us: number;
  latency_us: number | null;
  status: Status | null;
  synthesized: boolean;
}

export interface Queue {
  ctrlr: string;
  ctrlr_index: number;
  kind: "admin" | "qpair" | "ioworker";
  qid: number;
  depth: number;
  outstanding: number;
  sq_tail: number;
  cq_head: number;
}

/** Latency percentiles of an ioworker's last window of a second or more. */
export interface LatencyWindow {
  p50: number;
  p99: number;
  p99_9: number;
  ios: number;
  window_s: number;
}

export interface Ioworker {
  ctrlr?: string;
  qid?: number;
  running: boolean;
  iops: number;
  bandwidth: number;
  latency_avg_us: number | null;
  latency_us?: LatencyWindow | null;
}

const hex = (v: number, width: number) => "0x" + v.toString(16).padStart(width, "0");

/** One row of the command log table. */
export function cmdlogRow(e: CmdlogEntry): string[] {
  const status = e.status
    ? `${hex(e.status.sct, 1).slice(2)}/${e.status.sc.toString(16).padStart(2, "0")} ${e.status.name}`
    : "outstanding";
  return [
    String(e.cid),
    `${e.name} (${hex(e.opcode, 2)})`,
    e.synthesized ? `${status} (driver)` : status,
    e.latency_us === null ? "" : String(e.latency_us),
    String(e.nsid),
    hex(e.cdw10_15[0] ?? 0, 8),
    hex(e.prp1, 1),
  ];
}

/** The label of a queue in the tree. */
export function queueLabel(q: Queue): string {
  const name = q.kind === "admin" ? "admin queue" : q.kind === "ioworker" ? "ioworker queue" : "qpair";
  return `${name} ${q.qid}: ${q.outstanding}/${q.depth - 1} outstanding`;
}

/** Queues grouped by controller address, in the order the monitor lists them. */
export function byController(queues: Queue[]): Map<string, Queue[]> {
  const m = new Map<string, Queue[]>();
  for (const q of queues) {
    const list = m.get(q.ctrlr) ?? [];
    list.push(q);
    m.set(q.ctrlr, list);
  }
  return m;
}

export interface Totals {
  iops: number;
  bandwidth: number;
  /** the worst p50 / p99 of the running workers' last windows, null without any */
  p50_us: number | null;
  p99_us: number | null;
  running: number;
}

/** Total IOPS / bandwidth of the running ioworkers (the status-bar item, the chart). */
export function totals(ws: Ioworker[]): Totals {
  const running = ws.filter((w) => w.running);
  const windows = running.map((w) => w.latency_us).filter((l): l is LatencyWindow => !!l);
  const worst = (k: "p50" | "p99") => (windows.length ? Math.max(...windows.map((l) => l[k])) : null);
  return {
    iops: running.reduce((s, w) => s + w.iops, 0),
    bandwidth: running.reduce((s, w) => s + w.bandwidth, 0),
    p50_us: worst("p50"),
    p99_us: worst("p99"),
    running: running.length,
  };
}

export function formatBandwidth(bytesPerSecond: number): string {
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  let v = bytesPerSecond;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function formatMicroseconds(us: number | null): string {
  if (us === null) return "-";
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us < 1) return `${Math.round(us * 1000)} ns`;
  return `${us.toFixed(us >= 100 ? 0 : 1)} us`;
}

/** A command log's latency: whole microseconds, as the driver logs them. */
export function formatLoggedLatency(us: number | null): string {
  if (us === null) return "";
  if (us === 0) return "<1 us";
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us} us`;
}

/** An axis label: 20000 -> "20K", 2500000 -> "2.5M". */
export function formatCount(v: number): string {
  const trim = (x: number) => String(Number(x.toFixed(2)));
  if (v >= 1e6) return `${trim(v / 1e6)}M`;
  if (v >= 1e3) return `${trim(v / 1e3)}K`;
  return trim(v);
}

/** A log axis label at 10^d microseconds: 1 us, 10 us, 100 us, 1 ms, ... */
export function formatDecade(d: number): string {
  const units = ["ns", "us", "ms", "s"];
  const i = Math.floor(d / 3) + 1;
  if (i < 0 || i >= units.length) return `1e${d} us`;
  return `${Math.pow(10, d - (i - 1) * 3)} ${units[i]}`;
}

export function formatIops(iops: number): string {
  if (iops >= 1e6) return `${(iops / 1e6).toFixed(2)}M IOPS`;
  if (iops >= 1e3) return `${(iops / 1e3).toFixed(1)}K IOPS`;
  return `${Math.round(iops)} IOPS`;
}
