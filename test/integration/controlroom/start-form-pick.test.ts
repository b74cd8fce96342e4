import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { roleRules } from "../../../src/kube/permissions.ts";
import { readyWorkload, type KubeObject } from "../../../sandbox/peers/kube-api.ts";
import type { StoredView } from "../../../sandbox/peers/slack/surfaces.ts";
import { CHANNEL, startHarness, waitForMessage, type Harness } from "../../support/bot-harness.ts";
import { percentOnSplit } from "../../support/split.ts";
import { sleep, waitFor } from "../../support/wait.ts";

/**
 * Issue 15, the start form once a target is picked: the target select dispatches a block_actions, and the bot
 * rebuilds the form with views.update (view_id + hash): the Deployments of the target's namespace as versions
 * (or why there is no list), the target's steps and automatic interval prefilled. A form start the worker
 * later rejects is told to the starter privately (an ephemeral, else a direct message).
 *
 * The cluster holds only what is seeded here, and the bot's Role (src/kube/permissions.ts) is granted in some
 * namespaces only, as a RoleBinding per namespace would: listing in `locked` is the API server's own 403.
 */

const ALICE = "UALICE";
const QUIET = "C0QUIET"; // a channel the bot was never invited to
const TARGETS = `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
  - name: web
    namespace: shop
    stable: web-v1
    smi: { trafficSplit: web-ts }
    auto: { enabled: true, interval: 15m }
  - name: cart
    namespace: store
    stable: cart-v1
    smi: { trafficSplit: cart-ts }
  - name: vault
    namespace: locked
    stable: vault-v1
    smi: { trafficSplit: vault-ts }
  - name: slow
    namespace: slow
    stable: slow-v1
    smi: { trafficSplit: slow-ts }
`;

let h: Harness;

function seedDeployment(ns: string, name: string, replicas = 1): void {
  const saved = h.kube.seed("deployments", ns, readyWorkload("deployments", name, replicas)!);
  const generation = (saved.metadata as { generation: number }).generation;
  h.kube.setStatus("deployments", ns, name, { observedGeneration: generation, replicas, readyReplicas: replicas, availableReplicas: replicas });
}

function seedRouting(ns: string, apex: string, stable: string, canary: string, split: string): void {
  for (const s of [apex, stable, canary]) h.kube.seed("services", ns, readyWorkload("services", s)!);
  h.kube.seed("trafficsplits", ns, {
    kind: "TrafficSplit",
    metadata: { name: split, namespace: ns },
    spec: {
      service: apex,
      backends: [
        { service: stable, weight: 100 },
        { service: canary, weight: 0 },
      ],
    },
  } as KubeObject);
}

beforeAll(async () => {
  h = await startHarness({
    targetsYaml: TARGETS,
    implicitWorkloads: false,
    kube: { rbac: { rules: roleRules(), namespaces: ["default", "shop", "store", "slow"] } },
  });
  h.slack.addChannel({ id: QUIET, name: "quiet", botIsMember: false });
  seedRouting("default", "backend-svc", "backend-v1", "backend-v2", "backend-ts");
  seedDeployment("default", "backend-v1", 2);
  seedDeployment("default", "backend-v9");
  // Created a second later (creationTimestamp has second resolution): listed first although "v9" sorts after it.
  await sleep(1_100);
  seedDeployment("default", "backend-v2", 2);
  seedRouting("shop", "web", "web-v1", "web-v2", "web-ts");
  seedDeployment("shop", "web-v1");
  seedDeployment("shop", "web-v2");
  seedRouting("store", "cart", "cart-v1", "cart-v2", "cart-ts");
  seedDeployment("store", "cart-v1");
  seedDeployment("store", "cart-v2", 0); // scaled to zero: preflight refuses it
});
afterAll(async () => h?.close());

