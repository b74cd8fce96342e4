import { afterEach, describe, expect, it } from "vitest";
import { dtabEquals, leaf, parseDtab, replaceDentry } from "../../src/routers/dtab.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import type { NamerdPeer } from "../../sandbox/peers/namerd.ts";
import type { StoredMessage } from "../../sandbox/peers/slack/index.ts";
import { CHANNEL, clickButton, firstCheckDone, rolloutMessage, startHarness, waitForEphemeral, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 3: the Linkerd 1 + namerd blue-green flow driven only as Slack would drive it (slash commands and
 * button clicks), against the real bot, real Redis, the namerd peer and the Kubernetes API peer. What is
 * asserted is what people would see: the dtab in namerd, the channel message, its thread and ephemerals.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const ID = "world#1";
const INGRESS = "http://linkerd.example.test:4140/";

const SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /tmp => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
const OTHERS = ["/srv => /#/io.l5d.k8s/default/http ;", "/host => /srv ;", "/tmp => /srv ;", "/svc => /host ;"];
/** The dtab as the bot writes it, with /host/world routing to `tree` and every other seed dentry as it was. */
const withWorld = (tree: string) => [...OTHERS, `/host/world => ${tree} ;`].join("\n");

const TARGETS = `
targets:
  - name: world
    namespace: web
    router: namerd
    steps: [10, 100]
    cleanup: scale-down
    namerd:
      url: "{{NAMERD_URL}}"
      dtabNamespace: internal
      prefix: /host/world
      dst: /srv/{version}
      ingressUrl: ${INGRESS}
  - name: moon
    router: namerd
    namerd:
      url: "{{NAMERD_URL}}"
      dtabNamespace: outer
      prefix: /host/moon
`;

const START = "start world --to world-v2 --steps 10,100";

function deployment(name: string, replicas: number): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "web" },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: {} } },
  } as KubeObject;
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(): Promise<Harness & { namerd: NamerdPeer }> {
  h = await startHarness({ namerd: { internal: SEED }, targetsYaml: TARGETS });
  return h as Harness & { namerd: NamerdPeer };
}

/** Every text a reader sees in a message: its blocks' mrkdwn and plain text, in order. */
function texts(m: StoredMessage | undefined): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.text === "string") out.push(o.text);
      for (const [k, c] of Object.entries(o)) if (k !== "text" || typeof c !== "string") walk(c);
    }
  };
  walk(m?.blocks ?? []);
  return out.join("\n");
}

const threadTexts = (h: Harness): string[] => {
  const m = rolloutMessage(h, ID);
  return m ? h.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};

async function waitForThread(h: Harness, contains: string | RegExp, timeoutMs = 10_000): Promise<string> {
  const test = (t: string) => (typeof contains === "string" ? t.includes(contains) : contains.test(t));
  return waitFor(() => threadTexts(h).find(test), { timeoutMs, what: `thread reply matching ${String(contains)}` });
}

/** Start and reach the test stage; then click through to 10%. */
async function startAt10(h: Harness & { namerd: NamerdPeer }): Promise<void> {
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
  await waitForMessage(h, ID, "Start shifting (10%)");
  await clickButton(h, ID, ALICE, "Start shifting (10%)");
  await waitForMessage(h, ID, "Advance to 100%");
  expect(h.namerd.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));
  await firstCheckDone(h, ID); // a hand edit made after this is found by the bot's next write, not by the start's check
}

