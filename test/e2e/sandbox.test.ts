import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../sandbox/server.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../sandbox/world.ts";
import { percentOnSplit } from "../support/split.ts";
import { REDIS_URL, testRedis } from "../support/redis.ts";
import { ReadingHistory } from "../../src/store/readings.ts";

/**
 * Issue 12: the sandbox page in a real browser (Debian's chromium driven by playwright-core) against the
 * real bot, real Redis and the local peers. It acts as a person would: types commands, clicks buttons and
 * confirms, breaks the canary, reloads; and checks what the page shows and what the mesh holds.
 */

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
/** Refresh the pictures in docs/ (the sandbox, a rollout message, the chart, the App Home board). */
const UPDATE_DOCS = Boolean(process.env.UPDATE_DOCS_SCREENSHOT);
const ALICE = "U0ALICE01";

let world: World;
let server: SandboxServer;
let browser: Browser;
let page: Page;
let dir: string;
const problems: string[] = [];

const canaryPercent = () => percentOnSplit(world.kube.get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2");
const rolloutMessage = (p: Page) => p.locator("#messages li.message:not(.ephemeral)", { hasText: "Rollout backend-svc#1: backend-v1 → backend-v2" });
const weightsBar = (p: Page) => p.locator('section[data-target="backend-svc"] [data-part="bar"]');

async function shot(name: string): Promise<string> {
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_BIN)`);
  dir = await mkdtemp(join(tmpdir(), "rollout-sandbox-e2e-"));
  world = await startWorld({
    redisUrl: REDIS_URL,
    keyPrefix: randomSandboxPrefix(),
    // Linkerd 1's admin endpoint answers at once; a Prometheus would first wait out its discovery tick.
    tickMs: 200,
    historyLength: 150,
    timing: { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" },
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  server = await startSandboxServer(world, { port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (r) => {
    // Leaving the page (or acting as someone else) closes its event stream: the page ends it, nothing failed.
    if (new URL(r.url()).pathname === "/api/events" && r.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  await page.goto(`${server.url}?as=${ALICE}`);
  await page.waitForSelector("body[data-ready]");
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await world?.close();
  if (dir) process.stdout.write(`sandbox e2e screenshots: ${dir}\n`);
});

describe("the sandbox page", () => {
  it("runs a rollout from the command box to an automatic abort, and keeps its state across a reload", async () => {
    // Completion: subcommand, then target name, each taken with Tab.
    const box = page.getByRole("combobox", { name: "Command" });
    await box.click();
    await box.pressSequentially("sta");
    await expect
      .poll(() => page.getByRole("listbox", { name: "Completions" }).getByRole("option").allTextContents())
      .toEqual([expect.stringMatching(/^start/), expect.stringMatching(/^status/)]);
    await box.press("Tab");
    expect(await box.inputValue()).toBe("start ");
    await box.pressSequentially("back");
    await expect.poll(() => page.getByRole("listbox", { name: "Completions" }).getByRole("option").first().textContent()).toContain("backend-svc");
    await box.press("Tab");
    expect(await box.inputValue()).toBe("start backend-svc ");
    // --auto: the bot itself watches the canary between steps (a person still clicks Advance).
    await box.pressSequentially("--to backend-v2 --auto 10m");
    await box.press("Enter");

    const message = rolloutMessage(page);
    await message.getByRole("button", { name: "Advance to 80%" }).waitFor({ timeout: 15_000 });
    await expect.poll(() => weightsBar(page).getAttribute("aria-label")).toBe("Weights the mesh holds now: backend-v1 90%, backend-v2 10%");
    expect(canaryPercent()).toBe(10);
    await shot("1-started");

    await message.getByRole("button", { name: "Advance to 80%" }).click();
    await message.getByRole("button", { name: "Advance to 100%" }).waitFor({ timeout: 15_000 });
    await expect
      .poll(() => weightsBar(page).getAttribute("aria-label"), { timeout: 10_000 })
      .toBe("Weights the mesh holds now: backend-v1 20%, backend-v2 80%");
    expect(canaryPercent()).toBe(80);
    expect(await message.textContent()).toContain("backend-v1 20% · backend-v2 80%");
    if (UPDATE_DOCS) {
      // The docs' pictures (`UPDATE_DOCS_SCREENSHOT=1` refreshes them): the sandbox with a rollout at 80% and
      // its readings (README, getting-started), and that rollout's message alone (commands.md).
      // A verdict from readings at 80% (healthy, or still gathering evidence at this short a step).
      await message
        .getByText(/^(Healthy|Waiting for evidence)$/)
        .first()
        .waitFor({ timeout: 30_000 });
      await mkdir("docs", { recursive: true });
      await page.screenshot({ path: "docs/sandbox.png" });
      await message.screenshot({ path: "docs/rollout-message.png" });
    }

    // Abort asks first; "Keep going" changes nothing.
    await message.getByRole("button", { name: "Abort" }).click();
    const dialog = page.getByRole("dialog", { name: "Abort this rollout?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("All traffic for backend-svc goes back to backend-v1.");
    await shot("2-confirm");
    await dialog.getByRole("button", { name: "Keep going" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(canaryPercent()).toBe(80);

    // Break the canary: the bot sees it in the success rates and aborts by itself.
    await page.locator('section[data-target="backend-svc"]').getByRole("button", { name: "Break backend-v2" }).click();
    await message.getByText("Aborted").first().waitFor({ timeout: 30_000 });
    await expect
      .poll(() => weightsBar(page).getAttribute("aria-label"), { timeout: 10_000 })
      .toBe("Weights the mesh holds now: backend-v1 100%, backend-v2 0%");
    expect(canaryPercent()).toBe(0);
    await message.getByRole("button", { name: /repl(y|ies)/ }).click();
    const thread = page.getByRole("complementary", { name: "Thread" });
    await thread.getByText("aborted automatically").first().waitFor({ timeout: 10_000 });
    await shot("3-aborted");
    // The abort posts the success-rate chart into the rollout's thread: a PNG, as Slack received it.
    const chartShare = () => world.slack.surfaces.shares.find((s) => s.thread_ts !== undefined && s.file.filename.endsWith(".png"));
    await expect.poll(() => chartShare()?.file.bytes?.length ?? 0, { timeout: 15_000 }).toBeGreaterThan(20_000);
    const chart = chartShare()!.file.bytes!;
    expect([...chart.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    if (UPDATE_DOCS) await writeFile("docs/chart.png", chart);

    await page.reload();
    await page.waitForSelector("body[data-ready]");
    const after = rolloutMessage(page);
    await after.getByText("Aborted").first().waitFor();
    expect(await after.getByRole("button", { name: /Advance/ }).count()).toBe(0);
    await expect.poll(() => weightsBar(page).getAttribute("aria-label")).toBe("Weights the mesh holds now: backend-v1 100%, backend-v2 0%");

    await box.fill("frobnicate now");
    await box.press("Enter");
    const reply = page.locator("#messages li.message.ephemeral", { hasText: "frobnicate" });
    await reply.waitFor({ timeout: 10_000 });
    expect(await reply.textContent()).toContain("Only visible to you");
    expect(await reply.textContent()).toMatch(/unknown|no subcommand|not a subcommand/i);
    await shot("4-bad-command");
    expect(problems).toEqual([]);
  }, 90_000);

  it("acting as others: Carol is refused privately and nothing starts; Bob's Linkerd 1 rollout rewrites the dtab shown", async () => {
    await page.getByLabel("Acting as").selectOption({ label: "Carol (intern)" });
    const box = page.getByRole("combobox", { name: "Command" });
    await box.fill("start world --to world-v2");
    await box.press("Enter");
    const reply = page.locator("#messages li.message.ephemeral", { hasText: "world" }).last();
    await reply.waitFor({ timeout: 10_000 });
    expect(await reply.textContent()).toMatch(/deployers/);
    expect(world.namerd.get("internal")?.text).toContain("/host/world => /srv/world-v1 ;");

    // The Linkerd 1 story as Bob: the rollout starts with a test stage, then the first step rewrites the
    // dtab, shown as namerctl prints namerd's rendering.
    await page.getByLabel("Acting as").selectOption({ label: "Bob (deployer)" });
    await box.fill("start world --to world-v2");
    await box.press("Enter");
    const worldMessage = page.locator("#messages li.message:not(.ephemeral)", { hasText: "Rollout world#1" });
    await worldMessage.getByText("l5d-dtab: /host/world => /srv/world-v2").first().waitFor({ timeout: 15_000 });
    await worldMessage.getByRole("button", { name: "Start shifting (10%)" }).click();
    const dtab = page.locator('section[data-target="world"] pre.namerctl');
    await expect.poll(() => dtab.textContent(), { timeout: 15_000 }).toContain("/host/world  => 90.00*/srv/world-v1 & 10.00*/srv/world-v2 ;");
    expect(await page.locator('section[data-target="world"] [data-part="bar"]').getAttribute("aria-label")).toBe(
      "Weights the mesh holds now: world-v1 90%, world-v2 10%",
    );

    // Block Kit the bot does not send yet (images, an accessory image, a divider, a modal's input block) is
    // drawn too: posted here through the Web API as any app could.
    const picture = `data:image/svg+xml,${encodeURIComponent("<svg xmlns='http://www.w3.org/2000/svg' width='120' height='48'><polyline points='0,40 30,30 60,34 90,10 120,16' fill='none' stroke='#1264a3' stroke-width='3'/></svg>")}`;
    const blocks = [
      {
        type: "section",
        text: { type: "mrkdwn", text: "*Dashboards* for <https://example.test/d|backend-svc>" },
        accessory: { type: "image", image_url: picture, alt_text: "latency sparkline" },
      },
      { type: "divider" },
      { type: "context", elements: [{ type: "mrkdwn", text: "literal &lt;b&gt;x&lt;/b&gt; &amp; <@U0BOB0001>" }] },
      { type: "image", image_url: picture, alt_text: "error budget chart", title: { type: "plain_text", text: "Error budget" } },
      { type: "input", label: { type: "plain_text", text: "Reason for the hold" }, element: { type: "plain_text_input", action_id: "reason" } },
    ];
    const posted = await fetch(`${world.slack.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${world.slack.botToken}` },
      body: JSON.stringify({ channel: "C0DEPLOYS", text: "Dashboards", blocks }),
    });
    expect(((await posted.json()) as { ok: boolean }).ok).toBe(true);
    const fixture = page.locator("#messages li.message", { hasText: "Dashboards" });
    await fixture.waitFor();
    expect(await fixture.getByRole("img", { name: "latency sparkline" }).count()).toBe(1);
    expect(await fixture.getByRole("figure").textContent()).toContain("Error budget");
    expect(await fixture.getByRole("link", { name: "backend-svc" }).getAttribute("href")).toBe("https://example.test/d");
    expect(await fixture.getByLabel("Reason for the hold").count()).toBe(1);
    expect(await fixture.locator("hr").count()).toBe(1);
    // Escaped text stays text (no markup from a message reaches the page), mentions show the name.
    expect(await fixture.textContent()).toContain("literal <b>x</b> & @bob");
    expect(await fixture.locator("b", { hasText: "x" }).count()).toBe(0);

    await page.setViewportSize({ width: 420, height: 800 });
    await shot("5-narrow");
    expect(problems).toEqual([]);
  }, 60_000);

  it("the start form from the command box, Skip to 100% from the overflow menu, the Home tab, and the HTTPRoute target", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByLabel("Acting as").selectOption({ label: "Alice (deployer)" });
    type Rule = { name?: string; backendRefs: { name: string; weight: number }[] };
    const rules = () => (world.kube.get("httproutes", "shop", "web")!.spec as { rules: Rule[] }).rules;
    const apiRule = () =>
      rules()
        .find((r) => r.name === "api")!
        .backendRefs.map((b) => `${b.name} ${b.weight}`);
    const staticRule = structuredClone(rules().find((r) => r.name === "static"));

    // The gateway target: its panel shows the route's rules, and the command box completes its name.
    const webPanel = page.locator('section[data-target="web"]');
    expect(await webPanel.locator("h3").textContent()).toContain("Gateway API HTTPRoute");
    expect(await webPanel.locator("pre.rules").textContent()).toBe("rule static: /static → static-files 1\nrule api (the split): /api → web-v1 100");
    const box = page.getByRole("combobox", { name: "Command" });
    await box.fill("");
    await box.pressSequentially("status w");
    await expect
      .poll(() => page.getByRole("listbox", { name: "Completions" }).getByRole("option").allTextContents())
      .toEqual([expect.stringMatching(/^world/), expect.stringMatching(/^web/)]);

    // `/rollout` alone opens the start form; picking a target rebuilds it with that target's Deployments.
    await box.fill("");
    await box.press("Enter");
    const form = page.getByRole("dialog", { name: "Start a rollout" });
    await form.waitFor({ timeout: 10_000 });
    expect(await form.getByLabel("Post the rollout in").inputValue()).toBe("C0DEPLOYS");
    await form.getByLabel("Target", { exact: true }).selectOption("web");
    const version = form.getByLabel(/^New version/);
    await expect.poll(() => version.locator("option").allTextContents(), { timeout: 10_000 }).toEqual([expect.any(String), "web-v2"]);
    expect(await form.getByLabel("Steps (percent)").inputValue()).toBe("10,50,100");
    expect(await form.getByLabel("Target", { exact: true }).inputValue()).toBe("web");
    // A wrong value is answered next to its field, and nothing starts.
    await form.getByLabel("Deadline").fill("soon");
    await version.selectOption("web-v2");
    await form.getByRole("button", { name: "Start", exact: true }).click();
    await expect.poll(() => form.locator('[data-block-id="deadline"] .bk-error').textContent()).not.toBe("");
    expect(await form.getByLabel("Deadline").getAttribute("aria-invalid")).toBe("true");
    expect(apiRule()).toEqual(["web-v1 100"]);
    await shot("6-start-form-error");
    await form.getByLabel("Deadline").fill("");
    await form.getByRole("button", { name: "Start", exact: true }).click();
    await form.waitFor({ state: "hidden" });
    const webMessage = page.locator("#messages li.message:not(.ephemeral)", { hasText: "Rollout web#1: web-v1 → web-v2" });
    await webMessage.waitFor({ timeout: 15_000 });
    // The test stage: the bot's header rule routes x-rollout: web-v2 to the canary, the split rule is untouched.
    await expect.poll(() => webPanel.locator("pre.rules").textContent(), { timeout: 15_000 }).toContain("(the bot's test rule): /api + x-rollout: web-v2");

    // Skip to 100% from the message's ⋯ menu: the dialog states the risk and the verdict first.
    await webMessage.getByRole("button", { name: "More actions" }).click({ timeout: 15_000 });
    await webMessage.getByRole("menuitem", { name: "Skip to 100% (emergency)" }).click();
    const skip = page.getByRole("dialog", { name: "Skip to 100%?" });
    await skip.waitFor({ timeout: 10_000 });
    expect(await skip.textContent()).toContain("All traffic for web goes to web-v2 now");
    expect(await skip.textContent()).toMatch(/verdict|reading/i);
    await shot("7-skip-confirm");
    await skip.getByRole("button", { name: "Skip to 100%" }).click();
    await skip.waitFor({ state: "hidden" });
    await expect.poll(apiRule, { timeout: 15_000 }).toEqual(["web-v2 100"]);
    expect(rules().find((r) => r.name === "static")).toEqual(staticRule);
    await expect
      .poll(() => webPanel.locator('[data-part="bar"]').getAttribute("aria-label"), { timeout: 10_000 })
      .toBe("Weights the mesh holds now: web-v1 0%, web-v2 100%");
    await webPanel.screenshot({ path: join(dir, "7-web-panel.png") });

    // The Home tab: Bob's world rollout with the message's own buttons; Advance there moves the mesh.
    await page.getByRole("button", { name: "App Home" }).click();
    const home = page.getByRole("main", { name: "rollout-bot Home" });
    await home.getByText("world#1").first().waitFor({ timeout: 10_000 });
    const advance = home.getByRole("button", { name: /^Advance to \d+%$/ });
    const next = Number(/(\d+)%/.exec((await advance.textContent()) ?? "")![1]);
    await advance.click();
    await expect
      .poll(() => page.locator('section[data-target="world"] [data-part="bar"]').getAttribute("aria-label"), { timeout: 15_000 })
      .toContain(`world-v2 ${next}%`);
    // The board is re-published after the change, and lists web#1 among the completed.
    await expect.poll(() => home.textContent(), { timeout: 15_000 }).toContain(`${next}% on world-v2`);
    expect(await home.textContent()).toContain("web#1");
    await shot("8-home");
    if (UPDATE_DOCS) await home.screenshot({ path: "docs/app-home.png" });
    await page.getByRole("button", { name: "# deploys" }).click();
    await webMessage.waitFor();
    expect(problems).toEqual([]);
  }, 120_000);

  it("a second cluster: a rollout of backend-svc@prod-eu moves only prod-eu's traffic; the page shows where each target lives and each cluster's shares", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByLabel("Acting as").selectOption({ label: "Alice (deployer)" });
    const eu = world.kubeOf("prod-eu");
    const euPercent = () => percentOnSplit(eu.get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2");
    const euPanel = page.locator('section[data-target="backend-svc@prod-eu"]');
    const ownPanel = page.locator('section[data-target="backend-svc"]');
    const euCluster = page.getByRole("list", { name: "Clusters" }).locator('li[data-cluster="prod-eu"]');
    const ownCluster = page.getByRole("list", { name: "Clusters" }).locator('li[data-cluster=""]');
    // Which cluster each target lives in, and how the bot reaches prod-eu: the kubeconfig file its peer wrote.
    expect(await euPanel.locator("h3").textContent()).toContain("cluster prod-eu");
    expect(await ownPanel.locator("h3").textContent()).toContain("own cluster");
    expect(await euCluster.textContent()).toContain(`kubeconfig file ${eu.kubeconfigPath}`);
    const ownWritesBefore = world.kube.requests.filter((r) => r.mutating).length;
    const ownSplit = structuredClone(world.kube.get("trafficsplits", "default", "backend-svc"));
    const euWritesBefore = eu.requests.filter((r) => r.mutating).length;

    const box = page.getByRole("combobox", { name: "Command" });
    await box.fill("start backend-svc@prod-eu --to backend-v2");
    await box.press("Enter");
    const message = page.locator("#messages li.message:not(.ephemeral)", { hasText: "Rollout backend-svc@prod-eu#1: backend-v1 → backend-v2" });
    await message.getByRole("button", { name: "Advance to 80%" }).waitFor({ timeout: 15_000 });
    expect(await message.textContent()).toContain("backend-svc in cluster prod-eu");
    await expect
      .poll(() => euPanel.locator('[data-part="bar"]').getAttribute("aria-label"), { timeout: 10_000 })
      .toBe("Weights the mesh holds now: backend-v1 90%, backend-v2 10%");
    expect(euPercent()).toBe(10);
    // Shares per cluster: prod-eu's moved; backend-svc in the bot's own cluster still sends everything to stable.
    await expect.poll(() => euCluster.textContent()).toContain("backend-svc@prod-eu: backend-v1 90% · backend-v2 10%");
    expect(await ownCluster.textContent()).toContain("backend-svc: backend-v1 100% · backend-v2 0%");
    expect(await ownPanel.locator('[data-part="bar"]').getAttribute("aria-label")).toBe("Weights the mesh holds now: backend-v1 100%, backend-v2 0%");

    await message.getByRole("button", { name: "Advance to 80%" }).click();
    await message.getByRole("button", { name: "Advance to 100%" }).waitFor({ timeout: 15_000 });
    expect(euPercent()).toBe(80);
    // prod-eu's simulated requests follow prod-eu's split, with its own metrics: the bot's readings of this
    // rollout are taken there, and each stored point says so.
    await expect.poll(() => world.traffic.view("backend-svc@prod-eu")!.shares["backend-v2"], { timeout: 10_000 }).toBeCloseTo(0.8);
    expect(world.traffic.view("backend-svc")!.shares["backend-v2"]).toBe(0);
    const redis = testRedis();
    try {
      const readings = new ReadingHistory(redis, world.bot().store.keys);
      await expect.poll(async () => (await readings.list("backend-svc@prod-eu#1")).length, { timeout: 30_000 }).toBeGreaterThan(0);
      expect(new Set((await readings.list("backend-svc@prod-eu#1")).map((p) => p.cluster))).toEqual(new Set(["prod-eu"]));
    } finally {
      await redis.quit();
    }
    await shot("9-prod-eu");

    await message.getByRole("button", { name: "Abort" }).click();
    const dialog = page.getByRole("dialog", { name: "Abort this rollout?" });
    expect(await dialog.textContent()).toContain("All traffic for backend-svc in cluster prod-eu goes back to backend-v1.");
    await dialog.getByRole("button", { name: "Abort" }).click();
    await message.getByText("Aborted").first().waitFor({ timeout: 15_000 });
    expect(euPercent()).toBe(0);
    await expect.poll(() => euCluster.textContent()).toContain("backend-svc@prod-eu: backend-v1 100% · backend-v2 0%");

    // Every write of the rollout went to prod-eu's API; the bot's own cluster's API recorded none.
    expect(eu.requests.filter((r) => r.mutating).length).toBeGreaterThan(euWritesBefore);
    expect(world.kube.requests.filter((r) => r.mutating).slice(ownWritesBefore)).toEqual([]);
    expect(world.kube.get("trafficsplits", "default", "backend-svc")).toEqual(ownSplit);
    expect(problems).toEqual([]);
  }, 120_000);

  it("a wave: the Waves list shows payments' position, each cluster's row and shares; Abort puts staging back", async () => {
    await page.getByLabel("Acting as").selectOption({ label: "Alice (deployer)" });
    const waves = page.getByRole("list", { name: "Waves" }).locator('li[data-wave="payments"]');
    expect(await waves.textContent()).toContain("payments: no rollout yet: /rollout start payments --to <version>");
    const box = page.getByRole("combobox", { name: "Command" });
    await box.fill("start payments --to payments-v2");
    await box.press("Enter");
    const message = page.locator("#messages li.message:not(.ephemeral)", { hasText: "Rollout payments#1: payments-v1 → payments-v2" });
    await message.getByRole("button", { name: "Advance to 50%" }).waitFor({ timeout: 15_000 });
    await expect.poll(() => waves.textContent(), { timeout: 10_000 }).toContain("payments#1 · active · cluster 1 of 2: staging");
    const staging = waves.locator('li[data-wave-cluster="staging"]');
    const eu = waves.locator('li[data-wave-cluster="prod-eu"]');
    await expect.poll(() => staging.textContent(), { timeout: 10_000 }).toContain("staging (the bot's own cluster): payments-v1 90% · payments-v2 10%");
    expect(await staging.textContent()).toContain("running · payments-v2 10%");
    expect(await eu.textContent()).toContain("prod-eu: payments-v1 100% · payments-v2 0%");
    expect(await eu.textContent()).toContain("not reached yet · no weights written");
    await shot("10-wave");

    await message.getByRole("button", { name: "Abort" }).click();
    await page.getByRole("dialog", { name: "Abort this rollout?" }).getByRole("button", { name: "Abort" }).click();
    await message.getByText("Aborted").first().waitFor({ timeout: 15_000 });
    await expect.poll(() => waves.textContent(), { timeout: 10_000 }).toContain("payments#1 · aborted");
    expect(await eu.textContent()).toContain("untouched");
    expect(percentOnSplit(world.kube.get("trafficsplits", "pay", "payments")?.spec, "payments-v2")).toBe(0);
    expect(world.kubeOf("prod-eu").mutations("trafficsplits", "pay", "payments")).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);
});
