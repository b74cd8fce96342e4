import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { AUDIT_OUTCOMES, known, slackMethod } from "./metric-labels.ts";

/**
 * The process's Prometheus metrics: one registry per bot (no global default registry, so two bots in one
 * process, as in tests, do not share series). Adapters and surfaces observe through `OpsObserver`; the
 * gauges that describe state (rollouts by state, queue depth) are read from their owners at scrape time.
 */

/** What the rest of the bot may report; every method is cheap and never throws. */
export type OpsObserver = {
  /** An audited decision or event: its action (advance, abort, start, ...) and outcome (done/refused/error). */
  transition(action: string, outcome: string): void;
  /** A mesh write and its read-back (`write`), or a read alone (`read`), by router kind; `cluster`: another cluster's. */
  meshCall(router: string, op: "write" | "read", seconds: number, cluster?: string): void;
  /** From a Slack request's arrival to its acknowledgement, by kind (command, action, event...). */
  slackAck(kind: string, seconds: number): void;
  /** One Web API call by method, and whether Slack answered 429. */
  slackCall(method: string, outcome: "ok" | "error"): void;
  slackRateLimited(method: string): void;
  /** A Web API call waited this long for its turn in the workspace's Slack budget. */
  slackBudgetWait(method: string, seconds: number): void;
  /** A refresh (a message whose reading alone changed) found no room in the Slack budget and was deferred. */
  slackRefreshDeferred(): void;
  /** A job's change of state found no turn in the Slack budget: the job was put back in line (bucket: method[:channel]). */
  slackPutBack(bucket: string): void;
  /** One effect job attempt by job name: completed or failed. */
  job(name: string, outcome: "completed" | "failed"): void;
};

export type StateSources = {
  /** Active rollouts counted by state (running, held, ...). */
  activeByState(): Promise<Record<string, number>>;
  /** With clusters declared: active rollouts by cluster (`own`: the bot's own); absent, no such gauge. */
  activeByCluster?(): Promise<Record<string, number>>;
  /** Effect jobs by queue (each lane is one: rollout-mesh, rollout-effects), then by BullMQ state (waiting, delayed, active...). */
  queueDepth(): Promise<Record<string, Record<string, number>>>;
};

export type OpsMetrics = OpsObserver & {
  registry: Registry;
  /** The exposition text and its content type, for GET /metrics. */
  scrape(): Promise<{ contentType: string; body: string }>;
};

/** Label values come from code, but clip them so a bug can never mint unbounded series. */
const label = (s: string) => (s.length > 40 ? s.slice(0, 40) : s);

export type OpsMetricsOptions = {
  prefix?: string;
  /**
   * The audit actions counted by name (src/http/metric-labels.ts knownActions); any other is `unknown`.
   * Without it, every action is counted as `unknown`.
   */
  actions?: ReadonlySet<string>;
};

