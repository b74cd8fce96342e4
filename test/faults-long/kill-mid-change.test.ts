import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { AuditLog } from "../../src/store/audit.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeApiPeerOptions, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { GITOPS_TYPES, fluxKustomization } from "../../sandbox/peers/kube-api-gitops.ts";
import { startNamerdPeer, type NamerdPeer } from "../../sandbox/peers/namerd.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { botProcessEnv } from "../support/bot-process.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { waitFor } from "../support/wait.ts";

/**
 * SIGKILL in the middle of a change the bot makes outside the rollout's own weights, with the real bot process
 * (`src/main.ts`, as `npm start` runs it) and a new process started on the same Redis after the kill:
 *  - issue 23 (`--image`): killed while the new version is deploying; the next process picks up the wait and
 *    the rollout reaches its first step, with the new Deployment and Service created once and nothing else
 *    written;
 *  - issue 21 (`gitops: pause`): killed right after Flux's reconcile was disabled, and again between the Abort
 *    being recorded and the pause being taken off; once the rollout has ended, nothing is left disabled.
 * The peers live in this process and survive the kills.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHANNEL = "C0ROLLOUT";
const ALICE = "UALICE";
const RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile";

type Bot = { proc: ChildProcess; driver: SlackDriver; out: () => string };

/** Everything one test started; afterEach stops it (processes first, so nothing writes to a closed peer). */
type World = {
  slack: SlackPeer;
  kube: KubeApiPeer;
  namerd?: NamerdPeer;
  dir: string;
  prefix: string;
  signingSecret: string;
  targetsFile: string;
  procs: ChildProcess[];
  redis: ReturnType<typeof testRedis>;
  store: RolloutStore;
};

let world: World | undefined;

afterEach(async () => {
  const w = world;
  world = undefined;
  if (!w) return;
  for (const p of w.procs) await killBot(p);
  await w.slack.close();
  await w.kube.close();
  await w.namerd?.close();
  await cleanupPrefix(w.redis, w.prefix);
  await w.redis.quit();
  await rm(w.dir, { recursive: true, force: true });
});

async function startWorld(opts: {
  kube: Omit<KubeApiPeerOptions, "smiFlavour">;
  namerd?: Record<string, string>;
  targets: (namerdUrl?: string) => string;
}): Promise<World> {
  const slack = await startSlackPeer({ botToken: `xoxb-${randomBytes(6).toString("hex")}`, channels: [{ id: CHANNEL, name: "deploys" }] });
  const kube = await startKubeApiPeer({ smiFlavour: "nginx", ...opts.kube });
  const namerd = opts.namerd ? await startNamerdPeer({ namespaces: opts.namerd }) : undefined;
  const dir = await mkdtemp(join(tmpdir(), "rollout-bot-kill-"));
  const targetsFile = join(dir, "targets.yaml");
  await writeFile(targetsFile, opts.targets(namerd?.url));
  const redis = testRedis();
  const prefix = randomPrefix("killchange");
  world = {
    slack,
    kube,
    ...(namerd ? { namerd } : {}),
    dir,
    prefix,
    signingSecret: randomBytes(8).toString("hex"),
    targetsFile,
    procs: [],
    redis,
    store: new RolloutStore(redis, prefix),
  };
  return world;
}

/** A bot process of its own (as R2 starts one), ready when /readyz answers 200. */
async function spawnBot(w: World): Promise<Bot> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: REPO,
    env: botProcessEnv({
      signingSecret: w.signingSecret,
      slack: w.slack,
      kube: w.kube,
      redisUrl: REDIS_URL,
      port,
      healthPort,
      prefix: w.prefix,
      logLevel: "warn",
      extra: { ROLLOUT_TARGETS: w.targetsFile },
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  w.procs.push(proc);
  let out = "";
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-3000));
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the bot process exited: ${out}`);
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 50, what: "a bot process to be ready" },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: ${out}`);
  });
  return { proc, driver: new SlackDriver({ botUrl: `http://127.0.0.1:${port}/slack/events`, signingSecret: w.signingSecret, peer: w.slack }), out: () => out };
}

/** SIGKILL; resolves once the process is gone. */
async function killBot(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGKILL");
  await exited;
}

const messageOf = (w: World, id: string) =>
  w.slack.messages(CHANNEL).find((m) => (!m.thread_ts || m.thread_ts === m.ts) && JSON.stringify(m.blocks ?? []).includes(`Rollout ${id}:`));

