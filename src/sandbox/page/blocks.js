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
  if (target.startsWith("#")) return `<span class="mention">#${escapeHtml(label ?? target.slice(1))}</span>`;
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

function elementEl(e, blockId, ctx) {
  if (e.type === "button") return buttonEl(e, blockId, ctx);
  if (e.type === "image") return el("span", "bk-context-image", [imageEl(e)]);
  if (e.type === "mrkdwn" || e.type === "plain_text") return textObject(e, ctx);
  // Interactive elements the bot does not send yet are shown by type, so nothing silently disappears.
  return el("span", "bk-unknown", [document.createTextNode(`[${e.type}]`)]);
}

function inputEl(b, ctx) {
  const id = `in-${b.block_id}-${b.element?.action_id ?? "x"}`;
  const label = el("label", "bk-input-label");
  label.htmlFor = id;
  label.textContent = plain(b.label);
  let control;
  const e = b.element ?? {};
  if (e.type === "static_select") {
    control = document.createElement("select");
    for (const o of e.options ?? []) {
      const opt = document.createElement("option");
      opt.value = o.value;
      opt.textContent = plain(o.text);
      control.append(opt);
    }
  } else {
    control = document.createElement(e.multiline ? "textarea" : "input");
    if (e.placeholder) control.placeholder = plain(e.placeholder);
    if (e.initial_value) control.value = e.initial_value;
  }
  control.id = id;
  control.disabled = true; // modals are not submitted from the channel view
  return el("div", "bk-input", [label, control, b.hint ? el("div", "bk-hint", [textObject(b.hint, ctx)]) : null]);
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
