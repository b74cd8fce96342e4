import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import type { DriverResponse } from "../../sandbox/peers/slack/index.ts";
import { CHANNEL, clickButton, firstCheckDone, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 6, R7: who may do what. The real bot, real Redis, the local Slack peer (user groups through
 * `usergroups.list` / `usergroups.users.list`) and Kubernetes peer, driven over signed HTTP as Slack would.
 */

const ALICE = "UALICE"; // named in start/advance
const DAN = "UDAN"; // @deployers
const REL = "UREL"; // @release
const MALLORY = "UMALLORY"; // nobody
const OTHER_CHANNEL = "C0OTHER";
const ID = "backend-svc#1";

const TARGETS = `
policy:
  channels: [${CHANNEL}]
  start: ["@deployers", ${ALICE}]
  advance: ["@deployers", ${ALICE}]
  finish: ["@release"]
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
    steps: [10, 100]
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(targetsYaml: string | undefined, opts: { groupCacheSeconds?: number } = {}): Promise<Harness> {
  const harness = await startHarness({
    ...(targetsYaml ? { targetsYaml } : {}),
    extraEnv: { ROLLOUT_GROUP_CACHE_SECONDS: String(opts.groupCacheSeconds ?? 60) },
  });
  harness.slack.setUsergroup({ id: "S0DEPLOY", handle: "deployers", users: [DAN] });
  harness.slack.setUsergroup({ id: "S0RELEASE", handle: "release", users: [REL] });
  for (const [name, stable, canary] of [
    ["backend-ts", "backend-v1", "backend-v2"],
    ["web-ts", "web-v1", "web-v2"],
  ] as const) {
    harness.kube.seed("trafficsplits", "default", {
      kind: "TrafficSplit",
      metadata: { name, namespace: "default" },
      spec: {
        service: name.replace("-ts", name.startsWith("web") ? "" : "-svc"),
        backends: [
          { service: stable, weight: 100 },
          { service: canary, weight: 0 },
        ],
      },
    } as KubeObject);
  }
  return harness;
}

function canaryPercent(h: Harness, split = "backend-ts", canary = "backend-v2"): number {
  const backends = (h.kube.get("trafficsplits", "default", split)?.spec as { backends?: { service: string; weight: number }[] })?.backends ?? [];
  const total = backends.reduce((a, b) => a + Number(b.weight), 0);
  return total ? Math.round((100 * Number(backends.find((b) => b.service === canary)?.weight ?? 0)) / total) : 0;
}

async function reply(h: Harness, res: DriverResponse, what: string) {
  expect(res.status).toBe(200);
  return waitFor(() => h.slack.responses(res.responseUrl)[0], { what: `reply to ${what}` });
}

const slash = (h: Harness, userId: string, text: string, channelId = CHANNEL) => h.driver.slash({ userId, channelId, text });

/** Everything an unauthorized attempt must leave alone: mesh writes, rollout records, running rollouts. */
async function world(h: Harness) {
  const records = await Promise.all(["backend-svc#1", "backend-svc#2", "web#1"].map((id) => h.bot.store.get(id)));
  return {
    meshWrites: h.kube.requests.filter((r) => r.mutating).length,
    records: JSON.stringify(records),
    active: (await h.bot.store.active()).map((r) => r.id).join(","),
  };
}

async function refusedEntries(h: Harness, actor: string) {
  return (await h.bot.audit.recent(500)).filter((e) => e.actor === actor && e.outcome === "refused");
}

describe("R7: unauthorized starts and clicks", () => {
  it("are refused with a reply saying who may, audited, and change nothing", async () => {
    h = await harness(TARGETS);
    const tally = { attempts: 0, refused: 0, changes: 0, audited: 0 };

    /** One unauthorized attempt: a private refusal naming who may, an audit entry, and no change at all. */
    async function unauthorized(actor: string, label: string, send: () => Promise<DriverResponse>, says: string) {
      tally.attempts++;
      const before = await world(h!);
      const auditedBefore = (await refusedEntries(h!, actor)).length;
      const r = await reply(h!, await send(), label);
      expect(r.text, label).toContain(says);
      expect(r.text, label).toContain("Nothing was changed");
      expect(r.response_type ?? "ephemeral", label).toBe("ephemeral");
      if (r.text?.startsWith(":no_entry:")) tally.refused++;
      await sleep(150); // room for any stray job to write, so "no change" means something
      const after = await world(h!);
      if (JSON.stringify(after) !== JSON.stringify(before)) tally.changes++;
      const entries = await refusedEntries(h!, actor);
      if (entries.length === auditedBefore + 1 && entries[0]!.reason?.includes(says)) tally.audited++;
    }

    const MAY_START_WEB = "Only <@UALICE> or members of @deployers may start rollouts of `web`";
    const MAY_ADVANCE = "Only <@UALICE> or members of @deployers may advance rollouts of `backend-svc`";
    const MAY_FINISH = "Only members of @release may take rollouts of `backend-svc` to 100% or finish them";
    const ONLY_HERE = `only in <#${CHANNEL}>`;

    await unauthorized(MALLORY, "start by a stranger", () => slash(h!, MALLORY, "start web --to web-v2"), MAY_START_WEB);
    await unauthorized(REL, "start by a releaser", () => slash(h!, REL, "start web --to web-v2"), MAY_START_WEB);
    await unauthorized(DAN, "start from another channel", () => slash(h!, DAN, "start web --to web-v2", OTHER_CHANNEL), ONLY_HERE);
    await unauthorized(
      ALICE,
      "start straight to 100%",
      () => slash(h!, ALICE, "start web --to web-v2 --steps 100"),
      "Only members of @release may take rollouts of `web` to 100%",
    );

    // Alice may start; the rollout is live at 10%.
    await reply(h, await slash(h, ALICE, "start backend-svc --to backend-v2"), "Alice's start");
    await waitForMessage(h, ID, "Advance to 80%");
    expect(canaryPercent(h)).toBe(10);

    await unauthorized(MALLORY, "advance click by a stranger", () => clickButton(h!, ID, MALLORY, "Advance to 80%"), MAY_ADVANCE);
    await unauthorized(REL, "advance click by a releaser", () => clickButton(h!, ID, REL, "Advance to 80%"), MAY_ADVANCE);
    await unauthorized(MALLORY, "/rollout advance by a stranger", () => slash(h!, MALLORY, "advance backend-svc"), MAY_ADVANCE);
    await unauthorized(MALLORY, "/rollout resume by a stranger", () => slash(h!, MALLORY, `resume ${ID}`), MAY_ADVANCE);
    await unauthorized(DAN, "/rollout advance from another channel", () => slash(h!, DAN, "advance backend-svc", OTHER_CHANNEL), ONLY_HERE);
    await unauthorized(MALLORY, "/rollout abort from another channel", () => slash(h!, MALLORY, "abort backend-svc", OTHER_CHANNEL), ONLY_HERE);

    await clickButton(h, ID, DAN, "Advance to 80%");
    await waitForMessage(h, ID, "Advance to 100%");
    expect(canaryPercent(h)).toBe(80);

    await unauthorized(DAN, "advance to 100% by a deployer", () => clickButton(h!, ID, DAN, "Advance to 100%"), MAY_FINISH);
    await unauthorized(ALICE, "/rollout advance to 100% by the starter", () => slash(h!, ALICE, "advance backend-svc"), MAY_FINISH);
    await unauthorized(MALLORY, "/rollout finish by a stranger", () => slash(h!, MALLORY, "finish backend-svc"), MAY_FINISH);

    await clickButton(h, ID, REL, "Advance to 100%");
    await waitForMessage(h, ID, "Finish");
    expect(canaryPercent(h)).toBe(100);

    await unauthorized(DAN, "finish click by a deployer", () => clickButton(h!, ID, DAN, "Finish"), MAY_FINISH);
    await unauthorized(ALICE, "finish click by the starter", () => clickButton(h!, ID, ALICE, "Finish"), MAY_FINISH);

    await clickButton(h, ID, REL, "Finish");
    await waitForMessage(h, ID, "Completed");

    console.log(`R7: ${tally.attempts} unauthorized attempts, ${tally.refused} refused, ${tally.changes} changes (${tally.audited} audited as refused)`);
    expect(tally).toEqual({ attempts: 15, refused: 15, changes: 0, audited: 15 });
    expect(await h.bot.store.get("web#1")).toBeUndefined();

    // The rollout's own timeline holds its refusals next to what was done.
    const { entries } = await h.bot.audit.timeline(ID, 200);
    const line = (e: (typeof entries)[number]) => `${e.actor} ${e.action} ${e.via} ${e.outcome}`;
    expect(entries.map(line)).toEqual(
      expect.arrayContaining([
        `${ALICE} start command done`,
        `${MALLORY} advance button refused`,
        `${DAN} advance button done`,
        `${DAN} advance button refused`,
        `${REL} advance button done`,
        `${ALICE} finish button refused`,
        `${REL} finish button done`,
        "bot:worker completed worker done",
      ]),
    );
    expect(entries.filter((e) => e.outcome === "refused")).toHaveLength(11); // the 11 attempts on backend-svc#1
  });
});

