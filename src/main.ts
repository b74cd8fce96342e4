import { closedInProduction, loadFlaggerTokens, loadTargets, parseEnv, PRODUCTION_NEEDS_TARGETS } from "./config.ts";
import { ok } from "./engine/result.ts";
import { startBot } from "./bot.ts";
import { createLogger } from "./logger.ts";
import { buildRouters } from "./routers/factory.ts";

/**
 * Composition root: read the configuration, say exactly what is missing, build the adapters, start.
 * Thin on purpose: everything it wires is tested through startBot().
 */
async function main(): Promise<number> {
  // No Slack credentials at all: a newcomer's first `npm start`. Show the product instead of a list of errors.
  // Imported only then, so a real start never loads the sandbox's peers and page server. Never in production
  // (the image sets NODE_ENV=production): a pod without its secrets must fail, not serve a demo.
  if (process.env.NODE_ENV !== "production" && !process.env.SLACK_SIGNING_SECRET && !process.env.SLACK_BOT_TOKEN) {
    return (await import("../sandbox/main.ts")).runSandbox(process.env, "no-credentials");
  }
  const problems: string[] = [];
  const env = parseEnv(process.env);
  if (!env.ok) problems.push(...env.error);
  // Closed by default in production: without a targets file the bot does not start at all.
  const production = process.env.NODE_ENV === "production";
  const loaded = await loadTargets(process.env.ROLLOUT_TARGETS);
  const targets = loaded.ok ? closedInProduction(loaded.value, { production, fromFile: Boolean(process.env.ROLLOUT_TARGETS) }) : loaded;
  if (!targets.ok) problems.push(...targets.error);
  const flaggerTokens = targets.ok ? await loadFlaggerTokens(targets.value, process.env) : ok(new Map<string, string>());
  if (!flaggerTokens.ok) problems.push(...flaggerTokens.error);
  // Built even when the environment is invalid, so that every problem is listed at once (the bot does not
  // start then, so the deadlines do not matter).
  const seconds = env.ok ? env.value : { ROLLOUT_KUBE_TIMEOUT_SECONDS: 10, ROLLOUT_NAMERD_TIMEOUT_SECONDS: 5 };
  const routers = await buildRouters({
    kube: { KUBECONFIG: process.env.KUBECONFIG, KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST },
    kubeTimeoutMs: seconds.ROLLOUT_KUBE_TIMEOUT_SECONDS * 1000,
    namerdTimeoutMs: seconds.ROLLOUT_NAMERD_TIMEOUT_SECONDS * 1000,
    // Each cluster the targets file declares gets its own clients (its context or kubeconfig file is checked now).
    ...(targets.ok && targets.value.clusters ? { clusters: targets.value.clusters.values() } : {}),
    ...(env.ok
      ? {
          gitops: {
            fieldManager: env.value.ROLLOUT_FIELD_MANAGER,
            argocdNamespace: env.value.ROLLOUT_ARGOCD_NAMESPACE,
            argocdInstanceLabel: env.value.ROLLOUT_ARGOCD_INSTANCE_LABEL,
          },
        }
      : {}),
  });
  if (!routers.ok) problems.push(...routers.errors);

  if (!env.ok || !targets.ok || !routers.ok || !flaggerTokens.ok) {
    // Everything else in order, the missing targets file is said in one line of its own.
    if (problems.length === 1 && problems[0] === PRODUCTION_NEEDS_TARGETS) {
      process.stderr.write(`${PRODUCTION_NEEDS_TARGETS}\n`);
      return 2;
    }
    process.stderr.write(
      `rollout-bot cannot start:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        "Set these in the environment (see docs/configuration.md) and run again.\n",
    );
    return 2;
  }

  const log = createLogger(env.value.LOG_LEVEL);
  // During a Redis outage (a Cluster master lost, say) ioredis and BullMQ can leave a rejected promise no
  // one awaits. Node would end the process for it; staying up is better: every rollout's state is in
  // Redis, each job is retried, /readyz already says 503, and a crash loop would only add restarts.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "a promise was rejected and nobody handled it (kept running)"));
  const bot = await startBot({
    env: env.value,
    targets: targets.value,
    routers: routers.value.registry,
    log,
    scaleDown: routers.value.scaleDown,
    kubeConfig: routers.value.kubeConfig,
    clusterKubeConfigs: routers.value.clusterKubeConfigs,
    preflight: routers.value.preflight,
    gitops: routers.value.gitops,
    deploy: routers.value.deploy,
    flaggerTokens: flaggerTokens.value,
    listDeployments: routers.value.listDeployments,
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    // A second signal (kubectl delete twice, Ctrl-C again) must not cut the drain short.
    if (stopping) return log.info({ signal }, "already shutting down; still finishing the work in hand");
    stopping = true;
    const deadlineMs = env.value.ROLLOUT_SHUTDOWN_SECONDS * 1000;
    log.info({ signal, deadlineSeconds: env.value.ROLLOUT_SHUTDOWN_SECONDS }, "shutting down: not ready, taking no new work, finishing the work in hand");
    const finished = await bot.drain(deadlineMs);
    if (!finished)
      log.warn(
        { deadlineSeconds: env.value.ROLLOUT_SHUTDOWN_SECONDS },
        "shutdown deadline reached: closing with work still in hand (its jobs are retried by another replica)",
      );
    await bot.stop();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  return 0;
}

main().then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`rollout-bot failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
