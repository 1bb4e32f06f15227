import { test } from "node:test";
import * as assert from "node:assert/strict";
import { chartSvg, decades, History, niceScale, Sample } from "../src/chart";
import { totals } from "../src/decode";

test("axis scales: 1-2-5 steps covering the maximum, whole decades", () => {
  assert.deepEqual(niceScale(19693), { top: 20000, step: 5000 });
  assert.deepEqual(niceScale(100), { top: 100, step: 20 });
  assert.deepEqual(niceScale(0), { top: 1, step: 0.2 });
  const s = niceScale(673000);
  assert.ok(s.top >= 673000 && s.top / s.step <= 5 && s.top / s.step >= 2);
  assert.deepEqual(decades([1.24, 8535.86]), { lo: 0, hi: 4 });
  assert.deepEqual(decades([50, 60]), { lo: 1, hi: 2 });
  assert.deepEqual(decades([]), { lo: 0, hi: 1 });
});

test("the history keeps the last N seconds", () => {
  const h = new History(10);
  for (let t = 0; t <= 30; t++) h.push(t, totals([{ running: true, iops: t, bandwidth: 0, latency_avg_us: null }]));
  assert.deepEqual(h.values.map((s) => s.t), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
});

const points = (svg: string, cls: string) => {
  const m = svg.match(new RegExp(`<polyline class="${cls}" points="([^"]*)"`));
  return m ? m[1].split(" ").map((p) => p.split(",").map(Number)) : [];
};

test("the chart places samples by time and value", () => {
  const samples: Sample[] = [
    { t: 100, iops: 0, p50_us: 1, p99_us: 100 },
    { t: 130, iops: 10000, p50_us: 10, p99_us: 1000 },
    { t: 160, iops: 20000, p50_us: 1, p99_us: 10000 },
  ];
  const svg = chartSvg(samples, { width: 760, seconds: 60 });
  const iops = points(svg, "iops");
  assert.equal(iops.length, 3);
  // x: the newest at the right edge, 30 s earlier in the middle; y: 0 at the bottom, 20K at the top
  assert.equal(iops[2][0], 760 - 16);
  assert.ok(Math.abs(iops[1][0] - (72 + (760 - 88) / 2)) < 0.1);
  assert.ok(iops[0][1] > iops[1][1] && iops[1][1] > iops[2][1]);
  assert.ok(Math.abs((iops[0][1] + iops[2][1]) / 2 - iops[1][1]) < 0.1);
  // log latency axis: 100 -> 1000 -> 10000 us in equal steps
  const p99 = points(svg, "p99");
  assert.ok(Math.abs(p99[0][1] - p99[1][1] - (p99[1][1] - p99[2][1])) < 0.1);
  assert.match(svg, />20K</);
  assert.match(svg, />10 ms</);
});

test("samples outside the window are left out; an empty chart says so", () => {
  const svg = chartSvg([{ t: 0, iops: 5, p50_us: null, p99_us: null }, { t: 100, iops: 7, p50_us: null, p99_us: null }],
    { seconds: 60 });
  assert.equal(svg.match(/<circle class="iops"/g)?.length, 1);   // one point left: a dot
  assert.doesNotMatch(svg, /class="p50"  *points/);
  assert.match(chartSvg([]), /no ioworker running yet/);
});
