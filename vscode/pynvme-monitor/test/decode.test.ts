import { test } from "node:test";
import * as assert from "node:assert/strict";
import { byController, cmdlogRow, formatIops, queueLabel, Series, totals, Queue } from "../src/decode";

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

test("totals count running workers only; IOPS formatting", () => {
  const t = totals([
    { running: true, iops: 1000, bandwidth: 4096000, latency_avg_us: 1 },
    { running: false, iops: 0, bandwidth: 0, latency_avg_us: 1 },
    { running: true, iops: 500, bandwidth: 2048000, latency_avg_us: null },
  ]);
  assert.deepEqual(t, { iops: 1500, bandwidth: 6144000 });
  assert.equal(formatIops(1500), "1.5K IOPS");
  assert.equal(formatIops(2500000), "2.50M IOPS");
  assert.equal(formatIops(12.4), "12 IOPS");
});

test("the chart series keeps the last N points", () => {
  const s = new Series(3);
  for (let i = 0; i < 5; i++) s.push(i, i * 10);
  assert.deepEqual(s.values.map((p) => p.v), [20, 30, 40]);
  assert.equal(s.max, 40);
});