/** Open the form with `/rollout` in `channelId` and return the modal Slack shows ALICE. */
async function openForm(channelId = CHANNEL): Promise<StoredView> {
  const before = h.slack.callsOf("views.open").length;
  await h.driver.slash({ userId: ALICE, channelId, text: "" });
  const call = await waitFor(() => h.slack.callsOf("views.open")[before], { what: "views.open" });
  expect(call, JSON.stringify(call.error)).toMatchObject({ ok: true });
  return [...h.slack.surfaces.views.values()].filter((v) => v.type === "modal" && v.user === ALICE).at(-1)!;
}

/** Pick `target` in the form and return the form as views.update rebuilt it. */
async function pick(view: StoredView, target: string): Promise<StoredView> {
  const before = h.slack.callsOf("views.update").length;
  const res = await h.driver.pickInView({ userId: ALICE, viewId: view.id, blockId: "target", value: target });
  expect(res.status).toBe(200);
  const call = await waitFor(() => h.slack.callsOf("views.update")[before], { what: `views.update after picking ${target}` });
  expect(call, JSON.stringify(call.error)).toMatchObject({ ok: true, args: { view_id: view.id, hash: view.hash } });
  return h.slack.surfaces.views.get(view.id)!;
}

type Block = Record<string, any>;
const blockOf = (view: StoredView, prefix: string): Block | undefined =>
  view.blocks.find((b) => b.block_id === prefix || String(b.block_id).startsWith(`${prefix}:`));

/**
 * What Slack submits for this form: what the person entered in it (kept by the peer across views.update, as
 * Slack keeps it), else each input block's initial value (a prefill is a value), with `entered` laid over it
 * by block_id prefix (`version`, `steps`, ...). A select takes an option's value.
 */
function submitted(view: StoredView, entered: Record<string, string | null> = {}): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const b of view.blocks.filter((x) => x.type === "input") as Block[]) {
    const field = String(b.block_id).split(":")[0]!;
    const e = b.element as Block;
    const typed = field in entered ? entered[field] : undefined;
    let state: Record<string, unknown>;
    if (e.type === "static_select" || e.type === "radio_buttons") {
      const chosen = typed !== undefined ? (e.options as Block[]).find((o) => o.value === typed) : e.initial_option;
      if (typed && !chosen) throw new Error(`${b.block_id} offers no ${typed}`);
      state = { type: e.type, selected_option: chosen ?? null };
    } else if (e.type === "conversations_select") {
      state = { type: e.type, selected_conversation: typed !== undefined ? typed : (e.initial_conversation ?? null) };
    } else state = { type: e.type, value: typed !== undefined ? typed : (e.initial_value ?? null) };
    out[b.block_id] = typed === undefined && view.entered[b.block_id] ? view.entered[b.block_id]! : { [e.action_id]: state };
  }
  return out;
}

