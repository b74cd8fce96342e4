import { describe, expect, it } from "vitest";
import { versionChoices, type PickedTarget } from "../../src/app/start-form.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { validateBlocks, VIEW_MAX_BLOCKS } from "../../sandbox/peers/slack/block-kit-limits.ts";
import { errorsForBlocks, formChannel, noVersionListText, readStartForm, startFormView, typedVersion } from "../../src/slack/views/start-form.ts";
import { cannotPostText, startRejectedText } from "../../src/slack/views/starter-notes.ts";

/** Issue 15: the start form rebuilt for a picked target, and the reading of what comes back. Pure functions. */

const target = TargetSchema.parse({ name: "backend-svc", namespace: "shop", stable: "backend-v1", smi: { trafficSplit: "backend-ts" }, steps: [5, 50, 100] });
const picked = (over: Partial<PickedTarget> = {}): PickedTarget => ({
  target,
  steps: [5, 50, 100],
  versions: { ok: true, value: ["backend-v3", "backend-v2"] },
  ...over,
});
type Block = Record<string, any>;
const blocks = (view: Record<string, unknown>) => view.blocks as Block[];
const block = (view: Record<string, unknown>, id: string) => blocks(view).find((b) => b.block_id === id);

/** A submission shaped as Slack sends it: block_id -> action_id -> state. */
const sent = (entries: Record<string, Record<string, unknown>>) =>
  Object.fromEntries(Object.entries(entries).map(([blockId, state]) => [blockId, { [blockId.split(":")[0]!]: state }]));
const base = {
  target: { type: "static_select", selected_option: { value: "backend-svc" } },
  "steps:backend-svc": { type: "plain_text_input", value: "5,50,100" },
  "mode:backend-svc": { type: "radio_buttons", selected_option: { value: "manual" } },
  "interval:backend-svc": { type: "plain_text_input", value: null },
  deadline: { type: "plain_text_input", value: null },
  channel: { type: "conversations_select", selected_conversation: "C1" },
};

describe("the versions offered", () => {
  it("are newest first, ties by name with v10 before v9, without the stable one, duplicates or overlong names, at most 100", () => {
    const seen = [
      { name: "web-v9", createdAt: 1_000 },
      { name: "web-v10", createdAt: 1_000 },
      { name: "web-v1", createdAt: 5_000 },
      { name: "web-canary", createdAt: 9_000 },
      { name: "web-v9", createdAt: 1_000 },
      { name: "web-old" },
      { name: `web-${"x".repeat(70)}`, createdAt: 9_999 },
    ];
    expect(versionChoices(seen, "web-v1")).toEqual(["web-canary", "web-v10", "web-v9", "web-old"]);
    expect(versionChoices(seen, undefined, 2)).toEqual(["web-canary", "web-v1"]);
    const many = Array.from({ length: 150 }, (_, i) => ({ name: `d${i}`, createdAt: i }));
    expect(versionChoices(many, undefined)).toHaveLength(100);
    expect(versionChoices(many, undefined)[0]).toBe("d149");
  });
});

describe("the form for a picked target", () => {
  it("lists the Deployments with a text field beside them, both optional, and prefills the target's plan", () => {
    const view = startFormView({ targets: [target], channelId: "C1", picked: picked() });
    expect(validateBlocks(blocks(view), { maxBlocks: VIEW_MAX_BLOCKS })).toEqual([]);
    expect(block(view, "target")).toMatchObject({
      dispatch_action: true,
      element: { action_id: "rollout.form.target", initial_option: { value: "backend-svc" } },
    });
    const version = block(view, "version:backend-svc")!;
    expect(version).toMatchObject({ optional: true, element: { type: "static_select" } });
    expect(version.element.options.map((o: Block) => o.value)).toEqual(["backend-v3", "backend-v2"]);
    expect(version.hint.text).toBe("Deployments in namespace shop, except the stable backend-v1.");
    expect(block(view, "version_text:backend-svc")).toMatchObject({ optional: true, element: { type: "plain_text_input" } });
    expect(block(view, "steps:backend-svc")!.element.initial_value).toBe("5,50,100");
    expect(block(view, "mode:backend-svc")!.element.initial_option.value).toBe("manual");
    // Blocks that do not depend on the target keep their block_id: Slack keeps what the person entered there.
    expect(block(view, "deadline")).toBeDefined();
    expect(formChannel(view.private_metadata)).toBe("C1");
  });

  it("prefills automatic mode with the target's interval", () => {
    const view = startFormView({ targets: [target], picked: picked({ autoMs: 90 * 60_000 }) });
    expect(block(view, "mode:backend-svc")!.element.initial_option.value).toBe("auto");
    expect(block(view, "interval:backend-svc")!.element.initial_value).toBe("1h30m");
    expect(view.private_metadata).toBeUndefined();
  });

  it("without a list, has one required text field saying why, keeping what the person had typed", () => {
    const why = { code: "forbidden" as const, message: 'deployments.apps is forbidden: User "bot" cannot list resource "deployments"' };
    const view = startFormView({ targets: [target], picked: picked({ versions: { ok: false, error: why } }), typedVersion: "backend-v7" });
    expect(validateBlocks(blocks(view), { maxBlocks: VIEW_MAX_BLOCKS })).toEqual([]);
    const version = block(view, "version:backend-svc")!;
    expect(version.optional).toBeUndefined();
    expect(version.element).toMatchObject({ type: "plain_text_input", initial_value: "backend-v7" });
    expect(version.hint.text).toBe(`I may not list the Deployments in namespace shop (the Kubernetes API said: ${why.message}). Type the name.`);
    expect(block(view, "version_text:backend-svc")).toBeUndefined();
  });

  it("says why there is no list, for each reason", () => {
    expect(noVersionListText({ code: "timeout", timeoutMs: 3_000 }, "shop")).toBe(
      "The Kubernetes API did not list the Deployments in namespace shop within 3 s. Type the name.",
    );
    expect(noVersionListText({ code: "unreachable", message: "connect ECONNREFUSED" }, "shop")).toContain("could not reach the Kubernetes API");
    expect(noVersionListText({ code: "failed", status: 500, message: "etcd down" }, "shop")).toContain("failed (HTTP 500: etcd down)");
    expect(noVersionListText({ code: "no-kube-api" }, "shop")).toContain("no Kubernetes API");
    expect(noVersionListText({ code: "none-found" }, "shop")).toBe("Namespace shop has no Deployment besides the stable one. Type the name.");
  });

  it("carries a typed version into the rebuilt form, not a picked option", () => {
    expect(typedVersion(sent({ version: { type: "plain_text_input", value: " backend-v4 " } }))).toBe("backend-v4");
    expect(typedVersion(sent({ "version:web": { type: "static_select", selected_option: { value: "web-v2" } } }))).toBeUndefined();
    expect(typedVersion(undefined)).toBeUndefined();
    expect(formChannel('{"channelId":"not a channel"}')).toBeUndefined();
    expect(formChannel("{")).toBeUndefined();
  });
});

