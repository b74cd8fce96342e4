import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readyWorkload } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 11: the canary's readiness is watched while the rollout runs (on the periodic check, every 5 s
 * here). An automatic rollout whose canary stops being available is held, and the channel is told (a
 * broadcast thread reply mentioning the starter, with the reason and the numbers); a manual rollout shows
 * it on its message. Holds the bot makes by itself on drift are broadcast too.
 */

const ALICE = "UALICE";
let h: Harness;

/** Automatic steps need a metrics source; a Prometheus nobody listens on reads "metrics unavailable" every 5 s. */
function target(name: string, metrics = "{ source: none, refreshSeconds: 5 }"): string {
  return `
  - name: ${name}
    namespace: ${name}
    stable: web-v1
    steps: [10, 50, 100]
    smi: { trafficSplit: web, apexService: web }
    metrics: ${metrics}`;
}

beforeAll(async () => {
  h = await startHarness({
    implicitWorkloads: false,
    targetsYaml: `targets:${target("auto-w", '{ source: prometheus, prometheusUrl: "http://127.0.0.1:9", preset: linkerd2, scrapeIntervalSeconds: 1, refreshSeconds: 5 }')}${target("manual-w")}${target("drift-w")}\n`,
  });
  for (const ns of ["auto-w", "manual-w", "drift-w"]) {
    for (const s of ["web", "web-v1", "web-v2"]) h.kube.seed("services", ns, readyWorkload("services", s)!);
    h.kube.seed("deployments", ns, readyWorkload("deployments", "web-v2", 3)!);
  }
});
afterAll(async () => {
  await h?.close();
});

/** The canary's pods stop being available (what its controller would report). */
function canaryDown(ns: string): void {
  const generation = (h.kube.get("deployments", ns, "web-v2")!.metadata as { generation: number }).generation;
  h.kube.setStatus("deployments", ns, "web-v2", { observedGeneration: generation, replicas: 3, readyReplicas: 1, availableReplicas: 1 });
}

const broadcasts = (id: string) => h.slack.messages(CHANNEL).filter((m) => m.reply_broadcast && m.thread_ts === rolloutMessage(h, id)?.ts);

describe("canary readiness during the rollout", () => {
  it("an automatic rollout is held, and the channel is told why with the numbers", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start auto-w --to web-v2 --auto 10m" });
    const id = "auto-w#1";
    await waitForMessage(h, id, "next automatic step to 50%");
    canaryDown("auto-w");
    const r = await waitFor(
      async () => {
        const x = await h.bot.store.get(id);
        return x?.status === "held" && x.problem ? x : undefined;
      },
      { what: "the hold", timeoutMs: 15_000 },
    );
    expect(r.problem).toContain("`web-v2`: 1 of 3 replicas available");
    await waitForMessage(h, id, "Canary not ready: `web-v2`: 1 of 3 replicas available");
    const alert = await waitFor(() => broadcasts(id).find((m) => (m.text ?? "").includes("is *held*")), { what: "the broadcast alert" });
    expect(alert.text).toContain(`<@${ALICE}>`);
    expect(alert.text).toContain("`web-v2`: 1 of 3 replicas available");
    expect(alert.text).toContain("with 10% of traffic on web-v2");
    // Nothing was written back: the bot holds, it does not move traffic by itself here.
    expect(h.kube.mutations("trafficsplits", "auto-w")).toHaveLength(1);
  }, 30_000);

  it("a manual rollout shows it on its message, and clears it once the canary is ready again", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start manual-w --to web-v2" });
    const id = "manual-w#1";
    await waitForMessage(h, id, "Advance to 50%");
    canaryDown("manual-w");
    await waitForMessage(h, id, "1 of 3 replicas available", 15_000);
    expect((await h.bot.store.get(id))!.status).toBe("active"); // a person decides
    h.kube.edit("deployments", "manual-w", "web-v2", (o) => void ((o.spec as { replicas: number }).replicas = 4)); // the controller settles: 4 of 4
    await waitForMessage(h, id, (t) => !t.includes("replicas available"), 15_000);
  }, 40_000);
});

describe("holds the bot makes by itself reach the channel", () => {
  it("a hold on drift is broadcast, mentioning the starter and what changed", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start drift-w --to web-v2" });
    const id = "drift-w#1";
    await waitForMessage(h, id, "Advance to 50%");
    h.kube.edit("trafficsplits", "drift-w", "web", (o) => {
      (o.spec as { backends: { service: string; weight: number }[] }).backends = [
        { service: "web-v1", weight: 70 },
        { service: "web-v2", weight: 30 },
      ];
    });
    const alert = await waitFor(() => broadcasts(id).find((m) => (m.text ?? "").includes("held the rollout")), {
      what: "the drift broadcast",
      timeoutMs: 15_000,
    });
    expect(alert.text).toContain(`<@${ALICE}>`);
    expect(alert.text).toContain("the mesh sends 30% to web-v2");
    expect(alert.text).toContain("the rollout had verified 10%");
  }, 30_000);
});
