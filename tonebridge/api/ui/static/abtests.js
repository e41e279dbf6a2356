// A/B tests: samples per arm, each treatment's effect inside its always-valid interval,
// p-values and the SRM check over time, and the verdict; a stop button while it runs.
import { actionButton, badge, el, figure, livePage, when } from "/ui/static/common.js";
import { fmtNum, legend, lineChart } from "/ui/static/plot.js";

function rowKeys(history) {
  const keys = new Set();
  history.forEach((p) => (p.rows || []).forEach((r) => keys.add(`${r.arm}/${r.metric}`)));
  return [...keys];
}

function rowSeries(history, key, field) {
  return history.filter((p) => p.rows).map((p) => {
    const r = p.rows.find((x) => `${x.arm}/${x.metric}` === key);
    return r ? [p.t, r[field]] : [p.t, null];
  });
}

function samplesChart(history) {
  const arms = [...new Set(history.flatMap((p) => Object.keys(p.samples || {})))];
  const series = arms.map((arm) => ({ name: arm, points: history.map((p) => [p.t, (p.samples || {})[arm] ?? null]) }));
  return figure("Samples per arm", lineChart({ series, label: "samples per arm", time: true, zero: 0 }), legend(arms));
}

function effectChart(history, keys) {
  const series = keys.map((k) => ({ name: `${k} effect`, points: rowSeries(history, k, "effect") }));
  const bands = keys.map((k) => ({ points: history.filter((p) => p.rows).map((p) => {
    const r = p.rows.find((x) => `${x.arm}/${x.metric}` === k);
    return r ? [p.t, r.ci_low, r.ci_high] : [p.t, null, null];
  }) }));
  return figure("Effect (treatment − control) and its always-valid interval", lineChart({ series, bands, label: "effect", time: true, zero: 0 }), legend(keys));
}

function pChart(history, keys) {
  const series = keys.map((k) => ({ name: `${k} p`, points: rowSeries(history, k, "adjusted_p_value") }));
  series.push({ name: "SRM p", points: history.filter((p) => p.rows).map((p) => [p.t, p.srm_p ?? null]) });
  return figure("Always-valid p-values (adjusted) and the SRM check", lineChart({ series, label: "p-values", time: true, yRange: [0, 1] }), legend([...keys, "SRM"]));
}

function verdictLine(item) {
  const v = item.verdict || (item.live && item.live.verdict);
  if (!v || !v.decision) return el("p", { class: "muted" }, "No verdict yet: the test goes on.");
  return el("div", { class: "kv verdict" }, badge(v.decision),
    v.winner_model_id ? el("span", {}, el("b", {}, "winner "), v.winner_model_id) : null,
    v.metric ? el("span", {}, `${v.metric}: effect ${fmtNum(v.effect)} [${fmtNum(v.ci_low)}, ${fmtNum(v.ci_high)}]`) : null,
    v.reason ? el("span", { class: "muted" }, v.reason) : null);
}

function summary(item) {
  const last = item.history[item.history.length - 1] || {};
  const samples = Object.entries(last.samples || {}).map(([arm, n]) => `${arm}: ${n}`).join(" · ");
  const alpha = item.live && item.live.spec ? item.live.spec.alpha : null;
  return el("div", { class: "kv" },
    el("span", { class: "samples" }, el("b", {}, "samples "), samples || "none yet"),
    last.srm_p !== undefined ? el("span", {}, el("b", {}, "SRM p "), fmtNum(last.srm_p)) : null,
    alpha !== null ? el("span", {}, el("b", {}, "α "), fmtNum(alpha)) : null,
    el("span", { class: "muted" }, `started ${when(item.created_at)}`));
}

function render(item, refresh) {
  const keys = rowKeys(item.history);
  const stop = item.status === "active" ? actionButton("Stop", `Stop A/B test ${item.name} without a winner?`, `/ab-test/${encodeURIComponent(item.test_id)}/stop`, refresh, "danger") : null;
  return el("section", { class: "card", "data-test-id": item.test_id },
    el("h2", {}, item.name, badge(item.status), stop),
    summary(item), verdictLine(item),
    el("div", { class: "charts" }, samplesChart(item.history), effectChart(item.history, keys), pChart(item.history, keys)));
}

livePage("/ui/api/abtests", render, 6);