describe("group membership through Slack user groups", () => {
  it("is looked up in Slack and cached for the TTL: a change is seen after the TTL, not before", async () => {
    const TTL_MS = 2_000;
    h = await harness(TARGETS, { groupCacheSeconds: TTL_MS / 1000 });
    const CAROL = "UCAROL";
    await reply(h, await slash(h, DAN, "start backend-svc --to backend-v2"), "Dan's start");
    await waitForMessage(h, ID, "Advance to 80%");

    const firstClickAt = Date.now(); // the membership is looked up (and cached) after this
    const first = await reply(h, await clickButton(h, ID, CAROL, "Advance to 80%"), "Carol before joining");
    expect(first.text).toContain("may advance rollouts of `backend-svc`");
    const lookupsAfterFirst = h.slack.callsOf("usergroups.users.list").length;
    expect(lookupsAfterFirst).toBeGreaterThan(0);

    h.slack.setUsergroup({ id: "S0DEPLOY", handle: "deployers", users: [DAN, CAROL] });
    const changedAt = Date.now();
    const cached = await reply(h, await clickButton(h, ID, CAROL, "Advance to 80%"), "Carol within the TTL");
    const cachedAfterMs = Date.now() - changedAt;
    expect(Date.now() - firstClickAt, "the second click must fall inside the TTL for this check to mean anything").toBeLessThan(TTL_MS);
    expect(cached.text).toContain("may advance rollouts of `backend-svc`");
    expect(h.slack.callsOf("usergroups.users.list").length).toBe(lookupsAfterFirst);
    expect(canaryPercent(h)).toBe(10);

    await sleep(TTL_MS + 100);
    const res = await clickButton(h, ID, CAROL, "Advance to 80%");
    const seenAfterMs = Date.now() - changedAt;
    await waitForMessage(h, ID, "Advance to 100%");
    expect(h.slack.responses(res.responseUrl)).toEqual([]); // no refusal this time
    expect(canaryPercent(h)).toBe(80);
    expect((await h.bot.store.get(ID))?.events.find((e) => e.kind === "advanced")?.actor).toEqual({ kind: "user", id: CAROL });

    // Leaving the group takes the right away, after the TTL too.
    h.slack.setUsergroup({ id: "S0RELEASE", handle: "release", users: [] });
    await sleep(TTL_MS + 100);
    const gone = await reply(h, await clickButton(h, ID, REL, "Advance to 100%"), "Rel after leaving @release");
    expect(gone.text).toContain("Only members of @release may take rollouts of `backend-svc` to 100%");
    console.log(
      `groups: join refused ${cachedAfterMs} ms after the change (cached), honoured ${seenAfterMs} ms after (TTL ${TTL_MS} ms); leaving @release refused after the TTL`,
    );
  });
});