async function waitForMessage(w: World, id: string, test: (blocks: string) => boolean, what: string, timeoutMs = 45_000) {
  return waitFor(
    () => {
      const m = messageOf(w, id);
      return m && test(JSON.stringify(m.blocks ?? [])) ? m : undefined;
    },
    { timeoutMs, what: `rollout ${id} message: ${what}` },
  );
}

async function click(w: World, bot: Bot, id: string, label: string) {
  const m = messageOf(w, id);
  if (!m) throw new Error(`no message for ${id}`);
  const res = await bot.driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: m.ts, button: w.slack.findButton(CHANNEL, m.ts, label) });
  expect(res.status).toBe(200);
}

const threadTexts = (w: World, id: string): string[] => {
  const m = messageOf(w, id);
  return m ? w.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};

// ------------------------------------------------------------------------------------------ issue 23: --image

const DTAB = "/srv => /#/io.l5d.k8s/web/http ; /host => /srv ; /host/world => /srv/world-v1 ;";
const IMAGE = "registry.example.com/world:2.0";

const deployTargets = (namerdUrl?: string) => `
targets:
  - name: world
    namespace: web
    router: namerd
    steps: [10, 100]
    deploy: true
    deployTimeout: 3m
    namerd:
      url: "${namerdUrl}"
      dtabNamespace: internal
      prefix: /host/world
      dst: /srv/{version}
`;

function stableDeployment(): KubeObject {
  const labels = { app: "world", version: "world-v1" };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "world-v1", namespace: "web", labels },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "world", image: "registry.example.com/world:1.0", readinessProbe: { httpGet: { path: "/ready", port: 8080 } } }] },
      },
    },
  };
}

const uidOf = (o: KubeObject | undefined) => (o?.metadata as { uid?: string } | undefined)?.uid;

