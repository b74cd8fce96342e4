// The sandbox page: a Slack-like channel driving the real bot, plus a panel per target.
// State arrives on /api/events (server-sent events), whole, whenever it changes. Nothing here decides anything: every
// command and click goes to the bot as Slack would send it.
import { blockEl, escapeHtml, inputState, messageBody, mrkdwn } from "./blocks.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let me = params.get("as") || localStorage.getItem("sandbox-user") || "";
let state;
let openThread;
const dismissed = new Set();
const rendered = { channel: "", thread: "", users: "", home: "" };

const userName = (id) => state?.users.find((u) => u.id === id)?.name ?? id;
const channelName = (id) => state?.conversations.find((c) => c.id === id)?.name;
const ctx = { userName, channelName, onButton: (b, btn) => clickButton(b, btn) };

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(json.error ?? `HTTP ${res.status}`);
  return json;
}

// ---- messages ----------------------------------------------------------------------------------

function timeOf(ts) {
  return new Date(Number(ts.split(".")[0]) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function avatar(user) {
  const u = state.users.find((x) => x.id === user);
  const a = document.createElement("span");
  a.className = `avatar${u?.isBot ? " bot" : ""}`;
  a.setAttribute("aria-hidden", "true");
  a.textContent = (u?.name ?? "?").slice(0, 1).toUpperCase();
  return a;
}

function messageItem(m, opts = {}) {
  const li = document.createElement("li");
  li.className = `message${m.ephemeral ? " ephemeral" : ""}`;
  li.dataset.ts = m.ts;
  const u = state.users.find((x) => x.id === m.user);
  const head = document.createElement("div");
  head.className = "msg-head";
  head.innerHTML = `<span class="msg-author">${escapeHtml(m.ephemeral ? "rollout-bot" : (u?.real_name ?? m.user))}</span>${
    m.ephemeral || u?.isBot ? '<span class="badge">APP</span>' : ""
  }<time>${timeOf(m.ts)}</time>${m.edited ? '<span class="edited">(edited)</span>' : ""}`;
  const body = document.createElement("div");
  body.className = "msg-main";
  if (m.ephemeral) {
    const only = document.createElement("div");
    only.className = "only-you";
    only.textContent = "Only visible to you";
    body.append(only);
  }
  body.append(
    head,
    messageBody(m, {
      ...ctx,
      onButton: (b, btn) => clickButton({ ...b, ts: m.ts }, btn),
      onOption: (o, btn) => pickOption({ ...o, ts: m.ts }, btn),
    }),
  );
  if (m.broadcast) {
    const note = document.createElement("div");
    note.className = "note";
    note.textContent = "replied to a thread (also sent to the channel)";
    body.prepend(note);
  }
  if (!opts.inThread && m.replyCount > 0) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "replies";
    b.textContent = `${m.replyCount} ${m.replyCount === 1 ? "reply" : "replies"}`;
    b.setAttribute("aria-label", `Open thread: ${b.textContent}`);
    b.addEventListener("click", () => showThread(m.ts));
    body.append(b);
  }
  if (m.ephemeral) {
    const d = document.createElement("button");
    d.type = "button";
    d.className = "link";
    d.textContent = "Dismiss message";
    d.addEventListener("click", () => {
      dismissed.add(m.ts);
      rendered.channel = "";
      render();
    });
    body.append(d);
  }
  li.append(avatar(m.ephemeral ? state.users.find((x) => x.isBot)?.id : m.user), body);
  return li;
}

// A list the reader left at its end stays at its end as messages arrive and the window changes size.
const pinned = new WeakMap();
function pinToEnd(list) {
  if (pinned.has(list)) return;
  pinned.set(list, true);
  list.addEventListener("scroll", () => pinned.set(list, list.scrollHeight - list.scrollTop - list.clientHeight < 40));
  new ResizeObserver(() => {
    if (pinned.get(list)) list.scrollTop = list.scrollHeight;
  }).observe(list);
}

function renderList(list, items, opts) {
  pinToEnd(list);
  // A keyboard user keeps their place: the same button (by position) of the same message gets focus back.
  const active = document.activeElement;
  const li = list.contains(active) ? active.closest("li.message") : null;
  const index = li ? [...li.querySelectorAll("button")].indexOf(active) : -1;
  // An open ⋯ menu stays open while its message is redrawn (the bot updates it every few seconds).
  const menu = list.querySelector(".bk-menu:not([hidden])");
  const menuAt = menu && [menu.closest("li.message").dataset.ts, [...list.querySelectorAll(".bk-overflow-button")].indexOf(menu.previousElementSibling)];
  list.replaceChildren(...items.map((m) => messageItem(m, opts)));
  if (menuAt) {
    const again = list.querySelectorAll(".bk-overflow-button")[menuAt[1]];
    if (again?.closest("li.message").dataset.ts === menuAt[0]) again.click();
  }
  if (pinned.get(list)) list.scrollTop = list.scrollHeight;
  if (li && index >= 0) {
    const buttons = list.querySelectorAll(`li[data-ts="${CSS.escape(li.dataset.ts)}"] button`);
    (buttons[index] ?? buttons[0])?.focus({ preventScroll: true });
  }
}

const byTs = (a, b) => Number(a.ts) - Number(b.ts);

function renderChannel() {
  const eph = state.ephemerals.filter((e) => !e.threadTs && !dismissed.has(e.ts)).map((e) => ({ ...e, ephemeral: true, user: "" }));
  const items = [...state.messages, ...eph].sort(byTs);
  const key = JSON.stringify([items, state.users]);
  if (key === rendered.channel) return;
  rendered.channel = key;
  renderList($("messages"), items, {});
}

function renderThread() {
  const pane = $("thread");
  if (!openThread) {
    pane.hidden = true;
    document.body.classList.remove("thread-open");
    rendered.thread = "";
    return;
  }
  const parent = state.messages.find((m) => m.ts === openThread);
  if (!parent) {
    openThread = undefined;
    return renderThread();
  }
  const replies = state.threads[openThread] ?? [];
  const eph = state.ephemerals.filter((e) => e.threadTs === openThread && !dismissed.has(e.ts)).map((e) => ({ ...e, ephemeral: true, user: "" }));
  const items = [parent, ...[...replies, ...eph].sort(byTs)];
  const key = JSON.stringify(items);
  pane.hidden = false;
  document.body.classList.add("thread-open");
  if (key === rendered.thread) return;
  rendered.thread = key;
  renderList($("thread-messages"), items, { inThread: true });
}

function showThread(ts) {
  openThread = ts;
  rendered.thread = "";
  renderThread();
  $("close-thread").focus();
}

// ---- buttons and their confirm dialogs ---------------------------------------------------------

function confirmDialog(c) {
  const d = $("confirm");
  $("confirm-title").textContent = c.title?.text ?? "Are you sure?";
  $("confirm-text").innerHTML = c.text?.type === "mrkdwn" ? mrkdwn(c.text.text, ctx) : escapeHtml(c.text?.text ?? "");
  $("confirm-ok").textContent = c.confirm?.text ?? "Yes";
  $("confirm-ok").className = c.style === "danger" ? "danger" : "primary";
  $("confirm-deny").textContent = c.deny?.text ?? "Cancel";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "confirm"), { once: true });
    d.returnValue = "";
    d.showModal();
    $("confirm-deny").focus();
  });
}