describe("requireSecondApprover", () => {
  it("the starter cannot take the final step; someone else can", async () => {
    h = await harness(`
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    policy:
      requireSecondApprover: true
`);
    const BOB = "UBOB";
    await reply(h, await slash(h, ALICE, "start backend-svc --to backend-v2"), "start");
    await waitForMessage(h, ID, "Advance to 80%");
    await clickButton(h, ID, ALICE, "Advance to 80%"); // not the final step: the starter may
    await waitForMessage(h, ID, "Advance to 100%");

    let starterRefused = 0;
    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    const toFull = await reply(h, await clickButton(h, ID, ALICE, "Advance to 100%"), "starter to 100%");
    expect(toFull.text).toContain("requires a second approver: you started this rollout, so someone else must take it to 100% or finish it");
    if (toFull.text?.startsWith(":no_entry:")) starterRefused++;
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes);
    expect(canaryPercent(h)).toBe(80);

    await clickButton(h, ID, BOB, "Advance to 100%");
    await waitForMessage(h, ID, "Finish");
    const fin = await reply(h, await clickButton(h, ID, ALICE, "Finish"), "starter finish");
    expect(fin.text).toContain("requires a second approver");
    if (fin.text?.startsWith(":no_entry:")) starterRefused++;
    expect((await h.bot.store.get(ID))?.status).toBe("active");

    await clickButton(h, ID, BOB, "Finish");
    await waitForMessage(h, ID, "Completed");
    expect((await h.bot.store.get(ID))?.status).toBe("completed");
    console.log(`second approver: starter refused ${starterRefused}/2 final-step attempts, a second person took both`);
    expect(starterRefused).toBe(2);
  });
});