it("--image: SIGKILLed while deploying, the next process picks up the wait; Deployment and Service created once, nothing else written", async () => {
  // Pods come up one every 4 s (12 s for all three): the kill lands while the bot is still waiting for them.
  const w = await startWorld({
    kube: { implicitWorkloads: false, deploymentController: { readyAfterMs: 4_000 } },
    namerd: { internal: DTAB },
    targets: deployTargets,
  });
  w.kube.seed("deployments", "web", stableDeployment());
  w.kube.seed("services", "web", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "world-v1", namespace: "web", labels: { app: "world" } },
    spec: { selector: { app: "world", version: "world-v1" }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  const dtab = w.namerd!.get("internal")!.text;
  const first = await spawnBot(w);
  await first.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
  await waitForMessage(w, "world#1", (t) => /Deploying `world-v2` \([0-2] of 3 ready\)/.test(t), "deploying");
  const created = { deployment: uidOf(w.kube.get("deployments", "web", "world-v2")), service: uidOf(w.kube.get("services", "web", "world-v2")) };
  expect(created.deployment).toBeTruthy();
  await killBot(first.proc);
  // Killed mid-wait: the record still says deploying, with no process left to carry it on.
  expect((await w.store.get("world#1"))?.status).toBe("deploying");

  const second = await spawnBot(w);
  await waitForMessage(w, "world#1", (t) => t.includes("Start shifting (10%)"), "the deploy done, first step offered");
  await waitFor(() => threadTexts(w, "world#1").find((t) => t.includes("world-v2 is up: 3 of 3 ready")), { what: "the deploy's end in the thread" });
  expect(w.namerd!.get("internal")!.text).toBe(dtab); // no traffic before the first step
  await click(w, second, "world#1", "Start shifting (10%)");
  await waitFor(async () => ((await w.store.get("world#1"))?.appliedPercent === 10 ? true : undefined), { timeoutMs: 30_000, what: "the first step applied" });
  expect(w.namerd!.get("internal")!.text).not.toBe(dtab);
  expect(w.namerd!.get("internal")!.text).toContain("world-v2");

  // One apply each, the same objects (same uid) at the end, and no other write to the cluster.
  const writes = w.kube.requests.filter((r) => r.mutating).map((r) => `${r.method} ${r.resource}/${r.name}`);
  expect(writes).toEqual(["PATCH deployments/world-v2", "PATCH services/world-v2"]);
  expect(uidOf(w.kube.get("deployments", "web", "world-v2"))).toBe(created.deployment);
  expect(uidOf(w.kube.get("services", "web", "world-v2"))).toBe(created.service);
}, 120_000);

// ------------------------------------------------------------------------------------------ issue 21: gitops: pause

const pauseTargets = () => `
targets:
  - name: paused
    namespace: shop
    stable: web-v1
    steps: [10, 100]
    gitops: pause
    smi: { trafficSplit: web, apexService: web }
    metrics: { source: none, refreshSeconds: 3600 }
`;

const annotationsOf = (w: World) => (w.kube.get("trafficsplits", "shop", "web")?.metadata as { annotations?: Record<string, string> }).annotations ?? {};
const disabledAnywhere = (w: World) =>
  [...w.kube.list("trafficsplits"), ...w.kube.list("services"), ...w.kube.list("deployments")].filter(
    (o) => (o.metadata as { annotations?: Record<string, string> }).annotations?.[RECONCILE] === "disabled",
  );

it("gitops: pause: SIGKILLed after the pause, and again after the Abort is recorded: once ended, no object has reconcile disabled", async () => {
  const w = await startWorld({ kube: { implicitWorkloads: true, resources: GITOPS_TYPES }, targets: pauseTargets });
  w.kube.seed("trafficsplits", "shop", {
    kind: "TrafficSplit",
    metadata: {
      name: "web",
      namespace: "shop",
      labels: { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
    },
    spec: {
      service: "web",
      backends: [
        { service: "web-v1", weight: 100 },
        { service: "web-v2", weight: 0 },
      ],
    },
  } as KubeObject);
  w.kube.seed("kustomizations", "flux-system", fluxKustomization("apps"));

  // Kill 1: the moment the bot has disabled Flux's reconcile on the split, before the start is through.
  const first = await spawnBot(w);
  await first.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start paused --from web-v1 --to web-v2" });
  await waitFor(() => annotationsOf(w)[RECONCILE] === "disabled", { timeoutMs: 30_000, intervalMs: 5, what: "reconcile disabled on the split" });
  await killBot(first.proc);

  const second = await spawnBot(w);
  // A start on a TrafficSplit goes straight to its first step.
  await waitForMessage(w, "paused#1", (t) => t.includes("Advance to 100%"), "the start through, at its first step");
  const atFirst = await w.store.get("paused#1");
  expect([atFirst?.status, atFirst?.appliedPercent]).toEqual(["active", 10]);
  expect(percentOnSplit(w.kube.get("trafficsplits", "shop", "web")?.spec, "web-v2")).toBe(10);
  expect(annotationsOf(w)[RECONCILE]).toBe("disabled");
  expect(atFirst?.gitopsPaused).toHaveLength(1);

  // Kill 2: Abort is recorded before Slack's 200; the process dies at its first write to the split after it,
  // so the pause is recorded and not yet taken off.
  const killedAt: { status?: string; paused?: number; reconcile?: string } = {};
  const writesBefore = w.kube.mutations("trafficsplits", "shop", "web").length;
  w.kube.onNext({ method: "PATCH", pathIncludes: "/trafficsplits/web" }, async () => {
    await killBot(second.proc);
    const r = await w.store.get("paused#1");
    Object.assign(killedAt, { status: r?.status, paused: r?.gitopsPaused?.length, reconcile: annotationsOf(w)[RECONCILE] });
  });
  await click(w, second, "paused#1", "Abort");
  await waitFor(() => second.proc.signalCode === "SIGKILL", { timeoutMs: 30_000, what: "the kill at the abort's first write" });
  expect(killedAt).toEqual({ status: "aborting", paused: 1, reconcile: "disabled" });
  expect(w.kube.mutations("trafficsplits", "shop", "web").length).toBe(writesBefore + 1);

  await spawnBot(w);
  await waitFor(async () => ((await w.store.get("paused#1"))?.status === "aborted" ? true : undefined), { timeoutMs: 45_000, what: "the abort to end" });
  expect(disabledAnywhere(w)).toEqual([]);
  expect(annotationsOf(w)).toEqual({});
  expect(percentOnSplit(w.kube.get("trafficsplits", "shop", "web")?.spec, "web-v2")).toBe(0);
  expect((await w.store.get("paused#1"))?.gitopsPaused).toBeUndefined();
  await waitFor(() => threadTexts(w, "paused#1").find((t) => t.includes("Flux's reconcile is back on")), { what: "the resume in the thread" });
  const { entries } = await new AuditLog(w.redis, w.store.keys).timeline("paused#1", 100);
  const gitops = entries.filter((e) => e.action === "gitops").map((e) => e.detail ?? "");
  // The pause is said once, as this rollout's, and its removal once, even when the kill came between the pause
  // write and its record (the next process finds the annotation naming this rollout and calls it its own).
  expect(gitops.filter((d) => d.includes("TrafficSplit `shop/web`: Flux's reconcile is paused for this rollout"))).toHaveLength(1);
  expect(gitops.filter((d) => d.includes("left alone there"))).toEqual([]);
  expect(gitops.filter((d) => d.includes("TrafficSplit `shop/web`: Flux's reconcile is back on"))).toHaveLength(1);
}, 150_000);
