import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../../sandbox/peers/kube-api.ts";
import { CHANNEL, startHarness, waitForMessage, type Harness } from "../../support/bot-harness.ts";
import { percentOnSplit } from "../../support/split.ts";
import { testRedis } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

/**
 * Issue 15: the start form. `/rollout` with no text (and the global shortcut) opens a modal through
 * views.open with the interaction's trigger; submitting it runs the same start as the command.
 */

const ALICE = "UALICE";
const TARGETS = `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
  - name: web
    namespace: default
    stable: web-v1
    smi: { trafficSplit: web-ts }
`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ targetsYaml: TARGETS });
  h.kube.seed("trafficsplits", "default", {
    kind: "TrafficSplit",
    metadata: { name: "backend-ts", namespace: "default" },
    spec: {
      service: "backend-svc",
      backends: [
        { service: "backend-v1", weight: 100 },
        { service: "backend-v2", weight: 0 },
      ],
    },
  } as KubeObject);
});
afterAll(async () => h?.close());

/** Open the form as ALICE with `/rollout` and return the modal Slack shows her. */
async function openForm() {
  const before = h.slack.callsOf("views.open").length;
  const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "" });
  expect(res.status).toBe(200);
  const call = await waitFor(() => h.slack.callsOf("views.open")[before], { what: "views.open" });
  expect(call, JSON.stringify(call.error)).toMatchObject({ ok: true });
  return [...h.slack.surfaces.views.values()].filter((v) => v.type === "modal" && v.user === ALICE).at(-1)!;
}

const values = (over: Record<string, Record<string, unknown>> = {}) => ({
  target: { target: { type: "static_select", selected_option: { value: "backend-svc" } } },
  version: { version: { type: "plain_text_input", value: "backend-v2" } },
  steps: { steps: { type: "plain_text_input", value: null } },
  mode: { mode: { type: "radio_buttons", selected_option: { value: "manual" } } },
  interval: { interval: { type: "plain_text_input", value: null } },
  deadline: { deadline: { type: "plain_text_input", value: null } },
  channel: { channel: { type: "conversations_select", selected_conversation: CHANNEL } },
  ...over,
});

describe("the start form", () => {
  it("opens with the interaction's trigger, listing each declared target with its router and stable version", async () => {
    const view = await openForm();
    const json = JSON.stringify(view.blocks);
    expect(view.title).toMatchObject({ text: "Start a rollout" });
    expect(json).toContain("backend-svc (smi in default, stable backend-v1)");
    expect(json).toContain("web (smi in default, stable web-v1)");
    // The slash command's channel is where the rollout will be posted, unless the person picks another.
    expect(json).toContain(`"initial_conversation":"${CHANNEL}"`);
    // A trigger works once: the peer refuses a second views.open with it, as Slack does.
    const used = h.slack.callsOf("views.open").at(-1)!.args.trigger_id;
    const again = await fetch(`${h.slack.apiUrl}views.open`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.botToken}`, "content-type": "application/json" },
      body: JSON.stringify({ trigger_id: used, view: { type: "modal", title: { type: "plain_text", text: "x" }, blocks: [] } }),
    });
    expect(await again.json()).toMatchObject({ ok: false, error: "invalid_trigger_id" });
  });

  it("a bad version is answered next to the field and nothing is written", async () => {
    const view = await openForm();
    const redis = testRedis();
    // Every request is remembered for replays (seen:{...}, issue 20); nothing else may be written.
    const stored = async () => (await redis.keys(`${h.prefix}:*`)).filter((k) => !k.startsWith(`${h.prefix}:seen:`)).sort();
    const keysBefore = await stored();
    const res = await h.driver.submitView({
      userId: ALICE,
      viewId: view.id,
      values: values({ version: { version: { type: "plain_text_input", value: "Backend_V2!" } } }),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ response_action: "errors", errors: { version: expect.stringContaining("not a valid Kubernetes name") } });
    expect(Object.keys((res.body as { errors: object }).errors)).toEqual(["version"]);
    // Automatic without an interval, and an interval too short: each said at its own field.
    const res2 = await h.driver.submitView({
      userId: ALICE,
      viewId: view.id,
      values: values({
        mode: { mode: { type: "radio_buttons", selected_option: { value: "auto" } } },
        deadline: { deadline: { type: "plain_text_input", value: "soon" } },
      }),
    });
    expect(res2.body).toMatchObject({
      response_action: "errors",
      errors: { interval: expect.stringContaining("need an interval"), deadline: expect.any(String) },
    });
    expect(await stored()).toEqual(keysBefore);
    await redis.quit();
    expect(h.slack.messages(CHANNEL)).toHaveLength(0);
    expect(percentOnSplit(h.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2")).toBe(0);
  });

  it("a refusal of the start itself (the version is already stable) lands on that field; nothing is created", async () => {
    const view = await openForm();
    const res = await h.driver.submitView({
      userId: ALICE,
      viewId: view.id,
      values: values({ version: { version: { type: "plain_text_input", value: "backend-v1" } } }),
    });
    expect(res.body).toMatchObject({ response_action: "errors", errors: { version: expect.stringContaining("backend-v1") } });
    expect(await h.bot.store.get("backend-svc#1")).toBeUndefined();
  });

  it("a valid submission starts the rollout exactly as the command does: TrafficSplit written, message posted, audited via modal", async () => {
    const view = await openForm();
    const res = await h.driver.submitView({
      userId: ALICE,
      viewId: view.id,
      values: values({ steps: { steps: { type: "plain_text_input", value: "20,100" } } }),
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe(""); // the form closes
    const m = await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    expect(m.text).toContain("backend-svc#1");
    expect(percentOnSplit(h.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2")).toBe(20);
    const { entries } = await h.bot.audit.timeline("backend-svc#1", 10);
    expect(entries.find((e) => e.action === "start")).toMatchObject({ actor: ALICE, via: "modal", outcome: "done" });
  });

  it("the global shortcut opens the same form, with no channel chosen for the person", async () => {
    const before = h.slack.callsOf("views.open").length;
    const res = await h.driver.shortcut({ userId: ALICE, callbackId: "rollout_new" });
    expect(res.status).toBe(200);
    await waitFor(() => h.slack.callsOf("views.open")[before], { what: "views.open from the shortcut" });
    const view = [...h.slack.surfaces.views.values()].filter((v) => v.user === ALICE).at(-1)!;
    expect(view.callback_id).toBe("rollout.start-form");
    expect(JSON.stringify(view.blocks)).toContain('"default_to_current_conversation":true');
  });
});