describe("reading the rebuilt form", () => {
  it("finds each field by its block_id prefix and reads a picked Deployment", () => {
    const out = readStartForm(sent({ ...base, "version:backend-svc": { type: "static_select", selected_option: { value: "backend-v3" } } }));
    expect(out).toEqual({ ok: true, value: { channelId: "C1", req: { target: "backend-svc", to: "backend-v3", steps: [5, 50, 100], manual: true } } });
  });

  it("takes the typed name when only it is given, or when both say the same", () => {
    const typed = { type: "plain_text_input", value: "backend-v9" };
    const none = { type: "static_select", selected_option: null };
    expect(readStartForm(sent({ ...base, "version:backend-svc": none, "version_text:backend-svc": typed }))).toMatchObject({
      ok: true,
      value: { req: { to: "backend-v9" } },
    });
    const same = { type: "static_select", selected_option: { value: "backend-v9" } };
    expect(readStartForm(sent({ ...base, "version:backend-svc": same, "version_text:backend-svc": typed }))).toMatchObject({
      ok: true,
      value: { req: { to: "backend-v9" } },
    });
  });

  it("asks to keep one when the list and the text disagree, and places every error under the block the form has", () => {
    const values = sent({
      ...base,
      "version:backend-svc": { type: "static_select", selected_option: { value: "backend-v3" } },
      "version_text:backend-svc": { type: "plain_text_input", value: "backend-v9" },
      "steps:backend-svc": { type: "plain_text_input", value: "50,10" },
    });
    const out = readStartForm(values);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(errorsForBlocks(values, out.errors)).toEqual({
      "version_text:backend-svc": "You picked backend-v3 in the list and typed backend-v9: keep one of the two.",
      "steps:backend-svc": expect.stringContaining("50"),
    });
  });

  it("puts a missing version under the list, and a refusal about the version where it came from", () => {
    const empty = sent({
      ...base,
      "version:backend-svc": { type: "static_select", selected_option: null },
      "version_text:backend-svc": { type: "plain_text_input", value: null },
    });
    const out = readStartForm(empty);
    expect(!out.ok && errorsForBlocks(empty, out.errors)).toEqual({ "version:backend-svc": "Which version should get the traffic?" });
    const typed = sent({ ...base, "version_text:backend-svc": { type: "plain_text_input", value: "backend-v1" } });
    expect(errorsForBlocks(typed, { version: "already stable" })).toEqual({ "version_text:backend-svc": "already stable" });
    expect(errorsForBlocks(typed, { target: "busy", mode: "no metrics" })).toEqual({ target: "busy", "mode:backend-svc": "no metrics" });
  });
});

describe("what the starter is told privately", () => {
  it("names the channel when the note about it goes by direct message", () => {
    const r = { id: "web#1", channel: "C0QUIET" };
    expect(cannotPostText(r, "not_in_channel")).toContain("cannot post its message here (Slack says `not_in_channel`): invite me to this channel.");
    expect(cannotPostText(r, "not_in_channel", "dm")).toContain("cannot post its message in <#C0QUIET> (Slack says `not_in_channel`): invite me there.");
    expect(startRejectedText({ target, problem: "`backend-v2` is scaled to 0" })).toBe(
      ":no_entry: Cannot start rollout of `backend-svc`: `backend-v2` is scaled to 0. Nothing was changed.",
    );
  });
});
