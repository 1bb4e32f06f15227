import { test } from "node:test";
import * as assert from "node:assert/strict";
import { byController, cmdlogRow, formatBandwidth, formatCount, formatDecade, formatIops, formatLoggedLatency, formatMicroseconds, queueLabel, totals, Queue } from "../src/decode";

test("a command log row shows the decoded name, status and latency", () => {
  const row = cmdlogRow({
    cid: 7, opcode: 2, name: "Read", nsid: 1, prp1: 0x218000, cdw10_15: [16, 0, 7, 0, 0, 0],
    submit_us: 100, latency_us: 12, synthesized: false,
    status: { sct: 0, sc: 0x80, name: "LBA Out of Range", ok: false },
  });
  assert.deepEqual(row, ["7", "Read (0x02)", "0/80 LBA Out of Range", "12", "1", "0x00000010", "0x218000"]);
});

test("an outstanding command has no status and no latency", () => {
  const row = cmdlogRow({
    cid: 2, opcode: 0x0c, name: "Asynchronous Event Request", nsid: 0, prp1: 0, cdw10_15: [0, 0, 0, 0, 0, 0],
    submit_us: 1, latency_us: null, synthesized: false, status: null,
  });
  assert.equal(row[2], "outstanding");
  assert.equal(row[3], "");
});

test("queues group by controller and label with outstanding/usable depth", () => {
  const q = (ctrlr: string, qid: number, kind: Queue["kind"]): Queue =>
    ({ ctrlr, ctrlr_index: 0, kind, qid, depth: 16, outstanding: 3, sq_tail: 0, cq_head: 0 });
  const groups = byController([q("a", 0, "admin"), q("b", 0, "admin"), q("a", 1, "qpair")]);
  assert.deepEqual([...groups.keys()], ["a", "b"]);
  assert.deepEqual(groups.get("a")!.map((x) => x.qid), [0, 1]);
  assert.equal(queueLabel(q("a", 1, "qpair")), "qpair 1: 3/15 outstanding");
});

test("totals count running workers only; the worst latency window; formatting", () => {
  const win = (p50: number, p99: number) => ({ p50, p99, p99_9: p99 * 2, ios: 100, window_s: 1 });
  const t = totals([
    { running: true, iops: 1000, bandwidth: 4096000, latency_avg_us: 1, latency_us: win(2, 30) },
    { running: false, iops: 0, bandwidth: 0, latency_avg_us: 1, latency_us: win(500, 9000) },
    { running: true, iops: 500, bandwidth: 2048000, latency_avg_us: null, latency_us: win(5, 20) },
  ]);
  assert.deepEqual(t, { iops: 1500, bandwidth: 6144000, p50_us: 5, p99_us: 30, running: 2 });
  assert.deepEqual(totals([]), { iops: 0, bandwidth: 0, p50_us: null, p99_us: null, running: 0 });
  assert.equal(formatIops(1500), "1.5K IOPS");
  assert.equal(formatIops(2500000), "2.50M IOPS");
  assert.equal(formatIops(12.4), "12 IOPS");
  assert.equal(formatBandwidth(6144000), "5.9 MiB/s");
  assert.equal(formatBandwidth(512), "512 B/s");
  assert.equal(formatMicroseconds(1.24), "1.2 us");
  assert.equal(formatMicroseconds(8535.86), "8.54 ms");
  assert.equal(formatMicroseconds(null), "-");
});

test("axis labels and logged latencies", () => {
  assert.deepEqual([20000, 2500000, 0, 0.2, 1500].map(formatCount), ["20K", "2.5M", "0", "0.2", "1.5K"]);
  assert.deepEqual([-1, 0, 1, 2, 3, 5, 6].map(formatDecade), ["100 ns", "1 us", "10 us", "100 us", "1 ms", "100 ms", "1 s"]);
  assert.deepEqual([null, 0, 152, 1090].map(formatLoggedLatency), ["", "<1 us", "152 us", "1.09 ms"]);
  assert.equal(formatMicroseconds(0.25), "250 ns");
});
