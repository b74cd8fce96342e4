import { afterEach, describe, expect, it } from "vitest";
import { canaryObject, canaryType, FlaggerSim, type CanaryWebhook } from "../../sandbox/peers/flagger.ts";
import {
  CHANNEL,
  clickFollowed as click,
  followedMessageWith as messageWith,
  followedThread as thread,
  startHarness,
  type Harness,
} from "../support/bot-harness.ts";
import { crdValidator } from "../support/crd-schema.ts";
import { roleRules } from "../../src/kube/permissions.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 22, Flagger: the bot as a Flagger webhook gate. The real bot against the Kubernetes peer serving
 * Canaries (validated against the upstream CRD) and a simulated Flagger that calls the bot's gates over HTTP
 * with Flagger's body and reads the answers as Flagger does; the test ticks it, so each call is seen.
 * Clicks go over signed HTTP as Slack sends them.
 */

const NS = "prod";
const ALICE = "UALICE";
const BOB = "UBOB";
const GROUP = "S0SRE";
const TOKEN = "flagger-test-token-0123456789";
process.env.FLAGGER_SHOP_TOKEN_TEST = TOKEN;

const TARGETS = (policy = "") => `
targets:
  - name: shop
    namespace: ${NS}
    router: flagger
    flagger:
      channel: ${CHANNEL}
      tokenEnv: FLAGGER_SHOP_TOKEN_TEST
      notify: ${GROUP}
      pollInterval: 100
    policy:
      requireSecondApprover: true
${policy}`;

const HOOKS = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event", "post-rollout"];

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(opts: { policy?: string; stepWeight?: number; seed?: boolean } = {}): Promise<{ h: Harness; sim: FlaggerSim }> {
  h = await startHarness({
    targetsYaml: TARGETS(opts.policy),
    kube: { resources: [canaryType], validators: { canaries: crdValidator("flagger.app_crds.v1.44.0.yaml", "canaries.flagger.app") } },
  });
  if (opts.seed !== false) seedCanary(h, { ...(opts.stepWeight ? { stepWeight: opts.stepWeight } : {}) });
  const sim = new FlaggerSim(h.kube, NS, "shop");
  sim.deploy("7d9f5c6b8");
  return { h, sim };
}

function webhooksFor(h: Harness, token = TOKEN): CanaryWebhook[] {
  return HOOKS.map((type) => ({ name: `slack-${type}`, type, url: `${h.bot.healthUrl}/flagger/shop/${type}`, metadata: { token } }));
}

function seedCanary(h: Harness, opts: { stepWeight?: number; token?: string } = {}): void {
  if (h.kube.get("canaries", NS, "shop")) h.kube.remove("canaries", NS, "shop");
  h.kube.seed("canaries", NS, canaryObject("shop", { webhooks: webhooksFor(h, opts.token), ...(opts.stepWeight ? { stepWeight: opts.stepWeight } : {}) }));
}

/** Wait until the record shows what a click decided (the gate answers from it at Flagger's next call). */
async function recorded(h: Harness, id: string, test: (r: NonNullable<Awaited<ReturnType<Harness["bot"]["store"]["get"]>>>) => boolean, what: string) {
  return waitFor(
    async () => {
      const r = await h.bot.store.get(id);
      return r && test(r) ? r : undefined;
    },
    { what },
  );
}

/** Wait until the bot has read the Canary as the simulated Flagger last wrote it (so a later version change is not the poller's). */
async function readSettled(h: Harness, id: string, sim: FlaggerSim) {
  return recorded(
    h,
    id,
    (r) => r.flagger?.canary?.phase === sim.phase && r.flagger.canary.canaryWeight === sim.canaryWeight && r.flagger.phase === sim.phase,
    "the Canary read as written",
  );
}

const lastCall = (sim: FlaggerSim, type: string) => sim.calls.filter((c) => c.type === type).at(-1);