describe("seed flow", () => {
  it("test stage -> 10% -> 100% -> finish: only /host/world changes, the old Deployment is scaled to 0", async () => {
    const hh = await harness();
    hh.kube.seed("deployments", "web", deployment("world-v1", 3));
    hh.kube.seed("deployments", "web", deployment("world-v2", 3));

    // No --from: the stable is read from the dtab.
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
    await waitForEphemeral(hh, ALICE, "Starting rollout `world#1`");
    const first = await waitForMessage(hh, ID, "Start shifting (10%)");

    // Test stage: production traffic unchanged, a ready-to-paste request for the new version only.
    const shown = texts(first);
    expect(shown).toContain("Rollout world#1: world-v1 → world-v2");
    expect(shown).toContain("*Test stage*: production traffic is unchanged (0% to `world-v2`)");
    expect(shown).toContain(`\`\`\`curl -H 'l5d-dtab: /host/world =&gt; /srv/world-v2' '${INGRESS}'\n`);
    expect(shown).toContain("*▶ test (0%)*  →  10%  →  100%");
    expect(shown).toContain("Mesh now: `/host/world =&gt; /srv/world-v1`");
    const buttons = hh.slack.buttons(CHANNEL, first.ts);
    expect(buttons.map((b) => b.text)).toEqual(["Start shifting (10%)", "Hold", "Abort"]);
    expect(buttons[0]!.style).toBe("primary");
    expect(hh.namerd.writes).toBe(0);
    expect(hh.namerd.get("internal")!.version).toBe("AAAAAAAAAAE=");
    expect(dtabEquals(hh.namerd.get("internal")!.dtab, parseDtab(SEED))).toBe(true);

    await clickButton(hh, ID, BOB, "Start shifting (10%)");
    const at10 = await waitForMessage(hh, ID, "Advance to 100%");
    expect(hh.namerd.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));
    expect(texts(at10)).toContain("world-v1 *90%* · world-v2 *10%*");
    expect(texts(at10)).not.toContain("Test stage");
    const put10 = hh.namerd.requests.filter((r) => r.method === "PUT");
    expect(put10.map((r) => [r.ifMatch, r.status])).toEqual([["AAAAAAAAAAE=", 204]]);

    await clickButton(hh, ID, ALICE, "Advance to 100%");
    await waitForMessage(hh, ID, "Finish");
    expect(hh.namerd.get("internal")!.text).toBe(withWorld("/srv/world-v2"));

    await clickButton(hh, ID, ALICE, "Finish");
    const done = await waitForMessage(hh, ID, "Completed");
    expect(done.ts).toBe(first.ts);
    expect(hh.slack.buttons(CHANNEL, done.ts)).toEqual([]);
    const final = hh.namerd.get("internal")!;
    expect(final.text).toBe(withWorld("/srv/world-v2"));
    expect(dtabEquals(final.dtab, replaceDentry(parseDtab(SEED), "/host/world", leaf("/srv/world-v2")))).toBe(true);
    expect(hh.namerd.writes).toBe(2); // 10% and 100%; finish found the single dentry already in place

    // The final dtab as namerctl prints it, in a code block.
    expect(texts(done)).toContain(
      [
        "*Mesh now*",
        "```# version AAAAAAAAAAM=",
        "/srv         =&gt; /#/io.l5d.k8s/default/http ;",
        "/host        =&gt; /srv ;",
        "/tmp         =&gt; /srv ;",
        "/svc         =&gt; /host ;",
        "/host/world  =&gt; /srv/world-v2 ;```",
      ].join("\n"),
    );

    // cleanup: scale-down, through the scale subresource; nothing deleted, the new version untouched.
    expect(hh.kube.get("deployments", "web", "world-v1")?.spec).toMatchObject({ replicas: 0 });
    expect(hh.kube.get("deployments", "web", "world-v2")?.spec).toMatchObject({ replicas: 3 });
    expect(hh.kube.mutations("deployments").map((m) => `${m.method} ${m.name}/${m.subresource} ${m.status}`)).toEqual(["PATCH world-v1/scale 200"]);

    const completed = await waitForThread(hh, "completed: world-v2 is permanent");
    expect(completed).toContain("```# version AAAAAAAAAAM=\n");
    const thread = threadTexts(hh);
    expect(thread.some((t) => t.includes(`<@${ALICE}> started rollout world#1, world-v2 now gets 0%`))).toBe(true);
    expect(thread.some((t) => t.includes(`<@${BOB}> advanced to 10% (world-v1/world-v2 100/0 → 90/10)`))).toBe(true);
    expect(thread.some((t) => t.includes("Applied and verified 90/10") && t.includes("`/host/world =&gt; 90 * /srv/world-v1 &amp; 10 * /srv/world-v2`"))).toBe(
      true,
    );
    expect(thread.some((t) => t.includes(`<@${ALICE}> advanced to 100% (world-v1/world-v2 90/10 → 0/100)`))).toBe(true);
    expect(await hh.bot.store.activeFor("world")).toBeUndefined();
  });

  it("a start that cannot read one stable version from the dtab is refused privately, naming --from", async () => {
    const hh = await harness();
    hh.namerd.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 50 * /srv/world-v1 & 50 * /srv/world-v3")[0]!.tree));
    const res = await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
    const reply = await waitFor(() => hh.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "rejection" });
    expect(reply.text).toContain("is not a single destination (a rollout may be under way); name the stable version with --from");
    expect(reply.text).toContain("Nothing was changed");
    expect(hh.namerd.writes).toBe(0);
    expect(hh.slack.messages(CHANNEL)).toEqual([]);
  });

  it("a dtab namespace namerd does not have is a clear private refusal", async () => {
    const hh = await harness();
    const res = await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start moon --to moon-v2 --from moon-v1" });
    const reply = await waitFor(() => hh.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "rejection" });
    expect(reply.text).toContain("namerd has no dtab namespace 'outer'");
    expect(hh.namerd.writes).toBe(0);
  });
});