/** A button or an overflow option, in a message (ts) or a view (viewId): sent as Slack sends the action. */
async function act(b, btn, option) {
  if (b.confirm && !(await confirmDialog(b.confirm))) return;
  btn.disabled = true;
  const what = { user: me, blockId: b.blockId, actionId: b.actionId, ...(option ? { option } : {}) };
  try {
    await (b.viewId ? api("/api/view/click", { ...what, viewId: b.viewId }) : api("/api/click", { ...what, ts: b.ts }));
  } catch (err) {
    toast(`${b.label}: ${err.message}`);
  } finally {
    btn.disabled = false;
  }
}
const clickButton = (b, btn) => act(b, btn);
const pickOption = (o, btn) => act(o, btn, o.value);

// ---- command box with completion ---------------------------------------------------------------

let suggestions = [];
let active = -1;

function showSuggestions(list) {
  suggestions = list;
  active = list.length ? 0 : -1;
  const ul = $("suggestions");
  ul.replaceChildren(
    ...list.map((s, i) => {
      const li = document.createElement("li");
      li.id = `sugg-${i}`;
      li.setAttribute("role", "option");
      li.innerHTML = `<span class="sugg-label">${escapeHtml(s.label)}</span><span class="sugg-detail">${escapeHtml(s.detail)}</span>`;
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        accept(i);
      });
      return li;
    }),
  );
  ul.hidden = list.length === 0;
  $("command").setAttribute("aria-expanded", String(list.length > 0));
  highlight();
}