function post(h: Harness, path: string, body: unknown) {
  return fetch(`${h.bot.healthUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

describe("Flagger gated from Slack", () => {
  it("approves a canary through each gate, answers a replayed call from the decision, and completes it", async () => {
    const { h, sim } = await start();
    const id = "shop#1";
    await sim.tick();
    expect(lastCall(sim, "confirm-rollout")).toEqual({ type: "confirm-rollout", status: 403, phase: "Initialized" });
    expect(sim.phase).toBe("Waiting");
    const m = await messageWith(h, id, "`confirm-rollout` waiting");
    expect(JSON.stringify(m.blocks)).toContain("Flagger Canary shop: revision 7d9f5c6b8");

    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "confirm-rollout opened");
    await sim.tick();
    expect(lastCall(sim, "confirm-rollout")).toMatchObject({ status: 200, phase: "Waiting" });
    expect(sim.phase).toBe("Progressing");

    // A replayed call (Flagger retrying after a timeout) gets the same answer and changes nothing.
    const before = (await readSettled(h, id, sim)).version;
    const replay = await post(h, "/flagger/shop/confirm-rollout", {
      name: "shop",
      namespace: NS,
      phase: "Waiting",
      checksum: "7d9f5c6b8",
      metadata: { token: TOKEN },
    });
    expect(replay.status).toBe(200);
    expect((await h.bot.store.get(id))!.version).toBe(before);

    await sim.tick();
    expect(lastCall(sim, "confirm-traffic-increase")).toMatchObject({ status: 403 });
    await messageWith(h, id, "`confirm-traffic-increase` waiting");
    // The analysis settings and the checks come from reading the Canary, not from Flagger's calls.
    await messageWith(h, id, "stepWeight 25 · maxWeight 50 · threshold 2 · interval 10s");
    await messageWith(h, id, "failed 0 of 2");
    // One Approve answers one traffic increase: Flagger takes one step, then asks again.
    await click(h, id, ALICE, "Approve next step");
    await recorded(h, id, (r) => r.flagger!.opened.length === 2, "confirm-traffic-increase opened");
    await sim.tick();
    expect(sim.canaryWeight).toBe(25);
    await messageWith(h, id, "canary weight *25%*");
    // The thread tells the weight change once, from the Canary's status (Flagger's "Advance" event is not repeated).
    await waitFor(() => (thread(h, id).some((t) => t.includes("Canary weight 0% → *25%* (the Canary's status)")) ? true : undefined), {
      what: "weight line in thread",
    });
    expect(thread(h, id).filter((t) => t.includes("canary weight 25"))).toEqual([]);
    await sim.tick();
    expect(lastCall(sim, "confirm-traffic-increase")).toMatchObject({ status: 403 });
    expect(sim.canaryWeight).toBe(25);
    await messageWith(h, id, "(confirm-traffic-increase) (1 step approved so far");
    await click(h, id, BOB, "Approve next step");
    await recorded(h, id, (r) => r.flagger!.opened.length === 3, "second step opened");
    await sim.tick();
    expect(sim.canaryWeight).toBe(50);
    await messageWith(h, id, "canary weight *50%*");
    await sim.tick();
    expect(lastCall(sim, "confirm-promotion")).toMatchObject({ status: 403 });
    expect(sim.phase).toBe("WaitingPromotion");
    await messageWith(h, id, "`confirm-promotion` waiting");
    // Flagger's status reads 0 in WaitingPromotion while the router keeps maxWeight on the canary.
    expect(h.kube.get("canaries", NS, "shop")!.status).toMatchObject({ phase: "WaitingPromotion", canaryWeight: 0 });
    await messageWith(h, id, "canary weight *50%* (held at maxWeight");

    // Promotion takes all traffic: the final step, so the two-person rule applies to Alice, who approved first.
    await click(h, id, ALICE, "Approve");
    await waitFor(() => (h.slack.ephemeralsFor(ALICE).some((e) => (e.text ?? "").includes("started")) ? true : undefined), { what: "second approver refusal" });
    await sim.tick();
    expect(lastCall(sim, "confirm-promotion")).toMatchObject({ status: 403 });

    await click(h, id, BOB, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 4, "confirm-promotion opened");
    await sim.tick();
    expect(sim.phase).toBe("Promoting");
    await sim.tick();
    expect(sim.phase).toBe("Succeeded");
    await messageWith(h, id, "Succeeded: promoted to primary");
    await waitFor(() => (thread(h, id).some((t) => t.includes(`<@${BOB}> approved \`confirm-promotion\``)) ? true : undefined), { what: "Bob in thread" });
    await waitFor(() => (thread(h, id).some((t) => t.includes("Flagger: Promotion completed!")) ? true : undefined), { what: "completion in thread" });
    const { entries } = await h.bot.audit.timeline(id, 100);
    expect(entries.filter((e) => e.action === "approve" && e.outcome === "done").map((e) => e.actor)).toEqual([ALICE, ALICE, BOB, BOB]);
    // The Canary the simulated Flagger wrote is valid against the upstream CRD, status included.
    const canary = h.kube.get("canaries", NS, "shop")!;
    expect(canary.status).toMatchObject({ phase: "Succeeded", conditions: [{ type: "Promoted", status: "True" }] });
    expect(crdValidator("flagger.app_crds.v1.44.0.yaml", "canaries.flagger.app")(canary, "v1beta1")).toEqual([]);
  });

  it("Halt closes every gate; Roll back makes the rollback gate answer yes and the failure is broadcast", async () => {
    const { h, sim } = await start();
    const id = "shop#1";
    await sim.tick();
    await messageWith(h, id, "`confirm-rollout` waiting");
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "opened");
    await sim.tick();
    await sim.tick(); // waits at confirm-traffic-increase
    await messageWith(h, id, "`confirm-traffic-increase` waiting");
    await click(h, id, BOB, "Halt");
    await messageWith(h, id, `Halted by <@${BOB}>`);
    await sim.tick();
    expect(lastCall(sim, "confirm-traffic-increase")).toMatchObject({ status: 403 });
    expect(sim.canaryWeight).toBe(0);

    await click(h, id, ALICE, "Roll back");
    await recorded(h, id, (r) => r.flagger!.rollback !== undefined, "rollback asked");
    await sim.tick();
    expect(lastCall(sim, "rollback")).toMatchObject({ status: 200 });
    expect(sim.phase).toBe("Failed");
    await messageWith(h, id, "Canary analysis failed: rolled back");
    const alert = await waitFor(
      () => h.slack.messages(CHANNEL, { includeReplies: true }).find((x) => x.reply_broadcast && (x.text ?? "").includes("*failed*")),
      {
        what: "broadcast failure",
      },
    );
    expect(alert.text).toContain(`<!subteam^${GROUP}>`);
    // A replayed rollback call is answered the same and leaves the ended record alone.
    const before = (await h.bot.store.get(id))!.version;
    const again = await post(h, "/flagger/shop/rollback", {
      name: "shop",
      namespace: NS,
      phase: "Progressing",
      checksum: "7d9f5c6b8",
      metadata: { token: TOKEN },
    });
    expect(again.status).toBe(200);
    expect((await h.bot.store.get(id))!.version).toBe(before);
  });

  it("failed checks are shown, and Flagger's rollback after the threshold is broadcast with the group", async () => {
    const { h, sim } = await start();
    const id = "shop#1";
    await sim.tick();
    await messageWith(h, id, "`confirm-rollout` waiting");
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "opened");
    await sim.tick();
    await sim.tick();
    await messageWith(h, id, "`confirm-traffic-increase` waiting");
    await click(h, id, ALICE, "Approve next step");
    await recorded(h, id, (r) => r.flagger!.opened.length === 2, "opened");
    await sim.tick(); // weight 25
    sim.failing = true;
    await sim.tick(); // failed check 1
    await messageWith(h, id, "*Warnings*\\n1: Halt advancement no values found");
    // The Canary's own count, read from its status.
    await messageWith(h, id, "failed 1 of 2");
    await sim.tick(); // failed check 2: threshold, Flagger rolls back
    expect(sim.phase).toBe("Failed");
    await messageWith(h, id, "Canary analysis failed: rolled back");
    const alert = await waitFor(
      () => h.slack.messages(CHANNEL, { includeReplies: true }).find((x) => x.reply_broadcast && (x.text ?? "").includes("*failed*")),
      {
        what: "broadcast failure",
      },
    );
    expect(alert.text).toContain(`<!subteam^${GROUP}>`);
  });

  it("Approve all remaining steps lets every later increase through, under the policy and audited; a used step approval answers closed", async () => {
    const { h, sim } = await start({ stepWeight: 10, policy: `      advance: ["${ALICE}", "${BOB}"]` });
    const id = "shop#1";
    await sim.tick();
    await messageWith(h, id, "`confirm-rollout` waiting");
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "opened");
    await sim.tick();
    await sim.tick();
    await messageWith(h, id, "`confirm-traffic-increase` waiting");
    await click(h, id, ALICE, "Approve next step");
    await recorded(h, id, (r) => r.flagger!.opened.length === 2, "one step opened");
    await sim.tick();
    expect(sim.canaryWeight).toBe(10);
    // Flagger asking again (a retry, or its next tick) finds that approval used: closed, nothing moves.
    const again = await post(h, "/flagger/shop/confirm-traffic-increase", {
      name: "shop",
      namespace: NS,
      phase: "Progressing",
      checksum: "7d9f5c6b8",
      metadata: { token: TOKEN },
    });
    expect([again.status, await again.text()]).toEqual([403, "waiting"]);
    await messageWith(h, id, "Approve all remaining steps");

    // Someone the policy does not let advance is refused, privately, and nothing opens.
    await click(h, id, "UCAROL", "Approve all remaining steps");
    await waitFor(() => (h.slack.ephemeralsFor("UCAROL").length ? true : undefined), { what: "Carol's refusal" });
    await sim.tick();
    expect(sim.canaryWeight).toBe(10);

    await click(h, id, BOB, "Approve all remaining steps");
    await recorded(h, id, (r) => r.flagger!.opened.some((o) => o.steps === "all"), "all steps opened");
    for (const w of [20, 30, 40, 50]) {
      await sim.tick();
      expect(sim.canaryWeight).toBe(w);
    }
    expect(sim.calls.filter((c) => c.type === "confirm-traffic-increase").map((c) => c.status)).toEqual([403, 200, 403, 200, 200, 200, 200]);
    await messageWith(h, id, `every remaining step approved by <@${BOB}>`);
    await sim.tick();
    expect(lastCall(sim, "confirm-promotion")).toMatchObject({ status: 403 });
    const { entries } = await h.bot.audit.timeline(id, 100);
    expect(entries.filter((e) => e.outcome === "done" && e.action.startsWith("approve")).map((e) => `${e.action} ${e.actor}`)).toEqual([
      `approve ${ALICE}`,
      `approve ${ALICE}`,
      `approve-all ${BOB}`,
    ]);
    expect(entries.filter((e) => e.outcome === "refused" && e.action === "approve-all").map((e) => e.actor)).toEqual(["UCAROL"]);
    await waitFor(() => (thread(h, id).some((t) => t.includes(`<@${BOB}> approved every remaining traffic increase`)) ? true : undefined));
  });

  it("a target whose Canary does not exist, or whose webhooks carry another token, is said once in its channel at start-up", async () => {
    const { h } = await start({ seed: false });
    const said = (words: string) => h.slack.messages(CHANNEL).filter((m) => (m.text ?? "").includes(words));
    await waitFor(() => (said("there is no Flagger Canary `prod/shop`").length ? true : undefined), { what: "missing Canary said" });
    // Polled every 100 ms: still said only once.
    await new Promise((r) => setTimeout(r, 500));
    expect(said("there is no Flagger Canary `prod/shop`")).toHaveLength(1);
    seedCanary(h, { token: "a-token-from-another-bot-0000" });
    await waitFor(() => (said("carry no token or another one").length ? true : undefined), { what: "bad token said" });
    expect(said("carry no token or another one")[0]!.text).toContain("`confirm-rollout`");
    // Without the RBAC to read Canaries: said, with the API's reason.
    const saved = h.kube.rbac;
    h.kube.rbac = { rules: roleRules().filter((r) => !r.resources.includes("canaries")) };
    await waitFor(() => (said("could not be read").length ? true : undefined), { what: "forbidden said" });
    expect(said("could not be read")[0]!.text).toContain('cannot get resource "canaries" in API group "flagger.app"');
    h.kube.rbac = saved;
    seedCanary(h);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.slack.messages(CHANNEL)).toHaveLength(3);
    // Nothing was written to the cluster for it: the bot only reads Canaries.
    expect(h.kube.requests.filter((r) => r.resource === "canaries" && r.method !== "GET")).toEqual([]);
  });

  it("50 concurrent Approve clicks open the gate once", async () => {
    const { h, sim } = await start();
    const id = "shop#1";
    await sim.tick();
    const m = await messageWith(h, id, "`confirm-rollout` waiting");
    const approve = h.slack.findButton(CHANNEL, m.ts, "Approve");
    const users = Array.from({ length: 50 }, (_, i) => `UCLICK${i}`);
    await Promise.all(users.map((u) => h.driver.click({ userId: u, channelId: CHANNEL, messageTs: m.ts, button: approve })));
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "opened");
    const r = (await h.bot.store.get(id))!;
    expect(r.flagger!.opened).toHaveLength(1);
    expect(r.events.filter((e) => e.flagger?.code === "opened")).toHaveLength(1);
    const { entries } = await h.bot.audit.timeline(id, 200);
    expect(entries.filter((e) => e.action === "approve" && e.outcome === "done")).toHaveLength(1);
  });

  it("refuses a call without the token, with a bad token, for an unknown Canary or target, changing nothing, audited", async () => {
    const { h, sim } = await start();
    await sim.tick();
    const id = "shop#1";
    await messageWith(h, id, "`confirm-rollout` waiting");
    const before = (await readSettled(h, id, sim)).version;
    const body = { name: "shop", namespace: NS, phase: "Waiting", checksum: "7d9f5c6b8" };
    const cases: [string, unknown, number, string][] = [
      ["/flagger/shop/confirm-rollout", body, 401, "no token"],
      ["/flagger/shop/confirm-rollout", { ...body, metadata: { token: "not-the-token-at-all" } }, 401, "does not match"],
      ["/flagger/shop/confirm-rollout", { ...body, name: "other", metadata: { token: TOKEN } }, 404, "not prod/other"],
      ["/flagger/nope/confirm-rollout", { ...body, metadata: { token: TOKEN } }, 404, "no flagger target"],
      ["/flagger/shop/pre-rollout", { ...body, metadata: { token: TOKEN } }, 404, "unknown hook"],
      ["/flagger/shop/confirm-rollout", "{not json", 400, "not JSON"],
    ];
    for (const [path, b, status, words] of cases) {
      const res = await fetch(`${h.bot.healthUrl}${path}`, { method: "POST", body: typeof b === "string" ? b : JSON.stringify(b) });
      expect([res.status, await res.text()], path).toEqual([status, expect.stringContaining(words)]);
    }
    // A token in the URL is not read: the path has no place for it.
    expect((await post(h, `/flagger/shop/confirm-rollout?token=${TOKEN}`, body)).status).toBe(401);
    expect((await h.bot.store.get(id))!.version).toBe(before);
    const refused = (await h.bot.audit.recent(50)).filter((e) => e.action === "flagger-gate" && e.outcome === "refused");
    expect(refused.map((e) => e.reason)).toEqual(expect.arrayContaining([expect.stringContaining("no token"), expect.stringContaining("does not match")]));
    expect(refused.every((e) => e.via === "webhook")).toBe(true);
  });

  it("/rollout list, status and history, App Home and the audit trail include it; /rollout start is refused", async () => {
    const { h, sim } = await start();
    const id = "shop#1";
    await sim.tick();
    await messageWith(h, id, "`confirm-rollout` waiting");
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 1, "opened");
    const said = async (text: string, contains: string) => {
      await h.driver.slash({ userId: BOB, channelId: CHANNEL, text });
      return waitFor(
        () =>
          h.slack
            .ephemeralsFor(BOB)
            .map((e) => `${e.text ?? ""}${JSON.stringify(e.blocks ?? [])}`)
            .find((t) => t.includes(contains)),
        { what: `${text} answering ${contains}` },
      );
    };
    expect(await said("list", "`shop#1`")).toContain("started by Flagger");
    expect(await said("status shop", "Flagger Canary shop: revision 7d9f5c6b8")).toContain(`approved by <@${ALICE}>`);
    expect(await said("history shop#1", "*approve*")).toContain(ALICE);
    expect(await said("start shop --to v3", "gated for Flagger")).toContain("Canary `shop`");
    await h.driver.homeOpened({ userId: BOB });
    const home = await waitFor(() => {
      const text = JSON.stringify(h.slack.surfaces.homeOf(BOB)?.blocks ?? []);
      return text.includes(id) ? text : undefined;
    });
    expect(home).toContain("Started by Flagger");
    expect(home).toContain('"text":"Roll back"');
  });
});