export function createOpsMetrics(sources: StateSources, opts: OpsMetricsOptions = {}): OpsMetrics {
  const actions = opts.actions ?? new Set<string>();
  const p = opts.prefix ?? "rollout_bot_";
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: p });

  new Gauge({
    name: `${p}active_rollouts`,
    help: "Rollouts that have not ended, by state",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await sources.activeByState().catch(() => ({})))) this.set({ state }, n);
    },
  });
  const byCluster = sources.activeByCluster?.bind(sources);
  if (byCluster)
    new Gauge({
      name: `${p}active_rollouts_by_cluster`,
      help: "Rollouts that have not ended, by the cluster their target lives in (own: the bot's own)",
      labelNames: ["cluster"] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [cluster, n] of Object.entries(await byCluster().catch(() => ({})))) this.set({ cluster: label(cluster) }, n);
      },
    });
  new Gauge({
    name: `${p}queue_jobs`,
    help: "Effect jobs by queue (rollout-mesh: mesh writes and timers; rollout-effects: the rest) and BullMQ state",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [queue, byState] of Object.entries(await sources.queueDepth().catch(() => ({}))))
        for (const [state, n] of Object.entries(byState)) this.set({ queue: label(queue), state }, n);
    },
  });
  const transitions = new Counter({
    name: `${p}transitions_total`,
    help: "Audited decisions and events, by action and outcome (done, refused, error)",
    labelNames: ["action", "outcome"] as const,
    registers: [registry],
  });
  const mesh = new Histogram({
    name: `${p}mesh_call_duration_seconds`,
    help: "Mesh calls by router: a write with its read-back (op=write), or a read (op=read); cluster: another cluster's",
    labelNames: ["router", "op", "cluster"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ack = new Histogram({
    name: `${p}slack_ack_duration_seconds`,
    help: "From a Slack request's arrival to its acknowledgement (Slack gives up after 3 s)",
    labelNames: ["kind"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3],
    registers: [registry],
  });
  const calls = new Counter({
    name: `${p}slack_api_calls_total`,
    help: "Slack Web API calls by method and outcome (error includes every retry given up)",
    labelNames: ["method", "outcome"] as const,
    registers: [registry],
  });
  const limited = new Counter({
    name: `${p}slack_api_rate_limited_total`,
    help: "Slack Web API answers 429 (rate limited), by method",
    labelNames: ["method"] as const,
    registers: [registry],
  });
  const budgetWait = new Histogram({
    name: `${p}slack_budget_wait_seconds`,
    help: "Time a Slack Web API call waited for its turn in the workspace's shared budget, by method (only calls that waited)",
    labelNames: ["method"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20],
    registers: [registry],
  });
  const deferred = new Counter({
    name: `${p}slack_refreshes_deferred_total`,
    help: "Message refreshes (only the reading changed) deferred because the Slack budget had no room above its reserve",
    registers: [registry],
  });
  const putBack = new Counter({
    name: `${p}slack_calls_put_back_total`,
    help: "Slack calls of effect jobs that found no turn in the budget: the job gave its worker slot back and waits in line, by method",
    labelNames: ["method"] as const,
    registers: [registry],
  });
  const jobs = new Counter({
    name: `${p}jobs_total`,
    help: "Effect job attempts by job and outcome (completed, failed; a failed attempt may be retried)",
    labelNames: ["job", "outcome"] as const,
    registers: [registry],
  });

  return {
    registry,
    transition: (action, outcome) => transitions.inc({ action: known(action, actions), outcome: known(outcome, AUDIT_OUTCOMES) }),
    // The bot's own cluster has no cluster label: a one-cluster bot's series are as they always were.
    meshCall: (router, op, seconds, cluster) =>
      mesh.observe({ router: label(router), op, ...(cluster !== undefined ? { cluster: label(cluster) } : {}) }, seconds),
    slackAck: (kind, seconds) => ack.observe({ kind: label(kind) }, seconds),
    slackCall: (method, outcome) => calls.inc({ method: slackMethod(method), outcome }),
    slackRateLimited: (method) => limited.inc({ method: slackMethod(method) }),
    slackBudgetWait: (method, seconds) => budgetWait.observe({ method: slackMethod(method) }, seconds),
    slackRefreshDeferred: () => deferred.inc(),
    // The method only: a channel label would make one series per channel.
    slackPutBack: (bucket) => putBack.inc({ method: slackMethod(bucket.split(":")[0] ?? bucket) }),
    job: (name, outcome) => jobs.inc({ job: label(name), outcome }),
    async scrape() {
      return {
        contentType: registry.contentType,
        body: await registry.metrics(),
      };
    },
  };
}

/** For code started without a bot's metrics (tools, some tests): observes nothing. */
export const NO_OBSERVER: OpsObserver = {
  transition() {},
  meshCall() {},
  slackAck() {},
  slackCall() {},
  slackRateLimited() {},
  slackBudgetWait() {},
  slackRefreshDeferred() {},
  slackPutBack() {},
  job() {},
};