function highlight() {
  [...$("suggestions").children].forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
  if (active >= 0) $("command").setAttribute("aria-activedescendant", `sugg-${active}`);
  else $("command").removeAttribute("aria-activedescendant");
}

function accept(i) {
  const s = suggestions[i];
  if (!s) return;
  $("command").value = s.text;
  showSuggestions([]);
  $("command").focus();
  complete();
}

let completing = 0;
async function complete() {
  const n = ++completing;
  const text = $("command").value;
  const r = await api(`/api/complete?text=${encodeURIComponent(text)}`);
  if (n !== completing || $("command").value !== text) return;
  // Offer nothing when the only suggestion is what is already typed.
  const useful = r.suggestions.filter((s) => s.text.trimEnd() !== text.trimEnd());
  showSuggestions(document.activeElement === $("command") ? useful : []);
}

function setupComposer() {
  const input = $("command");
  input.addEventListener("input", () => complete().catch(() => undefined));
  // An empty box offers nothing on focus: focus comes back to it when a modal closes, over the channel.
  input.addEventListener("focus", () => input.value && complete().catch(() => undefined));
  input.addEventListener("blur", () => showSuggestions([]));
  input.addEventListener("keydown", (e) => {
    if ($("suggestions").hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + suggestions.length) % suggestions.length;
      highlight();
    } else if (e.key === "Tab") {
      e.preventDefault();
      accept(active);
    } else if (e.key === "Escape") {
      showSuggestions([]);
    }
  });
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    // An empty box is `/rollout` alone, which opens the start form.
    const text = input.value.trim();
    showSuggestions([]);
    try {
      await api("/api/command", { user: me, text });
      input.value = "";
    } catch (err) {
      toast(err.message);
    }
  });
}

// ---- target panels -----------------------------------------------------------------------------

const COLORS = ["#1264a3", "#e8912d"];
const ROUTER_LABEL = { smi: "SMI TrafficSplit", namerd: "Linkerd 1 · namerd", gateway: "Gateway API HTTPRoute" };

function chart(series, { label, max, format }) {
  const w = 260;
  const h = 56;
  const n = Math.max(2, ...series.map((s) => s.points.length));
  const lines = series
    .map((s, i) => {
      const pts = s.points
        .map((v, j) => (v === null ? null : `${((j + n - s.points.length) / (n - 1)) * w},${h - 2 - (Math.min(v, max) / max) * (h - 4)}`))
        .filter(Boolean);
      return pts.length ? `<polyline fill="none" stroke="${COLORS[i]}" stroke-width="2" points="${pts.join(" ")}"/>` : "";
    })
    .join("");
  const latest = series.map((s, i) => `<span style="color:${COLORS[i]}">${escapeHtml(s.name)} ${format(s.points.at(-1))}</span>`).join(" · ");
  return `<figure class="chart"><figcaption>${escapeHtml(label)}: ${latest}</figcaption><svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(label)} chart">${lines}</svg></figure>`;
}

/** Which cluster a target lives in, as a badge beside its name. */
function clusterBadge(cluster) {
  return cluster ? `<span class="cluster-badge other">cluster ${escapeHtml(cluster)}</span>` : `<span class="cluster-badge">own cluster</span>`;
}

