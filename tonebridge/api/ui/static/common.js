// What every dashboard page shares: the API with the session's CSRF token, safe DOM
// building (text only, never HTML from data), confirmation, search, paging and polling.
export const POLL_MS = 2000;
let csrf = null;

async function csrfToken() {
  if (csrf === null) csrf = (await api("/ui/api/session")).csrf_token;
  return csrf;
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = await csrfToken();
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    window.location.assign("/ui/login");
    throw new Error("logged out");
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(describe(data) || `HTTP ${response.status}`);
  return data;
}

function describe(data) {
  if (!data || data.detail === undefined) return "";
  return typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function badge(text) {
  return el("span", { class: `badge ${text}` }, String(text));
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function figure(caption, ...content) {
  return el("figure", { class: "chart" }, el("figcaption", {}, caption), ...content);
}

export function notice(message, error = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = error ? "notice error" : "notice";
}

export function confirmAction(message) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// A button that asks first, then posts; the next poll shows the result.
export function actionButton(label, question, path, refresh, cls = "") {
  return el("button", {
    type: "button", class: cls, "data-action": label.toLowerCase(),
    onclick: async () => {
      if (!(await confirmAction(question))) return;
      try {
        await api(path, { method: "POST", body: {} });
        notice(`${label}: requested.`);
      } catch (error) {
        notice(`${label} failed: ${error.message}`, true);
      }
      refresh();
    },
  }, label);
}

// Fetch a page of items, render it, and poll: search and paging without reloads.
export function livePage(path, render, pageSize = 10) {
  const state = { offset: 0, q: "", timer: null, busy: false };
  const items = document.getElementById("items");
  const refresh = async () => {
    if (state.busy) return;
    state.busy = true;
    try {
      const params = new URLSearchParams({ limit: pageSize, offset: state.offset });
      if (state.q) params.set("q", state.q);
      const data = await api(`${path}?${params}`);
      items.replaceChildren(...(data.items.length ? data.items.map((it) => render(it, refresh)) : [el("p", { class: "muted" }, "Nothing here yet.")]));
      pager(state, data);
      document.getElementById("live").textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      document.getElementById("live").textContent = `update failed: ${error.message}`;
    } finally {
      state.busy = false;
    }
  };
  wire(state, refresh, pageSize);
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
  return refresh;
}

function pager(state, data) {
  document.getElementById("prev").disabled = state.offset === 0;
  document.getElementById("next").disabled = !data.more;
  const first = data.items.length ? state.offset + 1 : 0;
  document.getElementById("pageinfo").textContent = `${first}–${state.offset + data.items.length}`;
}

function wire(state, refresh, pageSize) {
  let pending = null;
  document.getElementById("search").addEventListener("input", (event) => {
    clearTimeout(pending);
    pending = setTimeout(() => { state.q = event.target.value.trim(); state.offset = 0; refresh(); }, 250);
  });
  document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - pageSize); refresh(); });
  document.getElementById("next").addEventListener("click", () => { state.offset += pageSize; refresh(); });
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/ui/logout", { method: "POST" }).catch(() => null);
    window.location.assign("/ui/login");
  });
}