describe("picking a target rebuilds the form for it", () => {
  it("offers the namespace's Deployments, newest first and without the stable one, and prefills the target's steps", async () => {
    const view = await openForm();
    expect(blockOf(view, "target")).toMatchObject({ dispatch_action: true, element: { type: "static_select" } });
    const form = await pick(view, "backend-svc");
    const version = blockOf(form, "version")!;
    expect(version.block_id).toBe("version:backend-svc");
    expect(version.element.type).toBe("static_select");
    expect((version.element.options as Block[]).map((o) => o.value)).toEqual(["backend-v2", "backend-v9"]);
    expect(blockOf(form, "version_text")).toMatchObject({ optional: true, element: { type: "plain_text_input" } });
    // A new block_id per target, so Slack shows the prefill instead of keeping the old field's content.
    expect(blockOf(form, "steps")).toMatchObject({ block_id: "steps:backend-svc", element: { initial_value: "10,80,100" } });
    expect(blockOf(form, "mode")!.element.initial_option.value).toBe("manual");
    expect(blockOf(form, "interval")!.element.initial_value).toBeUndefined();
    // What the person already chose elsewhere stays: the picked target, the channel the form was opened in.
    expect(blockOf(form, "target")!.element.initial_option.value).toBe("backend-svc");
    expect(blockOf(form, "channel")!.element.initial_conversation).toBe(CHANNEL);
  });

  it("what the person entered in fields that do not depend on the target stays; the target's own show its prefill", async () => {
    const view = await openForm();
    // Typed before picking: steps (which the target's plan then replaces) and a deadline (which stays).
    h.slack.surfaces.enter(view.id, {
      steps: { steps: { type: "plain_text_input", value: "5,100" } },
      deadline: { deadline: { type: "plain_text_input", value: "2h" } },
    });
    const form = await pick(view, "backend-svc");
    expect(Object.keys(form.entered).sort()).toEqual(["deadline", "target"]);
    const values = submitted(form, { version: "backend-v9" });
    expect(values["steps:backend-svc"]).toEqual({ steps: { type: "plain_text_input", value: "10,80,100" } });
    expect(values.deadline).toEqual({ deadline: { type: "plain_text_input", value: "2h" } });
  });

  it("prefills automatic mode and its interval for a target that declares them", async () => {
    const form = await pick(await openForm(), "web");
    expect((blockOf(form, "version")!.element.options as Block[]).map((o) => o.value)).toEqual(["web-v2"]);
    expect(blockOf(form, "mode")).toMatchObject({ block_id: "mode:web", element: { initial_option: { value: "auto" } } });
    expect(blockOf(form, "interval")).toMatchObject({ block_id: "interval:web", element: { initial_value: "15m" } });
    // web declares no steps: the default plan.
    expect(blockOf(form, "steps")!.element.initial_value).toBe("10,50,100");
  });

  it("where the bot may not list Deployments (403), a text field says why", async () => {
    const form = await pick(await openForm(), "vault");
    const version = blockOf(form, "version")!;
    expect(version).toMatchObject({ block_id: "version:vault", element: { type: "plain_text_input" } });
    expect(version.optional).toBeUndefined(); // the only way to name the version: required
    expect(version.hint.text).toContain("I may not list the Deployments in namespace locked");
    expect(version.hint.text).toContain('cannot list resource "deployments" in API group "apps" in the namespace "locked"');
    expect(blockOf(form, "version_text")).toBeUndefined();
    const listed = h.kube.requests.filter((r) => r.namespace === "locked" && r.resource === "deployments");
    expect(listed.map((r) => r.status)).toEqual([403]);
  });

  it("an API slower than the form waits for gives the text field at once, saying so", async () => {
    h.kube.failNext({ method: "GET", pathIncludes: "/namespaces/slow/deployments", delayMs: 5_000 });
    const started = Date.now();
    const form = await pick(await openForm(), "slow");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(blockOf(form, "version")!.hint.text).toContain("did not list the Deployments in namespace slow within 3 s");
  });

  it("a rebuild for an older pick is refused by Slack (hash_conflict) and does not overwrite the newer one", async () => {
    const view = await openForm();
    // backend-svc's list is slow, web's is not: web's rebuild lands first and changes the view's hash.
    h.kube.failNext({ method: "GET", pathIncludes: "/namespaces/default/deployments", delayMs: 2_000 });
    const before = h.slack.callsOf("views.update").length;
    await Promise.all([
      h.driver.pickInView({ userId: ALICE, viewId: view.id, blockId: "target", value: "backend-svc" }),
      h.driver.pickInView({ userId: ALICE, viewId: view.id, blockId: "target", value: "web" }),
    ]);
    const calls = await waitFor(() => (h.slack.callsOf("views.update").length >= before + 2 ? h.slack.callsOf("views.update").slice(before) : undefined), {
      what: "both rebuilds",
    });
    expect(calls.map((c) => (c.ok ? "ok" : c.error))).toEqual(["ok", "hash_conflict"]);
    expect(calls.every((c) => c.args.hash === view.hash)).toBe(true);
    expect(blockOf(h.slack.surfaces.views.get(view.id)!, "target")!.element.initial_option.value).toBe("web");
  });
});

