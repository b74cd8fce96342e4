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

const TARGETS = `
targets:
  - name: shop
    namespace: ${NS}
    router: flagger
    flagger:
      channel: ${CHANNEL}
      tokenEnv: FLAGGER_SHOP_TOKEN_TEST
      notify: ${GROUP}
    policy:
      requireSecondApprover: true
`;

const HOOKS = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event", "post-rollout"];

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(): Promise<{ h: Harness; sim: FlaggerSim }> {
  h = await startHarness({
    targetsYaml: TARGETS,
    kube: { resources: [canaryType], validators: { canaries: crdValidator("flagger.app_crds.v1.44.0.yaml", "canaries.flagger.app") } },
  });
  const webhooks: CanaryWebhook[] = HOOKS.map((type) => ({
    name: `slack-${type}`,
    type,
    url: `${h!.bot.healthUrl}/flagger/shop/${type}`,
    metadata: { token: TOKEN },
  }));
  h.kube.seed("canaries", NS, canaryObject("shop", { webhooks }));
  const sim = new FlaggerSim(h.kube, NS, "shop");
  sim.deploy("7d9f5c6b8");
  return { h, sim };
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
    const before = (await h.bot.store.get(id))!.version;
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
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 2, "confirm-traffic-increase opened");
    await sim.tick();
    await sim.tick();
    expect(sim.canaryWeight).toBe(50);
    await messageWith(h, id, "canary weight *50%*");
    await sim.tick();
    expect(lastCall(sim, "confirm-promotion")).toMatchObject({ status: 403 });
    expect(sim.phase).toBe("WaitingPromotion");
    await messageWith(h, id, "`confirm-promotion` waiting");

    // Promotion takes all traffic: the final step, so the two-person rule applies to Alice, who approved first.
    await click(h, id, ALICE, "Approve");
    await waitFor(() => (h.slack.ephemeralsFor(ALICE).some((e) => (e.text ?? "").includes("started")) ? true : undefined), { what: "second approver refusal" });
    await sim.tick();
    expect(lastCall(sim, "confirm-promotion")).toMatchObject({ status: 403 });

    await click(h, id, BOB, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 3, "confirm-promotion opened");
    await sim.tick();
    expect(sim.phase).toBe("Promoting");
    await sim.tick();
    expect(sim.phase).toBe("Succeeded");
    await messageWith(h, id, "Succeeded: promoted to primary");
    await waitFor(() => (thread(h, id).some((t) => t.includes(`<@${BOB}> approved \`confirm-promotion\``)) ? true : undefined), { what: "Bob in thread" });
    await waitFor(() => (thread(h, id).some((t) => t.includes("Flagger: Promotion completed!")) ? true : undefined), { what: "completion in thread" });
    const { entries } = await h.bot.audit.timeline(id, 100);
    expect(entries.filter((e) => e.action === "approve" && e.outcome === "done").map((e) => e.actor)).toEqual([ALICE, ALICE, BOB]);
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
    await click(h, id, ALICE, "Approve");
    await recorded(h, id, (r) => r.flagger!.opened.length === 2, "opened");
    await sim.tick(); // weight 25
    sim.failing = true;
    await sim.tick(); // failed check 1
    await messageWith(h, id, "*Warnings*\\n1: Halt advancement no values found");
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
    const before = (await h.bot.store.get(id))!.version;
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
