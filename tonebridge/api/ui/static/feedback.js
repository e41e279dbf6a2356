// Feedback: per model and transformation type, the rating histogram and the agents'
// windows (mean rating, correction rate per bucket); the newest corrections as diffs.
import { el, figure, livePage, when } from "/ui/static/common.js";
import { diffView } from "/ui/static/diff.js";
import { barChart, COLORS, fmtNum, lineChart } from "/ui/static/plot.js";

function windowBuckets(chart) {
  return chart.last_day.length > 1 ? chart.last_day : chart.last_hour;
}

function typeCharts(chart) {
  const buckets = windowBuckets(chart);
  const bars = chart.histogram.map((n, i) => ({ label: `${i + 1}★`, value: n }));
  const mean = buckets.map((b) => [b.t, b.mean_rating]);
  const rate = buckets.map((b) => [b.t, b.correction_rate === null ? null : 100 * b.correction_rate]);
  const corrected = chart.correction_rate === null ? "–" : `${fmtNum(100 * chart.correction_rate)}%`;
  const span = buckets === chart.last_day ? "hourly windows" : "5-minute windows";
  return el("div", { class: "type", "data-type": chart.type },
    el("h3", {}, `${chart.type} · ${chart.count} events · mean ${fmtNum(chart.mean_rating)} · corrected ${corrected}`),
    el("div", { class: "charts" },
      figure("Ratings (all time)", barChart({ bars, label: `${chart.type} ratings` })),
      figure(`Mean rating (${span})`, lineChart({ series: [{ name: "mean rating", points: mean }], label: `${chart.type} mean rating`, time: true, yRange: [1, 5] })),
      figure(`Correction rate, % (${span})`, lineChart({ series: [{ name: "correction rate %", points: rate, color: COLORS[1] }], label: `${chart.type} correction rate`, time: true, yRange: [0, 100] }))));
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