function panelSkeleton(t) {
  const sec = document.createElement("section");
  sec.className = "panel";
  // The target's key (`backend-svc@prod-eu`): the same name may live in two clusters.
  sec.dataset.target = t.key;
  const id = (k) => `${t.key}-${k}`;
  // The canary's controls say which cluster's canary they change when it is not the bot's own.
  const canary = escapeHtml(t.cluster ? `${t.canary} in ${t.cluster}` : t.canary);
  sec.innerHTML = `
    <h3>${escapeHtml(t.name)} ${clusterBadge(t.cluster)} <span class="note">${ROUTER_LABEL[t.router] ?? escapeHtml(t.router)} · ${escapeHtml(t.namespace)}</span></h3>
    <div class="bar" role="img" data-part="bar"></div>
    <div class="mesh" data-part="mesh"></div>
    <div data-part="charts"></div>
    <fieldset class="controls"><legend>Simulated traffic</legend>
      <div class="control"><label for="${id("rps")}">Requests/s</label><input type="range" id="${id("rps")}" min="0" max="1000" step="10" data-control="rps"><output for="${id("rps")}"></output></div>
      <div class="control"><label for="${id("err")}">${canary} error rate</label><input type="range" id="${id("err")}" min="0" max="0.5" step="0.01" data-control="errorRate"><output for="${id("err")}"></output></div>
      <div class="control"><label for="${id("lat")}">${canary} latency (ms)</label><input type="range" id="${id("lat")}" min="1" max="2000" step="1" data-control="latencyMs"><output for="${id("lat")}"></output></div>
      <div class="control-buttons">
        <button type="button" class="danger" data-preset="break">Break ${canary}</button>
        <button type="button" class="secondary" data-preset="heal">Heal ${canary}</button>
      </div>
    </fieldset>`;
  const send = async (change) => {
    try {
      await api("/api/traffic", { target: t.key, ...change });
    } catch (err) {
      toast(err.message);
    }
  };
  for (const input of sec.querySelectorAll("input[data-control]")) {
    input.addEventListener("input", () => (input.nextElementSibling.textContent = fmtControl(input.dataset.control, Number(input.value))));
    input.addEventListener("change", () => send({ [input.dataset.control]: Number(input.value) }));
  }
  sec.querySelector('[data-preset="break"]').addEventListener("click", () => send({ errorRate: 0.25, latencyMs: 400 }));
  sec.querySelector('[data-preset="heal"]').addEventListener("click", () => send({ errorRate: 0, latencyMs: 12 }));
  return sec;
}

function fmtControl(kind, v) {
  if (kind === "errorRate") return `${Math.round(v * 100)}%`;
  if (kind === "latencyMs") return `${v} ms`;
  return `${v}`;
}

