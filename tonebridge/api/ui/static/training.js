// Training: jobs with status, progress, a live loss curve (TrainingStatus) and the
// dataset they learn from; a stop button while a job may still run.
import { actionButton, badge, el, figure, livePage, when } from "/ui/static/common.js";
import { fmtNum, lineChart } from "/ui/static/plot.js";

function progressBar(p) {
  const bar = el("span");
  bar.style.width = `${Math.round(100 * p)}%`;
  return el("div", { class: "progress", title: `${Math.round(100 * p)}%` }, bar);
}

function dataset(d) {
  if (!d) return el("span", { class: "muted" }, "–");
  if (d.source === "feedback") return el("span", {}, `feedback since ${when(d.feedback_since)}`);
  const l = d.lineage || {};
  const from = l.feedback_count !== undefined ? ` · ${l.feedback_count} feedback events ${when(l.feedback_from)} → ${when(l.feedback_to)}` : "";
  return el("span", {}, `${d.name || d.dataset_id}${from}`);
}

function render(job, refresh) {
  const open = ["pending", "running"].includes(job.status) && !job.stop_requested;
  const stop = open ? actionButton("Stop", `Stop training job ${job.job_id}?`, `/train/${encodeURIComponent(job.job_id)}/stop`, refresh, "danger") : null;
  const loss = job.loss_curve.map((p) => [p.step, p.loss]);
  const last = job.loss_curve[job.loss_curve.length - 1];
  return el("section", { class: "card", "data-job-id": job.job_id },
    el("h2", {}, `${job.kind} · ${job.model_type}`, badge(job.status), job.stop_requested && job.status === "running" ? badge("stopping") : null, stop),
    el("div", { class: "kv" },
      el("span", {}, el("b", {}, "job "), job.job_id),
      el("span", {}, el("b", {}, "progress "), `${Math.round(100 * job.progress)}%`),
      last ? el("span", {}, el("b", {}, "loss "), fmtNum(last.loss), ` at step ${last.step}`) : null,
      el("span", { class: "muted" }, `created ${when(job.created_at)}`)),
    progressBar(job.progress),
    el("div", { class: "kv" }, el("b", {}, "dataset "), dataset(job.dataset),
      job.parent_model_id ? el("span", {}, el("b", {}, "improves "), job.parent_model_id) : null),
    job.error_message ? el("p", { class: "notice error" }, job.error_message) : null,
    loss.length
      ? el("div", { class: "charts" }, figure("Loss by step", lineChart({ series: [{ name: "loss", points: loss }], label: "loss curve" })))
      : el("p", { class: "muted" }, "No loss reported yet (TrainingStatus events with a loss draw the curve)."));
}

livePage("/ui/api/training", render, 10);