describe("abort", () => {
  it("at 10% restores the original dtab, verified, and shows it as namerctl prints it", async () => {
    const hh = await harness();
    await startAt10(hh);
    await clickButton(hh, ID, BOB, "Abort");
    const m = await waitForMessage(hh, ID, "Aborted");
    const after = hh.namerd.get("internal")!;
    expect(dtabEquals(after.dtab, parseDtab(SEED))).toBe(true);
    expect(after.text).toBe(withWorld("/srv/world-v1"));
    expect(texts(m)).toContain(`by <@${BOB}>`);
    expect(texts(m)).toContain("/host/world  =&gt; /srv/world-v1 ;```");
    // The read-back after the write: the bot GETs the dtab after its last PUT.
    const log = hh.namerd.requests.map((r) => r.method);
    expect(log.lastIndexOf("GET")).toBeGreaterThan(log.lastIndexOf("PUT"));
    await waitForThread(hh, `aborted by <@${BOB}>: all traffic back on world-v1, verified`);
    expect(await hh.bot.store.get(ID)).toMatchObject({ status: "aborted", appliedPercent: 0 });
  });
});

describe("other writers", () => {
  it("an edit of another dentry between our read and our write (412) is retried, and their edit kept", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
    await waitForMessage(hh, ID, "Start shifting (10%)");
    hh.namerd.beforeNext("PUT", () => hh.namerd.edit("internal", (d) => replaceDentry(d, "/tmp", leaf("/srv/tmp-v2"))));
    await clickButton(hh, ID, ALICE, "Start shifting (10%)");
    await waitForMessage(hh, ID, "Advance to 100%");
    expect(hh.namerd.requests.filter((r) => r.method === "PUT").map((r) => [r.ifMatch, r.status])).toEqual([
      ["AAAAAAAAAAE=", 412],
      ["AAAAAAAAAAI=", 204],
    ]);
    expect(hh.namerd.get("internal")!.text).toBe(
      [
        "/srv => /#/io.l5d.k8s/default/http ;",
        "/host => /srv ;",
        "/tmp => /srv/tmp-v2 ;",
        "/svc => /host ;",
        "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ;",
      ].join("\n"),
    );
    // Resolved inside one write: nothing for people to worry about.
    expect((await hh.bot.store.get(ID))!.events.filter((e) => e.kind === "warning")).toEqual([]);
  });

  it("a hand edit of /host/world mid-rollout is reported as drift and holds the rollout; nothing is overwritten until Abort", async () => {
    const hh = await harness();
    await startAt10(hh);
    hh.namerd.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")));
    const edited = hh.namerd.get("internal")!;

    await clickButton(hh, ID, ALICE, "Advance to 100%");
    const held = await waitForMessage(hh, ID, "Held");
    expect(texts(held)).toContain("Drift: someone changed /host/world in dtab internal");
    expect(texts(held)).toContain("found /host/world =&gt; /srv/world-v3. Nothing was overwritten.");
    expect(hh.slack.buttons(CHANNEL, held.ts).map((b) => b.text)).toEqual(["Resume", "Abort"]);
    await waitForThread(hh, /held the rollout: Drift: someone changed \/host\/world/);
    expect(hh.namerd.get("internal")).toEqual(edited);
    expect(hh.namerd.writes).toBe(1);
    expect(await hh.bot.store.get(ID)).toMatchObject({ status: "held", appliedPercent: 10, desiredPercent: 100 });

    // A person who has seen the drift chooses Abort: the stable dentry is written over the hand edit.
    await clickButton(hh, ID, ALICE, "Abort");
    await waitForMessage(hh, ID, "Aborted");
    expect(dtabEquals(hh.namerd.get("internal")!.dtab, parseDtab(SEED))).toBe(true);
  });
});