function renderPanel(sec, t) {
  const weights = t.mesh.weights ?? [];
  const bar = sec.querySelector('[data-part="bar"]');
  const desc = weights.map((w) => `${w.version} ${w.percent}%`).join(", ") || "no traffic routed";
  bar.setAttribute("aria-label", `Weights the mesh holds now: ${desc}`);
  bar.innerHTML = weights
    .map((w) => {
      const i = w.version === t.canary ? 1 : 0;
      // A thin slice keeps only its number; the full text is in the bar's label.
      const text = w.percent >= 25 ? `${w.version} ${w.percent}%` : `${w.percent}%`;
      return w.percent > 0
        ? `<span style="flex:${w.percent};background:${COLORS[i]}" title="${escapeHtml(w.version)} ${w.percent}%">${escapeHtml(text)}</span>`
        : "";
    })
    .join("");
  bar.dataset.weights = desc;
  const mesh = sec.querySelector('[data-part="mesh"]');
  const meshHtml =
    t.mesh.kind === "split"
      ? `<div class="label">TrafficSplit <code>${escapeHtml(t.name)}</code></div><pre>${escapeHtml(t.mesh.raw)}</pre>`
      : t.mesh.kind === "route"
        ? `<div class="label">HTTPRoute <code>${escapeHtml(t.mesh.route)}</code>: ${escapeHtml(t.mesh.parents)}</div><pre class="rules">${t.mesh.rules
            .map(
              (r) =>
                `${r.split ? "<b>" : ""}${escapeHtml(`${r.label}${r.split ? " (the split)" : r.test ? " (the bot's test rule)" : ""}: ${r.text}`)}${r.split ? "</b>" : ""}`,
            )
            .join("\n")}</pre>`
        : t.mesh.kind === "dtab"
          ? `<div class="label">namerctl dtab get internal</div><pre class="namerctl">${escapeHtml(t.mesh.namerctl)}</pre><div class="label">Test request (l5d-dtab)</div><pre>${escapeHtml(t.mesh.testRequest)}</pre>`
          : `<p class="note">${escapeHtml(t.mesh.why)}</p>`;
  if (mesh.dataset.html !== meshHtml) {
    mesh.innerHTML = meshHtml;
    mesh.dataset.html = meshHtml;
  }
  const versions = [t.stable, t.canary];
  const hist = (v) => t.traffic.history[v] ?? [];
  sec.querySelector('[data-part="charts"]').innerHTML =
    chart(
      versions.map((v) => ({ name: v, points: hist(v).map((s) => (s.successRate === null ? null : s.successRate * 100)) })),
      { label: "Success rate", max: 100, format: (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)}%`) },
    ) +
    chart(
      versions.map((v) => ({ name: v, points: hist(v).map((s) => s.rps) })),
      { label: "Requests/s", max: Math.max(10, t.traffic.rps), format: (v) => (v === undefined ? "–" : `${Math.round(v)}`) },
    );
  const values = { rps: t.traffic.rps, errorRate: t.traffic.canaryControls.errorRate, latencyMs: t.traffic.canaryControls.latencyMs };
  for (const input of sec.querySelectorAll("input[data-control]")) {
    if (document.activeElement === input) continue; // do not move a slider under the user's hand
    input.value = String(values[input.dataset.control]);
    input.nextElementSibling.textContent = fmtControl(input.dataset.control, values[input.dataset.control]);
  }
}

/** Each cluster: how the bot reaches it, where its success rates come from, and the shares its mesh holds now. */
function renderClusters() {
  const html = state.clusters
    .map((c) => {
      const shares = c.targets.map((t) => `${t.key}: ${t.weights.map((w) => `${w.version} ${w.percent}%`).join(" · ")}`);
      // How the bot reaches it folds away: the shares are what changes.
      return `<li data-cluster="${escapeHtml(c.name ?? "")}"><details><summary><b>${escapeHtml(c.label)}</b></summary>
        <p class="note">Reached through ${escapeHtml(c.reach)}; success rates from ${escapeHtml(c.metricsSource)}.</p></details>
        ${shares.map((line) => `<p class="shares">${escapeHtml(line)}</p>`).join("")}</li>`;
    })
    .join("");
  const root = $("clusters");
  if (root.dataset.html !== html) {
    // A redraw keeps open what the person opened.
    const open = new Set([...root.querySelectorAll("li")].filter((li) => li.querySelector("details")?.open).map((li) => li.dataset.cluster));
    root.innerHTML = html;
    root.dataset.html = html;
    for (const li of root.querySelectorAll("li")) if (open.has(li.dataset.cluster)) li.querySelector("details").open = true;
  }
}

/** Each wave: where its newest rollout stands, and its clusters in order with their row and shares. */
function renderWaves() {
  const html = (state.waves ?? [])
    .map((w) => {
      const steps = w.clusters.map((c) => {
        const shares = c.weights.map((x) => `${x.version} ${x.percent}%`).join(" · ");
        return `<li data-wave-cluster="${escapeHtml(c.cluster)}"><b>${escapeHtml(c.label)}</b>: ${escapeHtml(shares || "no traffic routed")}${
          c.row ? `<br><span class="note">${escapeHtml(c.row)}</span>` : ""
        }</li>`;
      });
      return `<li data-wave="${escapeHtml(w.key)}"><p class="position">${escapeHtml(w.key)}: ${escapeHtml(w.position)}</p><ol>${steps.join("")}</ol></li>`;
    })
    .join("");
  const root = $("waves");
  if (root.dataset.html !== html) {
    root.innerHTML = html;
    root.dataset.html = html;
  }
}

function renderPanels() {
  renderClusters();
  renderWaves();
  const root = $("panels");
  for (const t of state.targets) {
    let sec = root.querySelector(`section[data-target="${CSS.escape(t.key)}"]`);
    if (!sec) root.append((sec = panelSkeleton(t)));
    renderPanel(sec, t);
  }
}

// ---- people ------------------------------------------------------------------------------------

function renderUsers() {
  const people = state.users.filter((u) => !u.isBot);
  const key = JSON.stringify([people, me]);
  const sel = $("acting-as");
  if (key !== rendered.users) {
    rendered.users = key;
    sel.replaceChildren(
      ...people.map((u) => {
        const o = document.createElement("option");
        o.value = u.id;
        o.textContent = u.real_name;
        o.selected = u.id === me;
        return o;
      }),
    );
  }
  $("acting-note").textContent = people.find((u) => u.id === me)?.note ?? "";
  $("metrics-source").textContent = `Success rates read from ${state.metricsSource}`;
}

// ---- state -------------------------------------------------------------------------------------

// ---- views: the modal the bot opened, and the App Home tab --------------------------------------

let modal; // the view the dialog shows now: { id, hash, view }
const entered = new Map(); // view id -> block_id -> action_id -> what the person's input holds
let modalErrors = {};
const closing = new Set(); // modals the person closed, until the server's state agrees

const inputBlocks = (v) => v.blocks.filter((b) => b.type === "input" && b.element);

/** What the dialog's inputs hold, kept per view as Slack's client keeps it. */
function capture() {
  if (!modal) return {};
  const values = {};
  for (const b of inputBlocks(modal.view)) values[b.block_id] = { [b.element.action_id]: inputState(b, $("modal-body")) };
  entered.set(modal.id, values);
  return values;
}

function viewCtx(v, form) {
  return {
    ...ctx,
    conversations: state.conversations,
    currentChannel: state.channel.id,
    onButton: (b, btn) => act({ ...b, viewId: v.id }, btn),
    onOption: (o, btn) => act({ ...o, viewId: v.id }, btn, o.value),
    ...(form ? { form } : {}),
  };
}

function drawModal(v) {
  const form = {
    kept: (blockId, actionId) => entered.get(v.id)?.[blockId]?.[actionId] ?? v.entered?.[blockId]?.[actionId],
    error: (blockId) => modalErrors[blockId],
    onPick: (blockId, value) => {
      api("/api/view/pick", { user: me, viewId: v.id, blockId, value, values: capture() }).catch((err) => toast(err.message));
    },
  };
  const c = viewCtx(v, form);
  $("modal-title").textContent = v.title?.text ?? "";
  $("modal-body").replaceChildren(...v.blocks.map((b) => blockEl(b, c)));
  $("modal-submit").hidden = !v.submit;
  $("modal-submit").textContent = v.submit?.text ?? "Submit";
  $("modal-close").textContent = v.close?.text ?? (v.submit ? "Cancel" : "Close");
}

function renderModal() {
  const v = state.modal && !closing.has(state.modal.id) ? state.modal : undefined;
  const d = $("modal");
  if (!v) {
    modal = undefined;
    if (d.open) d.close();
    return;
  }
  if (modal?.id === v.id && modal.hash === v.hash && d.open) return;
  // A views.update of the open form keeps what was entered in blocks that stay; a new view starts afresh.
  if (modal?.id === v.id) capture();
  else modalErrors = {};
  modal = { id: v.id, hash: v.hash, view: v };
  drawModal(v);
  if (!d.open) {
    d.showModal();
    d.querySelector("input, select, textarea, button")?.focus();
  }
}

async function submitModal() {
  if (!modal) return;
  const m = modal;
  const btn = $("modal-submit");
  btn.disabled = true;
  try {
    const r = await api("/api/view/submit", { user: me, viewId: m.id, values: capture() });
    modalErrors = r.errors ?? {};
    if (r.closed) {
      modal = undefined;
      $("modal").close();
    } else if (modal?.id === m.id) {
      drawModal(modal.view);
      $("modal-body").querySelector('[aria-invalid="true"]')?.focus();
    }
  } catch (err) {
    toast(err.message);
  } finally {
    btn.disabled = false;
  }
}

async function closeModal() {
  if (!modal) return;
  const id = modal.id;
  modal = undefined;
  closing.add(id);
  $("modal").close();
  await api("/api/view/close", { user: me, viewId: id }).catch(() => undefined);
}

let homeOpen = false;

function renderHome() {
  $("home").hidden = !homeOpen;
  $("channel").hidden = homeOpen;
  $("go-home").setAttribute("aria-current", homeOpen ? "page" : "false");
  $("go-channel").setAttribute("aria-current", homeOpen ? "false" : "page");
  if (!homeOpen) return void (rendered.home = "");
  const key = JSON.stringify([state.home, state.users]);
  if (key === rendered.home) return;
  rendered.home = key;
  const v = state.home;
  $("home-body").replaceChildren(...(v ? v.blocks.map((b) => blockEl(b, viewCtx(v))) : [document.createTextNode("Opening…")]));
}

/** Opening the tab is Slack's app_home_opened: the bot publishes the person's board. */
async function openHome() {
  homeOpen = true;
  rendered.home = "";
  render();
  await api("/api/home", { user: me }).catch((err) => toast(err.message));
}

function render() {
  if (!state) return;
  renderUsers();
  renderChannel();
  renderThread();
  renderPanels();
  renderHome();
  renderModal();
}

let stream;
/** One event stream per viewer: every message is the whole state for the person the page acts as. */
function connect() {
  stream?.close();
  stream = new EventSource(`/api/events?user=${encodeURIComponent(me)}`);
  stream.onmessage = (e) => {
    state = JSON.parse(e.data);
    me = state.me; // the server falls back to the first person for an unknown id
    render();
    document.body.dataset.ready = "true";
  };
  // EventSource reconnects by itself (retry: 1000), e.g. while a reset restarts the bot.
}

function setup() {
  setupComposer();
  $("acting-as").addEventListener("change", (e) => {
    me = e.target.value;
    localStorage.setItem("sandbox-user", me);
    rendered.channel = rendered.thread = rendered.home = "";
    modal = undefined;
    connect();
    if (homeOpen) openHome();
  });
  $("go-home").addEventListener("click", () => openHome());
  $("go-channel").addEventListener("click", () => {
    homeOpen = false;
    render();
  });
  $("modal-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submitModal();
  });
  $("modal-close").addEventListener("click", () => closeModal());
  $("modal").addEventListener("cancel", (e) => {
    e.preventDefault();
    closeModal();
  });
  $("close-thread").addEventListener("click", () => {
    const ts = openThread;
    openThread = undefined;
    renderThread();
    document.querySelector(`#messages li[data-ts="${CSS.escape(ts)}"] .replies`)?.focus();
  });
  const argo = (body) => async () => {
    try {
      const r = await api("/api/argo", body);
      toast(`Argo Rollouts: ${r.said}`);
    } catch (err) {
      toast(err.message);
    }
  };
  $("argo-deploy").addEventListener("click", argo({ deploy: true }));
  $("argo-fail").addEventListener("click", argo({ analysis: "Failed" }));
  $("argo-pass").addEventListener("click", argo({ analysis: "Successful" }));
  const flagger = (body) => async () => {
    try {
      const r = await api("/api/flagger", body);
      toast(`Flagger: ${r.said}`);
    } catch (err) {
      toast(err.message);
    }
  };
  $("flagger-deploy").addEventListener("click", flagger({ deploy: true }));
  $("flagger-fail").addEventListener("click", flagger({ failing: true }));
  $("flagger-pass").addEventListener("click", flagger({ failing: false }));
  $("reset").addEventListener("click", async () => {
    const btn = $("reset");
    btn.disabled = true;
    try {
      await api("/api/reset", {});
      dismissed.clear();
      openThread = undefined;
      // The fresh bot has published nothing yet: opening the tab again is what makes it publish.
      if (homeOpen) openHome();
      toast("The sandbox starts over: seed weights, no rollouts, empty channel.");
    } catch (err) {
      toast(err.message);
    } finally {
      btn.disabled = false;
    }
  });
  $("apply-snippet").addEventListener("click", async () => {
    try {
      const r = await api("/api/gitops/apply-snippet", {});
      toast(r.said);
    } catch (err) {
      toast(err.message);
    }
  });
  addEventListener("pagehide", () => stream?.close());
  connect();
}

setup();
