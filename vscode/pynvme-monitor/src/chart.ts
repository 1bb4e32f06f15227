// The live IOPS / latency chart: the samples the extension takes once a
// second, and the chart drawn from them as SVG text (no chart library, no
// `vscode` import: tested with node's test runner, rendered in Chromium).
import { formatCount, formatDecade, Totals } from "./decode";

export interface Sample {
  /** seconds, any clock that only goes forward */
  t: number;
  iops: number;
  p50_us: number | null;
  p99_us: number | null;
}

/** The last `seconds` seconds of samples. */
export class History {
  private samples: Sample[] = [];
  constructor(public readonly seconds = 60) {}

  push(t: number, tot: Totals): void {
    this.samples.push({ t, iops: tot.iops, p50_us: tot.p50_us, p99_us: tot.p99_us });
    while (this.samples.length && this.samples[0].t < t - this.seconds) this.samples.shift();
  }

  get values(): Sample[] {
    return [...this.samples];
  }
}

/** The top of a linear axis and its step: 1, 2 or 5 times a power of ten, 2 to 5 steps. */
export function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const magnitude = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [0.2, 0.5, 1, 2, 5, 10]) {
    const step = m * magnitude;
    if (max / step <= 5) return { top: Math.ceil(max / step - 1e-9) * step, step };
  }
  return { top: 10 * magnitude, step: 2 * magnitude };
}

/** The decades a log axis spans: [10^lo, 10^hi], at least one decade. */
export function decades(values: number[]): { lo: number; hi: number } {
  const positive = values.filter((v) => v > 0);
  if (!positive.length) return { lo: 0, hi: 1 };
  const lo = Math.floor(Math.log10(Math.min(...positive)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...positive))));
  return { lo, hi };
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

function polyline(points: [number, number][], cls: string): string {
  if (!points.length) return "";
  const text = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  // a single sample shows as a dot
  if (points.length === 1) {
    return `<circle class="${cls}" cx="${points[0][0].toFixed(1)}" cy="${points[0][1].toFixed(1)}" r="2.5"/>`;
  }
  return `<polyline class="${cls}" points="${text}"/>`;
}

function timeAxis(p: Panel, seconds: number): string {
  const out: string[] = [];
  for (let s = 0; s <= seconds; s += 10) {
    const x = p.x + p.w - (s / seconds) * p.w;
    out.push(`<line class="grid" x1="${x.toFixed(1)}" y1="${p.y}" x2="${x.toFixed(1)}" y2="${p.y + p.h}"/>`);
    out.push(`<text class="tick" x="${x.toFixed(1)}" y="${p.y + p.h + 14}" text-anchor="middle">${s ? `-${s}s` : "now"}</text>`);
  }
  return out.join("");
}

/**
 * The chart as an SVG element: IOPS on a linear axis above, the worst p50
 * and p99 latency of the running ioworkers on a log axis below, over the
 * last `seconds` seconds ending at `now` (the newest sample by default).
 */
export function chartSvg(samples: Sample[], opts: { width?: number; seconds?: number; now?: number } = {}): string {
  const width = opts.width ?? 760;
  const seconds = opts.seconds ?? 60;
  const now = opts.now ?? (samples.length ? samples[samples.length - 1].t : 0);
  const left = 72;
  const right = 16;
  const panelH = 150;
  const iopsP: Panel = { x: left, y: 28, w: width - left - right, h: panelH };
  const latP: Panel = { x: left, y: iopsP.y + panelH + 58, w: iopsP.w, h: panelH };
  const height = latP.y + panelH + 24;
  const shown = samples.filter((s) => s.t >= now - seconds && s.t <= now);
  const xOf = (p: Panel, t: number) => p.x + p.w - ((now - t) / seconds) * p.w;
  const parts: string[] = [];

  // IOPS, linear
  const { top, step } = niceScale(Math.max(0, ...shown.map((s) => s.iops)));
  parts.push(`<text class="title" x="${iopsP.x}" y="${iopsP.y - 10}">IOPS</text>`);
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = iopsP.y + iopsP.h - (v / top) * iopsP.h;
    parts.push(`<line class="grid" x1="${iopsP.x}" y1="${y.toFixed(1)}" x2="${iopsP.x + iopsP.w}" y2="${y.toFixed(1)}"/>`);
    parts.push(`<text class="tick" x="${iopsP.x - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escape(formatCount(v))}</text>`);
  }
  parts.push(timeAxis(iopsP, seconds));
  parts.push(polyline(shown.map((s) => [xOf(iopsP, s.t), iopsP.y + iopsP.h - (s.iops / top) * iopsP.h]), "iops"));

  // latency, log
  const lat = shown.flatMap((s) => [s.p50_us, s.p99_us]).filter((v): v is number => v !== null && v > 0);
  const { lo, hi } = decades(lat);
  const yLat = (v: number) => latP.y + latP.h - ((Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / (hi - lo)) * latP.h;
  parts.push(`<text class="title" x="${latP.x}" y="${latP.y - 10}">latency (log scale)</text>`);
  parts.push(`<line class="p50" x1="${latP.x + latP.w - 170}" y1="${latP.y - 14}" x2="${latP.x + latP.w - 150}" y2="${latP.y - 14}"/>`);
  parts.push(`<text class="tick" x="${latP.x + latP.w - 145}" y="${latP.y - 10}">p50</text>`);
  parts.push(`<line class="p99" x1="${latP.x + latP.w - 95}" y1="${latP.y - 14}" x2="${latP.x + latP.w - 75}" y2="${latP.y - 14}"/>`);
  parts.push(`<text class="tick" x="${latP.x + latP.w - 70}" y="${latP.y - 10}">p99</text>`);
  for (let d = lo; d <= hi; d++) {
    const y = yLat(Math.pow(10, d));
    parts.push(`<line class="grid" x1="${latP.x}" y1="${y.toFixed(1)}" x2="${latP.x + latP.w}" y2="${y.toFixed(1)}"/>`);
    parts.push(`<text class="tick" x="${latP.x - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escape(formatDecade(d))}</text>`);
  }
  parts.push(timeAxis(latP, seconds));
  for (const key of ["p50_us", "p99_us"] as const) {
    const pts = shown
      .filter((s) => s[key] !== null && (s[key] as number) > 0)
      .map((s): [number, number] => [xOf(latP, s.t), yLat(s[key] as number)]);
    parts.push(polyline(pts, key === "p50_us" ? "p50" : "p99"));
  }
  if (!shown.length) {
    parts.push(`<text class="empty" x="${width / 2}" y="${iopsP.y + iopsP.h / 2}" text-anchor="middle">no ioworker running yet</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`;
}