describe("submitting the rebuilt form", () => {
  it("with a Deployment picked from the list starts that rollout", async () => {
    const form = await pick(await openForm(), "backend-svc");
    const res = await h.driver.submitView({ userId: ALICE, viewId: form.id, values: submitted(form, { version: "backend-v2", steps: "20,100" }) });
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    expect(percentOnSplit(h.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2")).toBe(20);
    expect(await h.bot.store.get("backend-svc#1")).toMatchObject({ canary: "backend-v2", steps: [20, 100] });
  });

  it("a listed pick and a different typed name are not guessed between: the typed field asks to keep one", async () => {
    const form = await pick(await openForm(), "web");
    const res = await h.driver.submitView({ userId: ALICE, viewId: form.id, values: submitted(form, { version: "web-v2", version_text: "web-v3" }) });
    expect(res.body).toEqual({ response_action: "errors", errors: { "version_text:web": expect.stringContaining("keep one of the two") } });
    expect(await h.bot.store.get("web#1")).toBeUndefined();
  });

  it("a start preflight rejects (canary scaled to 0) is told to the starter in an ephemeral; nothing written, nothing posted", async () => {
    const form = await pick(await openForm(), "cart");
    const posts = h.slack.messages(CHANNEL).length;
    const res = await h.driver.submitView({ userId: ALICE, viewId: form.id, values: submitted(form, { version: "cart-v2" }) });
    expect(res.text).toBe(""); // accepted: the worker finds the problem
    const told = await waitFor(() => h.slack.ephemeralsFor(ALICE).find((e) => e.text.includes("Cannot start rollout of `cart`")), {
      what: "the ephemeral about cart",
    });
    expect(told).toMatchObject({ channel: CHANNEL, via: "chat.postEphemeral" });
    expect(told.text).toContain("cart-v2");
    expect(told.text).toContain("Nothing was changed");
    expect((await h.bot.store.get("cart#1"))?.status).toBe("rejected");
    expect(h.kube.mutations("trafficsplits", "store")).toEqual([]);
    expect(h.kube.get("trafficsplits", "store", "cart-ts")?.spec).toMatchObject({ backends: [{ weight: 100 }, { weight: 0 }] });
    expect(h.slack.messages(CHANNEL)).toHaveLength(posts);
    expect(h.slack.messages(ALICE)).toEqual([]); // the ephemeral was enough: no direct message
  });

  it("where Slack refuses the ephemeral (the bot is not in the channel), the starter gets a direct message", async () => {
    const form = await pick(await openForm(QUIET), "cart");
    const res = await h.driver.submitView({ userId: ALICE, viewId: form.id, values: submitted(form, { version: "cart-v2" }) });
    expect(res.text).toBe("");
    const dm = await waitFor(() => h.slack.messages(ALICE).find((m) => m.text.includes("Cannot start rollout of `cart`")), { what: "the DM about cart" });
    expect(dm.text).toContain("Nothing was changed");
    expect(h.slack.callsOf("chat.postEphemeral").filter((c) => c.args.channel === QUIET)).toEqual([
      expect.objectContaining({ ok: false, error: "not_in_channel" }),
    ]);
    expect(h.slack.messages(QUIET)).toEqual([]);
  });

  it("a started rollout whose channel refuses its message is told by direct message, naming the channel", async () => {
    const form = await pick(await openForm(QUIET), "web");
    // Manual chosen in the form is manual, although web declares automatic steps.
    const res = await h.driver.submitView({ userId: ALICE, viewId: form.id, values: submitted(form, { version: "web-v2", mode: "manual", interval: null }) });
    expect(res.text).toBe("");
    const dm = await waitFor(() => h.slack.messages(ALICE).find((m) => m.text.includes("cannot post its message")), { what: "the DM about the channel" });
    expect(dm.text).toContain(`in <#${QUIET}>`);
    expect(dm.text).toContain("`not_in_channel`");
    expect(dm.text).toContain("/rollout status web#1");
    expect(await h.bot.store.get("web#1")).toMatchObject({ status: "active", appliedPercent: 10 });
    expect((await h.bot.store.get("web#1"))?.auto).toBeUndefined();
  });
});