describe("namerd unavailable", () => {
  it("a step retries with backoff while namerd is down, tells the channel, and completes once it is back", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
    await waitForMessage(hh, ID, "Start shifting (10%)");
    await hh.namerd.stop();
    const down = Date.now();
    await clickButton(hh, ID, ALICE, "Start shifting (10%)");

    const warning = await waitForThread(hh, "Retrying (attempt 1): namerd is unreachable");
    expect(warning).toContain(":warning:");
    const shown = await waitForMessage(hh, ID, "namerd is unreachable");
    expect(hh.slack.buttons(CHANNEL, shown.ts).map((b) => b.text)).toEqual(["Abort"]); // still applying
    await sleep(2_500 - (Date.now() - down));
    expect(await hh.bot.store.get(ID)).toMatchObject({ appliedPercent: 0, desiredPercent: 10 });

    await hh.namerd.restart();
    const ok = await waitForMessage(hh, ID, "Advance to 100%", 10_000);
    expect(texts(ok)).not.toContain(":warning:");
    expect(hh.namerd.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));
    await waitForThread(hh, "Applied and verified 90/10");
  });

  it("5xx answers are retried with backoff and the step completes", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: START });
    await waitForMessage(hh, ID, "Start shifting (10%)");
    hh.namerd.failNext({ method: "PUT", status: 503, times: 2 });
    await clickButton(hh, ID, ALICE, "Start shifting (10%)");
    await waitForMessage(hh, ID, "Advance to 100%");
    expect(hh.namerd.requests.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([503, 503, 204]);
    expect(hh.namerd.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));
    await waitForThread(hh, "Retrying (attempt 1): namerd failed writing dtab 'internal' with 503: namerd: injected 503");
  });

  it("an Abort issued while namerd is down keeps retrying and completes, verified, once namerd is back", async () => {
    const hh = await harness();
    await startAt10(hh);
    await hh.namerd.stop();
    await clickButton(hh, ID, BOB, "Abort");
    await waitForThread(hh, "Abort is retrying (attempt 1): namerd is unreachable");
    await waitForMessage(hh, ID, "Aborting");
    await sleep(2_000);
    expect((await hh.bot.store.get(ID))?.status).toBe("aborting");
    expect(hh.namerd.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));

    await hh.namerd.restart();
    await waitForMessage(hh, ID, "Aborted", 10_000);
    expect(dtabEquals(hh.namerd.get("internal")!.dtab, parseDtab(SEED))).toBe(true);
    await waitForThread(hh, "all traffic back on world-v1, verified");
  });
});
