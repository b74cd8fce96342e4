import { afterEach, describe, expect, it } from "vitest";
import { analysisRunType, ArgoRolloutsSim, rolloutObject, rolloutType } from "../../sandbox/peers/argo-rollouts.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import {
  CHANNEL,
  clickFollowed as click,
  followedMessage as parent,
  followedMessageWith as messageWith,
  followedThread as thread,
  startHarness,
  type Harness,
} from "../support/bot-harness.ts";
import { crdValidator } from "../support/crd-schema.ts";
import { waitFor } from "../support/wait.ts";
import { roleRules } from "../../src/kube/permissions.ts";

/**
 * Issue 22: a Rollout that Argo Rollouts runs, followed and steered from Slack. The real bot against the
 * Kubernetes peer serving Rollouts and AnalysisRuns (validated against the upstream CRDs) with a simulated
 * controller that the test ticks, so each step is seen; clicks go over signed HTTP as Slack sends them.
 */

const NS = "prod";
const ALICE = "UALICE";
const BOB = "UBOB";
const GROUP = "S0SRE";
const STEPS = [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }];

const TARGETS = (extra = "") => `
targets:
  - name: shop
    namespace: ${NS}
    router: argo-rollouts
    argoRollouts:
      channel: ${CHANNEL}
      pollInterval: 100
      notify: ${GROUP}
    policy:
      requireSecondApprover: true
${extra}`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(steps: Record<string, unknown>[] = STEPS, extra = ""): Promise<{ h: Harness; sim: ArgoRolloutsSim }> {
  h = await startHarness({
    targetsYaml: TARGETS(extra),
    kube: {
      resources: [rolloutType, analysisRunType],
      validators: { rollouts: crdValidator("argoproj.io_rollouts.v1.9.1.yaml"), analysisruns: crdValidator("argoproj.io_analysisruns.v1.9.1.yaml") },
    },
  });
  const sim = new ArgoRolloutsSim(h.kube);
  h.kube.seed("rollouts", NS, rolloutObject("shop", { image: "shop:1.0", steps }));
  sim.tick(NS, "shop"); // the first revision is stable at once
  return { h, sim };
}

