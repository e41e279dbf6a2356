// Feedback: per model and transformation type, the rating histogram and the agents'
// windows (mean rating, correction rate per bucket); the newest corrections as diffs.
import { el, figure, livePage, when } from "/ui/static/common.js";
import { diffView } from "/ui/static/diff.js";
import { barChart, fmtNum, legend, lineChart } from "/ui/static/plot.js";

function overTime(chart) {
  const buckets = chart.last_day.length > 1 ? chart.last_day : chart.last_hour;
  const mean = buckets.map((b) => [b.t, b.mean_rating]);
  const rate = buckets.map((b) => [b.t, b.correction_rate === null ? null : 1 + 4 * b.correction_rate]);
  return lineChart({ series: [{ name: "mean rating", points: mean }, { name: "correction rate (1–5 = 0–100%)", points: rate }], label: `${chart.type} over time`, time: true, yRange: [1, 5] });
}

function typeCharts(chart) {
  const bars = chart.histogram.map((n, i) => ({ label: `${i + 1}★`, value: n }));
  const rate = chart.correction_rate === null ? "–" : `${fmtNum(100 * chart.correction_rate)}%`;
  return el("div", { class: "type", "data-type": chart.type },
    el("h3", {}, `${chart.type} · ${chart.count} events · mean ${fmtNum(chart.mean_rating)} · corrected ${rate}`),
    el("div", { class: "charts" },
      figure("Ratings", barChart({ bars, label: `${chart.type} ratings` })),
      figure("Over time (hourly buckets of the last day, else 5-minute ones)", overTime(chart), legend(["mean rating", "correction rate"]))));
}

function correction(c) {
  return el("div", { class: "correction" },
    el("div", { class: "kv muted" }, el("span", {}, c.type), c.rating ? el("span", {}, `${c.rating}★`) : null, el("span", {}, when(c.at))),
    el("div", { class: "muted" }, `input: ${c.input}`),
    diffView(c.output, c.corrected));
}

function render(item) {
  return el("section", { class: "card", "data-model-id": item.model_id },
    el("h2", {}, item.label, el("span", { class: "muted" }, item.model_id)),
    item.charts.map(typeCharts),
    el("h3", {}, "Latest corrections"),
    item.corrections.length ? item.corrections.map(correction) : el("p", { class: "muted" }, "none yet"));
}

livePage("/ui/api/feedback", render, 10);
