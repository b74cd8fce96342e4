// Slack mrkdwn and Block Kit, rendered as Slack's clients show them. No framework: DOM nodes from data.
// Every string from a message goes through textContent or escapeHtml, never raw into innerHTML.

// Emoji as colored symbols from common text fonts: colour-emoji fonts are missing on many Linux machines,
// where Slack's emoji would otherwise show as empty boxes.
const EMOJI = {
  x: ["✖", "red"],
  no_entry: ["⊘", "red"],
  hourglass_flowing_sand: ["⌛", "amber"],
  white_check_mark: ["✔", "green"],
  heavy_check_mark: ["✔", "green"],
  warning: ["⚠", "amber"],
  robot_face: ["⚙", "grey"],
  rewind: ["◀◀", "blue"],
  double_vertical_bar: ["❚❚", "amber"],
  arrow_forward: ["▶", "blue"],
  rotating_light: ["⚠", "red"],
  rocket: ["➚", "blue"],
  red_circle: ["●", "red"],
  large_green_circle: ["●", "green"],
  large_blue_circle: ["●", "blue"],
  grey_question: ["?", "grey"],
  gear: ["⚙", "grey"],
  checkered_flag: ["⚑", "green"],
  bell: ["♫", "amber"],
  auto: ["Ⓐ", "blue"],
  alarm_clock: ["◷", "amber"],
  information_source: ["ℹ", "blue"],
  tada: ["✱", "green"],
  eyes: ["◉", "grey"],
};

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** Slack escapes &, < and > in message text; everything else is literal. */
function decodeEntities(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** `<!date^seconds^{token} text|fallback>` in the reader's own time zone, as Slack shows it. */
function slackDate(target, fallback) {
  const [, seconds, format] = target.split("^");
  const d = new Date(Number(seconds) * 1000);
  if (!format || Number.isNaN(d.getTime())) return decodeEntities(fallback ?? "");
  const tokens = {
    date_short_pretty: d.toLocaleDateString([], { month: "short", day: "numeric" }),
    date_short: d.toLocaleDateString([], { month: "short", day: "numeric", year: "numeric" }),
    date: d.toLocaleDateString([], { month: "long", day: "numeric", year: "numeric" }),
    time: d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    time_secs: d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  };
  return decodeEntities(format).replace(/\{([a-z_]+)\}/g, (m, k) => tokens[k] ?? m);
}

function controlSequence(inner, ctx) {
  const bar = inner.indexOf("|");
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  if (target.startsWith("@")) {
    const user = ctx.userName(target.slice(1));
    return `<span class="mention">@${escapeHtml(label ?? user)}</span>`;
  }
  if (target.startsWith("#")) return `<span class="mention">#${escapeHtml(label ?? ctx.channelName?.(target.slice(1)) ?? target.slice(1))}</span>`;
  if (target.startsWith("!date")) return escapeHtml(slackDate(target, label));
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1).split("^")[0])}</span>`;
  const href = decodeEntities(target);
  const safe = /^(https?:|mailto:)/i.test(href) ? href : "#";
  return `<a href="${escapeHtml(safe)}" target="_blank" rel="noopener noreferrer">${escapeHtml(decodeEntities(label ?? target))}</a>`;
}

function inline(s) {
  return s
    .replace(/`([^`\n]+)`/g, (_, c) => `\u0001code\u0002${c}\u0001/code\u0002`)
    .replace(/(^|[\s(>])\*([^*\n]+)\*(?=$|[\s).,:;!?<])/g, "$1<b>$2</b>")
    .replace(/(^|[\s(>])_([^_\n]+)_(?=$|[\s).,:;!?<])/g, "$1<i>$2</i>")
    .replace(/(^|[\s(>])~([^~\n]+)~(?=$|[\s).,:;!?<])/g, "$1<s>$2</s>")
    .replace(/:([a-z0-9_+-]+):/g, (m, name) =>
      EMOJI[name] ? `<span class="emoji ${EMOJI[name][1]}" role="img" aria-label="${name.replace(/_/g, " ")}" title=":${name}:">${EMOJI[name][0]}</span>` : m,
    );
}

/** mrkdwn -> HTML: code blocks, inline code, bold, italic, strike, quotes, links, mentions, emoji. */
export function mrkdwn(text, ctx) {
  const tokens = [];
  const hold = (html) => `\u0000${tokens.push(html) - 1}\u0000`;
  let s = String(text ?? "");
  // Code blocks first: nothing inside them is formatted.
  s = s.replace(/```([\s\S]*?)```/g, (_, code) => hold(`<pre>${escapeHtml(decodeEntities(code.replace(/^\n/, "")))}</pre>`));
  s = s.replace(/<([^<>\n]+)>/g, (_, inner) => hold(controlSequence(inner, ctx)));
  s = escapeHtml(decodeEntities(s));
  s = s
    .split("\n")
    .map((line) => (line.startsWith("&gt; ") ? `<blockquote>${inline(line.slice(5))}</blockquote>` : inline(line)))
    .join("<br>")
    .replace(/<\/blockquote><br>/g, "</blockquote>");
  s = s.replace(/\u0001code\u0002([\s\S]*?)\u0001\/code\u0002/g, "<code>$1</code>");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => tokens[Number(i)]);
}

