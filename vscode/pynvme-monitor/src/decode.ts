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

export interface Ioworker {
  running: boolean;
  iops: number;
  bandwidth: number;
  latency_avg_us: number | null;
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

/** Total IOPS / bandwidth of the running ioworkers (the status-bar item). */
export function totals(ws: Ioworker[]): { iops: number; bandwidth: number } {
  const running = ws.filter((w) => w.running);
  return {
    iops: running.reduce((s, w) => s + w.iops, 0),
    bandwidth: running.reduce((s, w) => s + w.bandwidth, 0),
  };
}

export function formatIops(iops: number): string {
  if (iops >= 1e6) return `${(iops / 1e6).toFixed(2)}M IOPS`;
  if (iops >= 1e3) return `${(iops / 1e3).toFixed(1)}K IOPS`;
  return `${Math.round(iops)} IOPS`;
}

/** The live chart's data: the last `capacity` samples of (time, IOPS). */
export class Series {
  private points: { t: number; v: number }[] = [];
  constructor(public readonly capacity = 60) {}
  push(t: number, v: number): void {
    this.points.push({ t, v });
    if (this.points.length > this.capacity) this.points.shift();
  }
  get values(): { t: number; v: number }[] {
    return [...this.points];
  }
  get max(): number {
    return this.points.reduce((m, p) => Math.max(m, p.v), 0);
  }
}