/** A person deploys a new image: the controller starts revision 2. */
function deploy(h: Harness, sim: ArgoRolloutsSim, image: string): void {
  h.kube.edit("rollouts", NS, "shop", (o) => {
    (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image = image;
  });
  sim.tick(NS, "shop");
}

const statusPatches = (h: Harness) => h.kube.mutations("rollouts", NS, "shop").filter((r) => r.subresource === "status");
const mainPatches = (h: Harness) => h.kube.mutations("rollouts", NS, "shop").filter((r) => r.method === "PATCH" && r.subresource === undefined);

/** Tick the controller until the bot's request has landed and the Rollout settled on its next stop. */
async function afterRequest(h: Harness, sim: ArgoRolloutsSim, count: number): Promise<KubeObject> {
  await waitFor(() => (h.kube.mutations("rollouts", NS, "shop").filter((r) => r.method === "PATCH").length >= count ? true : undefined), {
    what: `${count} PATCH requests to the Rollout`,
  });
  let ro = sim.tick(NS, "shop");
  for (let i = 0; i < 5; i++) ro = sim.tick(NS, "shop");
  return ro;
}

describe("Argo Rollouts from Slack", () => {
  it("follows a new revision and promotes it step by step, each click exactly the plugin's request, with who in the thread", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop"); // setWeight 20 done, at the pause
    sim.tick(NS, "shop");
    const id = "shop#1";
    const m = await messageWith(h, id, "CanaryPauseStep");
    const blocks = JSON.stringify(m.blocks);
    expect(blocks).toContain("shop:2.0");
    expect(blocks).toContain("*▶ pause*");
    expect(blocks).toContain("~setWeight: 20~");
    expect(blocks).toContain("canary *20%*");
    expect(blocks).toContain("waits for Promote");

    await click(h, id, ALICE, "Promote");
    await afterRequest(h, sim, 1);
    expect(statusPatches(h).map((r) => r.body)).toEqual([{ status: { pauseConditions: null } }]);
    await messageWith(h, id, "~setWeight: 60~  →  *▶ pause*"); // at the second pause (the last step)
    await messageWith(h, id, "canary *60%*");
    await waitFor(() => (thread(h, id).some((t) => t.includes(`<@${ALICE}> sent \`promote\` at step 2`)) ? true : undefined));
    await waitFor(() => (thread(h, id).some((t) => t.includes("Step 4/4 reached: `pause`") && t.includes(`<@${ALICE}>`)) ? true : undefined));

    // The last promote completes the revision: the final step, so the two-person rule applies to Alice.
    const refused = await click(h, id, ALICE, "Promote");
    expect(refused.status).toBe(200);
    await waitFor(() => (h!.slack.ephemeralsFor(ALICE).some((e) => (e.text ?? "").includes("started")) ? true : undefined));
    expect(statusPatches(h)).toHaveLength(1);

    await click(h, id, BOB, "Promote");
    await afterRequest(h, sim, 2);
    await messageWith(h, id, "Completed");
    const r = await h.bot.store.get(id);
    expect(r?.status).toBe("completed");
    expect(h.kube.get("rollouts", NS, "shop")!.status).toMatchObject({ phase: "Healthy" });
    // Never the spec beyond what the plugin sends: no main-resource write at all here (never paused by hand).
    expect(mainPatches(h)).toHaveLength(0);
  });

  it("Promote fully asks first, then sends promoteFull to /status; a click on a step that has passed is refused", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    const m = await messageWith(h, id, "CanaryPauseStep");
    const full = h.slack.findButton(CHANNEL, m.ts, "Promote fully");
    expect(JSON.stringify(full)).toContain("skips every remaining step");

    // The controller moves on (someone ran the plugin) before Bob clicks on the message he saw.
    const stalePromote = h.slack.findButton(CHANNEL, m.ts, "Promote");
    h.kube.setStatus("rollouts", NS, "shop", { ...(h.kube.get("rollouts", NS, "shop")!.status as object), pauseConditions: undefined });
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    await messageWith(h, id, "canary *60%*");
    await h.driver.click({ userId: BOB, channelId: CHANNEL, messageTs: m.ts, button: stalePromote });
    await waitFor(() => (h.slack.ephemeralsFor(BOB).some((e) => (e.text ?? "").includes("has moved on to step 4")) ? true : undefined));
    expect(statusPatches(h)).toHaveLength(0);

    await click(h, id, BOB, "Promote fully");
    await afterRequest(h, sim, 1);
    expect(statusPatches(h).map((r) => r.body)).toEqual([{ status: { promoteFull: true } }]);
    await messageWith(h, id, "Completed");
  });

  it("Abort sends abort to /status and is broadcast with the group; Retry sends abort=false and the steps run again", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    await messageWith(h, id, "CanaryPauseStep");
    await click(h, id, ALICE, "Abort");
    await afterRequest(h, sim, 1);
    expect(statusPatches(h).map((r) => r.body)).toEqual([{ status: { abort: true } }]);
    await messageWith(h, id, "Aborted: all traffic on stable");
    const broadcast = await waitFor(() =>
      h.slack.messages(CHANNEL, { includeReplies: true }).find((x) => x.reply_broadcast && (x.text ?? "").includes(`<!subteam^${GROUP}>`)),
    );
    expect(broadcast.text).toContain("Aborted");
    expect(broadcast.text).toContain("Rollout aborted update to revision 2");

    await click(h, id, BOB, "Retry");
    await afterRequest(h, sim, 2);
    expect(statusPatches(h).map((r) => r.body)).toEqual([{ status: { abort: true } }, { status: { abort: false } }]);
    await messageWith(h, id, "CanaryPauseStep");
    await waitFor(() => (thread(h, id).some((t) => t.includes("Retrying after the abort") && t.includes(`<@${BOB}>`)) ? true : undefined));
  });

  it("shows a failing analysis with its metric and broadcasts it", async () => {
    const { h, sim } = await start([{ setWeight: 20 }, { analysis: { templates: [{ templateName: "success-rate" }] } }, { setWeight: 100 }]);
    sim.analysis = "Failed";
    deploy(h, sim, "shop:3.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    const m = await messageWith(h, id, "Aborted");
    expect(JSON.stringify(m.blocks)).toContain("success-rate");
    expect(JSON.stringify(m.blocks)).toContain("0 ok / 1 failed of 3");
    const alerts = await waitFor(() => {
      const found = h.slack.messages(CHANNEL, { includeReplies: true }).filter((x) => x.reply_broadcast);
      return found.length >= 2 ? found : undefined;
    });
    expect(alerts.map((x) => x.text).join("\n")).toMatch(/Analysis `shop-[0-9a-f]+-2-1` Failed/);
  });

  it("50 concurrent Promote clicks send one promote request", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    const m = await messageWith(h, id, "CanaryPauseStep");
    const promote = h.slack.findButton(CHANNEL, m.ts, "Promote");
    const users = Array.from({ length: 50 }, (_, i) => `UCLICK${i}`);
    await Promise.all(users.map((u) => h.driver.click({ userId: u, channelId: CHANNEL, messageTs: m.ts, button: promote })));
    await afterRequest(h, sim, 1);
    await messageWith(h, id, "canary *60%*");
    expect(statusPatches(h)).toHaveLength(1);
    expect(h.kube.mutations("rollouts", NS, "shop").filter((r) => r.method === "PATCH")).toHaveLength(1);
  });

  it("/rollout list, status and history, App Home and the audit trail include it; /rollout start is refused", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    await messageWith(h, id, "CanaryPauseStep");
    await click(h, id, ALICE, "Promote");
    await afterRequest(h, sim, 1);
    await messageWith(h, id, "canary *60%*");

    const said = async (text: string, contains: string) => {
      await h.driver.slash({ userId: BOB, channelId: CHANNEL, text });
      return waitFor(
        () =>
          h.slack
            .ephemeralsFor(BOB)
            .map((e) => `${e.text ?? ""}${JSON.stringify(e.blocks ?? [])}`)
            .find((t) => t.includes(contains)),
        {
          what: `${text} answering ${contains}`,
        },
      );
    };
    expect(await said("list", "`shop#1`")).toContain("started by Argo Rollouts");
    expect(await said("status shop", "Argo Rollout shop: revision 2")).toContain("~setWeight: 60~");
    expect(await said("history shop#1", "*promote*")).toContain(ALICE);
    expect(await said("start shop --to v3", "followed from Argo Rollouts")).toContain("kubectl argo rollouts set image");

    await h.driver.homeOpened({ userId: BOB });
    const home = await waitFor(() => {
      const text = JSON.stringify(h.slack.surfaces.homeOf(BOB)?.blocks ?? []);
      return text.includes(id) ? text : undefined;
    });
    expect(home).toContain("Started by Argo Rollouts");
    expect(home).toContain('"text":"Promote fully"');
    const { entries } = await h.bot.audit.timeline(id, 50);
    expect(entries.find((e) => e.action === "promote" && e.actor === ALICE)).toMatchObject({ outcome: "done", via: "button" });
  });

  it("without the RBAC to patch rollouts/status, Promote is told in the thread with the API's reason and the buttons come back", async () => {
    const { h, sim } = await start();
    deploy(h, sim, "shop:2.0");
    sim.tick(NS, "shop");
    sim.tick(NS, "shop");
    const id = "shop#1";
    await messageWith(h, id, "CanaryPauseStep");
    h.kube.rbac = { rules: roleRules().filter((r) => !r.resources.includes("rollouts/status")) };
    await click(h, id, ALICE, "Promote");
    await waitFor(() =>
      thread(h, id).some((t) => t.includes("was not sent: the Kubernetes API refused it") && t.includes("rollouts/status")) ? true : undefined,
    );
    await waitFor(() => {
      const blocks = JSON.stringify(parent(h, id)?.blocks ?? []);
      return blocks.includes('"text":"Promote"') && !blocks.includes("Sending") ? true : undefined;
    });
    expect(h.kube.get("rollouts", NS, "shop")!.status).toMatchObject({ currentStepIndex: 1, phase: "Paused" });
  });

  it("refuses a target whose Rollout does not exist or is blue-green, in its channel, changing nothing", async () => {
    const { h } = await start(STEPS);
    h.kube.remove("rollouts", NS, "shop");
    await waitFor(() => h.slack.messages(CHANNEL).find((x) => (x.text ?? "").includes("there is no Argo Rollout `prod/shop`")));
    const bg = rolloutObject("shop", { image: "shop:1.0", steps: [] });
    (bg.spec as { strategy: unknown }).strategy = { blueGreen: { activeService: "shop-active" } };
    h.kube.seed("rollouts", NS, bg);
    await waitFor(() => h.slack.messages(CHANNEL).find((x) => (x.text ?? "").includes("blue-green strategy")));
    expect(h.kube.mutations("rollouts").filter((r) => r.method === "PATCH")).toHaveLength(0);
  });
});