function textObject(t, ctx) {
  const span = document.createElement("span");
  if (!t) return span;
  if (t.type === "mrkdwn") span.innerHTML = mrkdwn(t.text, ctx);
  else span.innerHTML = inline(escapeHtml(t.text ?? ""));
  return span;
}

function plain(t) {
  return t ? String(t.text ?? "") : "";
}

function el(tag, cls, children = []) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) if (c) e.append(c);
  return e;
}

function buttonEl(b, blockId, ctx) {
  const btn = el("button", `bk-button${b.style ? ` bk-${b.style}` : ""}`);
  btn.type = "button";
  btn.textContent = plain(b.text);
  if (b.url) {
    const a = el("a", btn.className);
    a.href = /^https?:/i.test(b.url) ? b.url : "#";
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = plain(b.text);
    return a;
  }
  btn.addEventListener("click", () => ctx.onButton({ blockId, actionId: b.action_id, confirm: b.confirm, label: plain(b.text) }, btn));
  return btn;
}

function imageEl(b) {
  const img = document.createElement("img");
  img.src = b.image_url ?? "";
  img.alt = b.alt_text ?? "";
  img.loading = "lazy";
  return img;
}

/** Slack's overflow menu: a ⋯ button opening its options; picking one is an action with `selected_option`. */
function overflowEl(e, blockId, ctx) {
  const wrap = el("span", "bk-overflow");
  const btn = el("button", "bk-button bk-overflow-button");
  btn.type = "button";
  btn.textContent = "⋯";
  btn.setAttribute("aria-label", "More actions");
  btn.setAttribute("aria-haspopup", "menu");
  btn.setAttribute("aria-expanded", "false");
  const menu = el("div", "bk-menu");
  menu.setAttribute("role", "menu");
  menu.hidden = true;
  const items = (e.options ?? []).map((o) => {
    const item = el("button", "bk-menu-item");
    item.type = "button";
    item.setAttribute("role", "menuitem");
    item.textContent = plain(o.text);
    item.addEventListener("click", () => {
      toggle(false);
      ctx.onOption({ blockId, actionId: e.action_id, value: o.value, confirm: e.confirm, label: plain(o.text) }, btn);
    });
    return item;
  });
  menu.append(...items);
  const outside = (ev) => {
    if (!wrap.contains(ev.target)) toggle(false);
  };
  function toggle(open) {
    menu.hidden = !open;
    btn.setAttribute("aria-expanded", String(open));
    if (open) {
      document.addEventListener("mousedown", outside);
      items[0]?.focus();
    } else document.removeEventListener("mousedown", outside);
  }
  btn.addEventListener("click", () => toggle(menu.hidden));
  menu.addEventListener("keydown", (ev) => {
    const i = items.indexOf(document.activeElement);
    if (ev.key === "Escape") {
      toggle(false);
      btn.focus();
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      items[(i + (ev.key === "ArrowDown" ? 1 : -1) + items.length) % items.length]?.focus();
    }
  });
  wrap.append(btn, menu);
  return wrap;
}

function elementEl(e, blockId, ctx) {
  if (e.type === "button") return buttonEl(e, blockId, ctx);
  if (e.type === "overflow") return overflowEl(e, blockId, ctx);
  if (e.type === "image") return el("span", "bk-context-image", [imageEl(e)]);
  if (e.type === "mrkdwn" || e.type === "plain_text") return textObject(e, ctx);
  // Interactive elements the bot does not send yet are shown by type, so nothing silently disappears.
  return el("span", "bk-unknown", [document.createTextNode(`[${e.type}]`)]);
}

function optionEl(value, text, selected) {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = text;
  opt.selected = selected;
  return opt;
}

/**
 * The control of an input block. `kept` is what the person entered in this block before (Slack keeps it
 * across views.update while block_id and action_id stay), else the element's initial value shows.
 */
function controlEl(e, id, kept, ctx) {
  if (e.type === "static_select" || e.type === "conversations_select") {
    const select = document.createElement("select");
    const choices =
      e.type === "static_select"
        ? (e.options ?? []).map((o) => ({ value: o.value, text: plain(o.text) }))
        : (ctx.conversations ?? []).map((c) => ({ value: c.id, text: `# ${c.name}` }));
    const initial =
      e.type === "static_select"
        ? (kept?.selected_option?.value ?? e.initial_option?.value)
        : (kept?.selected_conversation ?? e.initial_conversation ?? (e.default_to_current_conversation ? ctx.currentChannel : undefined));
    select.append(
      optionEl("", plain(e.placeholder) || "Select…", initial === undefined),
      ...choices.map((c) => optionEl(c.value, c.text, c.value === initial)),
    );
    select.id = id;
    return select;
  }
  if (e.type === "radio_buttons") {
    const group = el("div", "bk-radios");
    group.setAttribute("role", "radiogroup");
    group.id = id;
    const initial = kept?.selected_option?.value ?? e.initial_option?.value;
    (e.options ?? []).forEach((o, i) => {
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = id;
      radio.value = o.value;
      radio.id = `${id}-${i}`;
      radio.checked = o.value === initial;
      group.append(el("label", "", [radio, document.createTextNode(` ${plain(o.text)}`)]));
    });
    return group;
  }
  const control = document.createElement(e.multiline ? "textarea" : "input");
  if (e.placeholder) control.placeholder = plain(e.placeholder);
  control.value = kept ? (kept.value ?? "") : (e.initial_value ?? "");
  control.id = id;
  return control;
}

