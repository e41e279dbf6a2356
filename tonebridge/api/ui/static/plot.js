// Small SVG charts for the dashboard: lines with optional interval bands, and bars.
// Every data point is an SVG element of class "pt" (tests count them); no library needed.
const NS = "http://www.w3.org/2000/svg";
const W = 360, H = 170, PAD = { l: 40, r: 10, t: 10, b: 24 };
export const COLORS = ["#2f6fde", "#e07a1f", "#1a8a4a", "#9b51e0", "#c23b32", "#0f9aa8"];

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(label) {
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img" });
  svg.setAttribute("aria-label", label);
  return svg;
}

function extent(values, pad0) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (pad0 !== undefined) { lo = Math.min(lo, pad0); hi = Math.max(hi, pad0); }
  if (lo === hi) { lo -= 1; hi += 1; }
  return [lo, hi];
}

function scale([d0, d1], [r0, r1]) {
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

export function fmtNum(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return Number(v.toPrecision(digits)).toString();
}

function fmtX(v, time) {
  if (!time) return fmtNum(v);
  const d = new Date(v);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function axes(svg, xs, ys, x, y, time) {
  svg.append(svgEl("line", { class: "axis", x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b }));
  svg.append(svgEl("line", { class: "axis", x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b }));
  for (const v of ys) svg.append(svgEl("text", { x: PAD.l - 4, y: y(v) + 3, "text-anchor": "end" }, fmtNum(v)));
  if (!xs) return;
  svg.append(svgEl("text", { x: PAD.l, y: H - 6 }, fmtX(xs[0], time)));
  svg.append(svgEl("text", { x: W - PAD.r, y: H - 6, "text-anchor": "end" }, fmtX(xs[1], time)));
}

function empty(svg, message) {
  svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, message));
  return svg;
}

// series: [{name, points: [[x, y], ...]}]; bands: [{points: [[x, lo, hi], ...]}]
export function lineChart({ series, bands = [], label = "chart", time = false, zero, yRange }) {
  const svg = frame(label);
  const pts = series.flatMap((s) => s.points).filter((p) => p[1] !== null && p[1] !== undefined);
  const bandPts = bands.flatMap((b) => b.points).filter((p) => p[1] !== null && p[2] !== null);
  if (!pts.length) return empty(svg, "no data yet");
  const xd = extent([...pts.map((p) => p[0]), ...bandPts.map((p) => p[0])]);
  const yd = yRange || extent([...pts.map((p) => p[1]), ...bandPts.flatMap((p) => [p[1], p[2]])], zero);
  const x = scale(xd, [PAD.l, W - PAD.r]), y = scale(yd, [H - PAD.b, PAD.t]);
  axes(svg, xd, yd, x, y, time);
  if (zero !== undefined) svg.append(svgEl("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(zero), y2: y(zero), "stroke-dasharray": "3 3" }));
  bands.forEach((band, i) => drawBand(svg, band.points, x, y, band.color || COLORS[i % COLORS.length]));
  series.forEach((s, i) => drawLine(svg, s, x, y, s.color || COLORS[i % COLORS.length]));
  return svg;
}

function drawBand(svg, points, x, y, color) {
  const ok = points.filter((p) => p[1] !== null && p[2] !== null);
  if (!ok.length) return;
  const top = ok.map((p) => `${x(p[0])},${y(p[2])}`);
  const bottom = ok.slice().reverse().map((p) => `${x(p[0])},${y(p[1])}`);
  svg.append(svgEl("polygon", { points: [...top, ...bottom].join(" "), fill: color, "fill-opacity": 0.15, stroke: "none", class: "band" }));
}

function drawLine(svg, s, x, y, color) {
  const ok = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
  if (ok.length > 1) {
    svg.append(svgEl("polyline", { points: ok.map((p) => `${x(p[0])},${y(p[1])}`).join(" "), fill: "none", stroke: color, "stroke-width": 1.6 }));
  }
  for (const p of ok) {
    const dot = svgEl("circle", { class: "pt", cx: x(p[0]), cy: y(p[1]), r: 2.4, fill: color });
    dot.append(svgEl("title", {}, `${s.name}: ${fmtNum(p[1])}`));
    svg.append(dot);
  }
}

// bars: [{label, value}]
export function barChart({ bars, label = "chart", color = COLORS[0] }) {
  const svg = frame(label);
  if (!bars.some((b) => b.value > 0)) return empty(svg, "no data yet");
  const max = Math.max(...bars.map((b) => b.value));
  const y = scale([0, max], [H - PAD.b, PAD.t]);
  const slot = (W - PAD.l - PAD.r) / bars.length;
  axes(svg, null, [0, max], null, y, false);
  bars.forEach((b, i) => {
    const bx = PAD.l + i * slot + slot * 0.15;
    const rect = svgEl("rect", { class: "pt", x: bx, y: y(b.value), width: slot * 0.7, height: H - PAD.b - y(b.value), fill: color, rx: 2 });
    rect.append(svgEl("title", {}, `${b.label}: ${b.value}`));
    svg.append(rect);
    svg.append(svgEl("text", { x: bx + slot * 0.35, y: H - 10, "text-anchor": "middle" }, b.label));
  });
  return svg;
}

export function legend(names) {
  const box = document.createElement("div");
  box.className = "legend";
  names.forEach((name, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[i % COLORS.length];
    item.append(swatch, name);
    box.append(item);
  });
  return box;
}
