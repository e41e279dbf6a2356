// Models: per name its versions, status, lineage and metrics against the parent version.
import { actionButton, badge, el, livePage, when } from "/ui/static/common.js";
import { fmtNum } from "/ui/static/plot.js";

function lineage(v) {
  const l = v.lineage || {};
  if (l.feedback_count !== undefined) {
    const span = `${when(l.feedback_from)} → ${when(l.feedback_to)}`;
    return el("div", {}, `${l.feedback_count} feedback events`, el("br"), el("span", { class: "muted" }, span),
      l.dataset_id ? el("div", { class: "muted" }, `dataset ${l.dataset_id}`) : null,
      v.training_job_id ? el("div", { class: "muted" }, `job ${v.training_job_id}`) : null);
  }
  return el("span", { class: "muted" }, l.registered ? `registered ${l.registered}` : "–");
}

function metrics(v) {
  const names = Object.keys(v.metrics || {}).sort();
  if (!names.length) return el("span", { class: "muted" }, "–");
  return el("div", {}, names.slice(0, 6).map((k) => {
    const d = v.vs_parent ? v.vs_parent[k] : undefined;
    const delta = d === undefined ? null : el("span", { class: `delta ${d >= 0 ? "up" : "down"}` }, ` (${d >= 0 ? "+" : ""}${fmtNum(d)})`);
    return el("div", {}, `${k}: ${fmtNum(v.metrics[k])}`, delta);
  }));
}

function actions(v, refresh) {
  const label = `${v.name} v${v.version}`;
  if (v.status === "production") {
    return actionButton("Rollback", `Roll back ${label} to the previous production version?`, `/models/${encodeURIComponent(v.model_id)}/rollback`, refresh, "danger");
  }
  if (v.status === "archived") return null;
  return actionButton("Deploy", `Deploy ${label} to production?`, `/models/${encodeURIComponent(v.model_id)}/deploy`, refresh);
}

function row(v, refresh) {
  return el("tr", { "data-model-id": v.model_id, "data-status": v.status },
    el("td", {}, `v${v.version}`, el("div", { class: "muted" }, v.model_type)),
    el("td", {}, badge(v.status), v.deployed_at ? el("div", { class: "muted" }, when(v.deployed_at)) : null),
    el("td", {}, lineage(v)),
    el("td", {}, metrics(v), v.parent_model_id ? el("div", { class: "muted" }, "vs parent") : null),
    el("td", {}, actions(v, refresh)));
}

function render(item, refresh) {
  const head = el("tr", {}, ["Version", "Status", "Lineage", "Metrics", ""].map((h) => el("th", {}, h)));
  const production = item.versions.find((v) => v.status === "production");
  return el("section", { class: "card", "data-name": item.name },
    el("h2", {}, item.name, production ? badge(`production v${production.version}`) : badge("no production")),
    el("table", {}, el("thead", {}, head), el("tbody", {}, item.versions.map((v) => row(v, refresh)))));
}

livePage("/ui/api/models", render, 20);