const inputId = (b) => `in-${b.block_id}-${b.element?.action_id ?? "x"}`;
const selected = (o) => (o ? { text: { type: "plain_text", text: plain(o.text), emoji: true }, value: o.value } : null);

/** What an input block holds now, as Slack puts it in `view.state.values[block_id][action_id]`. */
export function inputState(b, root) {
  const e = b.element ?? {};
  const id = inputId(b);
  if (e.type === "radio_buttons") {
    const picked = [...root.querySelectorAll(`input[name="${CSS.escape(id)}"]`)].find((r) => r.checked);
    return { type: e.type, selected_option: selected(picked && (e.options ?? []).find((x) => x.value === picked.value)) };
  }
  const v = root.querySelector(`#${CSS.escape(id)}`)?.value ?? "";
  if (e.type === "static_select") return { type: e.type, selected_option: selected((e.options ?? []).find((x) => x.value === v)) };
  if (e.type === "conversations_select") return { type: e.type, selected_conversation: v || null };
  return { type: "plain_text_input", value: v === "" ? null : v };
}

function inputEl(b, ctx) {
  const id = inputId(b);
  const e = b.element ?? {};
  const radios = e.type === "radio_buttons";
  const label = el(radios ? "span" : "label", "bk-input-label");
  if (radios) label.id = `${id}-label`;
  else label.htmlFor = id;
  label.textContent = plain(b.label);
  if (b.optional) label.append(el("span", "bk-optional", [document.createTextNode(" (optional)")]));
  const control = controlEl(e, id, ctx.form?.kept(b.block_id, e.action_id), ctx);
  if (radios) control.setAttribute("aria-labelledby", label.id);
  const error = el("div", "bk-error");
  error.id = `${id}-error`;
  const message = ctx.form?.error(b.block_id);
  if (message) {
    error.textContent = message;
    control.setAttribute("aria-invalid", "true");
  }
  const hint = b.hint ? el("div", "bk-hint", [textObject(b.hint, ctx)]) : null;
  if (hint) hint.id = `${id}-hint`;
  control.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  if (!ctx.form) {
    // A message can show an input block but nothing submits it.
    for (const c of [control, ...control.querySelectorAll("input")]) c.disabled = true;
  } else if (b.dispatch_action && e.type === "static_select") {
    control.addEventListener("change", () => control.value && ctx.form.onPick(b.block_id, control.value));
  }
  const wrap = el("div", "bk-input", [label, control, error, hint]);
  wrap.dataset.blockId = b.block_id;
  return wrap;
}

/** One block as a DOM node. */
export function blockEl(b, ctx) {
  switch (b.type) {
    case "header": {
      const h = el("div", "bk-header");
      h.setAttribute("role", "heading");
      h.setAttribute("aria-level", "3");
      h.append(textObject(b.text, ctx));
      return h;
    }
    case "section": {
      const body = el("div", "bk-section-body", [b.text ? el("div", "bk-section-text", [textObject(b.text, ctx)]) : null]);
      if (Array.isArray(b.fields) && b.fields.length)
        body.append(
          el(
            "div",
            "bk-fields",
            b.fields.map((f) => el("div", "bk-field", [textObject(f, ctx)])),
          ),
        );
      const acc = b.accessory
        ? el("div", "bk-accessory", [b.accessory.type === "image" ? imageEl(b.accessory) : elementEl(b.accessory, b.block_id, ctx)])
        : null;
      return el("div", "bk-section", [body, acc]);
    }
    case "context":
      return el(
        "div",
        "bk-context",
        (b.elements ?? []).map((e) => elementEl(e, b.block_id, ctx)),
      );
    case "divider":
      return el("hr", "bk-divider");
    case "actions":
      return el(
        "div",
        "bk-actions",
        (b.elements ?? []).map((e) => elementEl(e, b.block_id, ctx)),
      );
    case "image": {
      const fig = el("figure", "bk-image");
      if (b.title) fig.append(el("figcaption", "", [document.createTextNode(plain(b.title))]));
      fig.append(imageEl(b));
      return fig;
    }
    case "input":
      return inputEl(b, ctx);
    default:
      return el("div", "bk-unknown", [document.createTextNode(`[${b.type} block]`)]);
  }
}

/** A message body: its blocks when it has any, else its text. */
export function messageBody(m, ctx) {
  if (m.blocks && m.blocks.length)
    return el(
      "div",
      "bk-blocks",
      m.blocks.map((b) => blockEl(b, ctx)),
    );
  const d = el("div", "msg-text");
  d.innerHTML = mrkdwn(m.text, ctx);
  return d;
}