describe("after drift on the step to 100%", () => {
  it("Re-apply is the final step: the starter is refused under requireSecondApprover, a second person may", async () => {
    h = await harness(`
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    metrics: { source: none, refreshSeconds: 3600 }   # no periodic check: the drift is found by the write
    policy:
      requireSecondApprover: true
`);
    const BOB = "UBOB";
    await reply(h, await slash(h, ALICE, "start backend-svc --to backend-v2"), "start");
    await waitForMessage(h, ID, "Advance to 80%");
    await firstCheckDone(h, ID);
    await clickButton(h, ID, ALICE, "Advance to 80%");
    await waitForMessage(h, ID, "Advance to 100%");
    h.kube.edit("trafficsplits", "default", "backend-ts", (o: KubeObject) => {
      (o.spec as { backends: { service: string; weight: number }[] }).backends = [
        { service: "backend-v1", weight: 50 },
        { service: "backend-v2", weight: 50 },
      ];
    });
    await clickButton(h, ID, BOB, "Advance to 100%");
    await waitForMessage(h, ID, "Held", 15_000);
    expect(await h.bot.store.get(ID)).toMatchObject({ desiredPercent: 100, appliedPercent: 80, drift: { observedPercent: 50 } });
    expect(canaryPercent(h)).toBe(50);

    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    const refused = await reply(h, await clickButton(h, ID, ALICE, /^Re-apply/), "the starter's Re-apply to 100%");
    expect(refused.text).toContain("requires a second approver: you started this rollout, so someone else must take it to 100% or finish it");
    await sleep(150);
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes);
    expect(await h.bot.store.get(ID)).toMatchObject({ status: "held", appliedPercent: 80 });

    await clickButton(h, ID, BOB, /^Re-apply/);
    await waitForMessage(h, ID, "Finish");
    expect(canaryPercent(h)).toBe(100);
  });
});

describe("abort is easy", () => {
  it("default policy: anyone in the allowed channel may abort, even where the rest is restricted", async () => {
    h = await harness(TARGETS);
    await reply(h, await slash(h, ALICE, "start backend-svc --to backend-v2"), "start");
    await waitForMessage(h, ID, "Advance to 80%");
    await clickButton(h, ID, MALLORY, "Abort");
    await waitForMessage(h, ID, "Aborted");
    expect(canaryPercent(h)).toBe(0);
    expect((await h.bot.store.get(ID))?.status).toBe("aborted");
  });

  it("without any policy, anyone may do anything, and abort", async () => {
    h = await harness(undefined);
    const people = ["UONE", "UTWO", "UTHREE"];
    await reply(h, await slash(h, people[0]!, "start backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --split backend-ts"), "start");
    await waitForMessage(h, ID, "Advance to 80%");
    await clickButton(h, ID, people[1]!, "Advance to 80%");
    await waitForMessage(h, ID, "Advance to 100%");
    await clickButton(h, ID, people[2]!, "Abort");
    await waitForMessage(h, ID, "Aborted");
    expect(canaryPercent(h)).toBe(0);
    console.log(`default policy: ${people.length} different people started, advanced and aborted; 0 refusals`);
  });

  it("a policy that restricts abort to a group still lets an abort through when Slack cannot answer", async () => {
    h = await harness(`
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    policy:
      abort: ["@sre"]
`);
    await reply(h, await slash(h, ALICE, "start backend-svc --to backend-v2"), "start");
    await waitForMessage(h, ID, "Advance to 80%");
    const refused = await reply(h, await clickButton(h, ID, MALLORY, "Abort"), "abort by a non-member");
    expect(refused.text).toContain("Only members of @sre may abort or hold rollouts of `backend-svc`");
    expect((await h.bot.store.get(ID))?.status).toBe("active");

    // A fresh bot process (empty cache) while Slack's user-group API is failing.
    await h.stopBot();
    const second = await startHarness({
      reuse: h,
      targetsYaml: `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    policy:
      abort: ["@sre"]
`,
    });
    try {
      second.slack.failNext("usergroups.list", "internal_error", 10);
      await clickButton(second, ID, MALLORY, "Abort");
      await waitForMessage(second, ID, "Aborted");
      expect(canaryPercent(second)).toBe(0);
      const done = (await second.bot.audit.timeline(ID, 50)).entries.find((e) => e.action === "abort" && e.outcome === "done");
      expect(done?.reason).toContain("membership of @sre could not be checked");
    } finally {
      await second.stopBot();
    }
  });
});
