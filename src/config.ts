import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { err, ok, type Result } from "./engine/result.ts";
import { issueText } from "./slack/views/problems.ts";
import { PolicySchema, type Policy } from "./engine/policy.ts";
import { ClusterSchema, TargetSchema, targetKey, type Cluster, type Target } from "./engine/target.ts";
import { describeIssues } from "./slack/views/config-problems.ts";
import { parseRedisUrl } from "./store/redis-connection.ts";
import { credentialFreeUrl } from "./engine/urls.ts";

/**
 * Configuration from the environment and the targets file, validated once at start-up. Every problem is
 * reported at once, in words that say what to set and where to find it.
 */

const HELP: Record<string, string> = {
  SLACK_SIGNING_SECRET: "the Signing Secret from your Slack app's Basic Information page",
  SLACK_BOT_TOKEN: "the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page",
  SLACK_APP_TOKEN: "an app-level token (xapp-...) with connections:write, for Socket Mode",
};

/** A per-request deadline in seconds (fractions allowed), e.g. ROLLOUT_KUBE_TIMEOUT_SECONDS. */
const timeoutSeconds = (defaultSeconds: number) =>
  z.coerce.number().positive("must be more than 0 seconds").max(300, "must be at most 300 seconds").default(defaultSeconds);

const perMinute = (n: number) => z.coerce.number().int("must be a whole number").min(1, "must be at least 1").max(10_000, "must be at most 10000").default(n);

export const EnvSchema = z.object({
  SLACK_SIGNING_SECRET: z.string({ error: `is missing: ${HELP.SLACK_SIGNING_SECRET}` }).min(1, `is empty: ${HELP.SLACK_SIGNING_SECRET}`),
  SLACK_BOT_TOKEN: z.string({ error: `is missing: ${HELP.SLACK_BOT_TOKEN}` }).regex(/^xoxb-/, `must start with xoxb-: ${HELP.SLACK_BOT_TOKEN}`),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, `must start with xapp-: ${HELP.SLACK_APP_TOKEN}`)
    .optional(),
  SLACK_API_URL: credentialFreeUrl("the bot authenticates with SLACK_BOT_TOKEN", "https://slack.com/api/").optional(),
  /**
   * One Redis (`redis://`, `rediss://`) or a Redis Cluster (`redis+cluster://[user:password@]host:port,...`,
   * `rediss+cluster://` with TLS): src/store/redis-connection.ts.
   */
  REDIS_URL: z
    .string()
    .superRefine((url, ctx) => {
      const r = parseRedisUrl(url);
      if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
    })
    .default("redis://127.0.0.1:6379"),
  KUBECONFIG: z.string().optional(),
  /** Prometheus for targets whose metrics settings name no URL of their own. */
  PROMETHEUS_URL: credentialFreeUrl(
    "pass a bearer token with PROMETHEUS_BEARER_TOKEN_FILE (a file, e.g. a mounted Secret) or PROMETHEUS_BEARER_TOKEN",
    "http://prometheus.monitoring:9090",
  ).optional(),
  /** A bearer token for PROMETHEUS_URL, from a file read before each query (a rotated token is picked up)... */
  PROMETHEUS_BEARER_TOKEN_FILE: z.string().min(1, "is empty: give the path of a file holding the token").optional(),
  /** ...or from this variable (e.g. `valueFrom.secretKeyRef`). Never both. */
  PROMETHEUS_BEARER_TOKEN: z.string().min(1, "is empty: leave it unset or give the token").optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Port of /healthz and /readyz (their own server, whatever carries Slack's requests). */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ROLLOUT_TARGETS: z.string().optional(),
  /** Prefix of every Redis key and BullMQ queue; lets several bots (or tests) share one Redis. */
  ROLLOUT_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/, "may hold letters, digits, _ . : -")
    .default("rollout-bot"),
  /** How long Slack user-group memberships (policy `@handles`) are cached, in seconds. */
  ROLLOUT_GROUP_CACHE_SECONDS: z.coerce.number().min(0, "must be 0 or more seconds").max(86_400, "must be at most 86400 seconds (a day)").default(60),
  /**
   * Deadlines of one request to the Kubernetes API, to namerd, and to the Slack Web API: a peer that accepts
   * the connection and never answers fails the attempt after this long (it is retried with backoff) instead
   * of holding a worker. main passes the Kubernetes and namerd ones to buildRouters (src/routers/factory.ts);
   * the Slack one is for the bot's WebClient (`clientOptions.timeout` in src/bot.ts).
   */
  ROLLOUT_KUBE_TIMEOUT_SECONDS: timeoutSeconds(10),
  ROLLOUT_NAMERD_TIMEOUT_SECONDS: timeoutSeconds(5),
  ROLLOUT_SLACK_TIMEOUT_SECONDS: timeoutSeconds(10),
  /**
   * The workspace's Slack budget (src/slack/budget.ts), shared by every replica through Redis: the share of
   * Slack's published rate limits the bot spends, how many seconds' worth of calls may go at once, and how
   * long a change of state waits for its turn before the call fails and is retried.
   */
  /** `off`: calls go straight to Slack (a local Slack without limits, as in most tests); its 429s are still waited out. */
  ROLLOUT_SLACK_BUDGET: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  ROLLOUT_SLACK_BUDGET_PERCENT: z.coerce.number().min(1, "must be at least 1 (percent)").max(100, "must be at most 100 (percent)").default(80),
  ROLLOUT_SLACK_BURST_SECONDS: z.coerce.number().min(1, "must be at least 1 second").max(60, "must be at most 60 seconds").default(15),
  ROLLOUT_SLACK_MAX_WAIT_SECONDS: timeoutSeconds(20),
  /**
   * On SIGTERM, how long requests and jobs in hand may take to finish before connections are closed: the
   * pod's terminationGracePeriodSeconds (30 by default) minus a margin for closing and exiting.
   */
  /** The bot's field manager on the objects it writes (what Argo CD's `managedFieldsManagers` names). */
  ROLLOUT_FIELD_MANAGER: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, "must be 1 to 128 printable characters without spaces")
    .default("rollout-bot"),
  /** Argo CD's control-plane namespace (where an Application named plainly by a tracking id lives). */
  ROLLOUT_ARGOCD_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a namespace name")
    .default("argocd"),
  /** Argo CD's `application.instanceLabelKey` (label tracking, Argo CD before 3.0). */
  ROLLOUT_ARGOCD_INSTANCE_LABEL: z.string().min(1).default("app.kubernetes.io/instance"),
  ROLLOUT_SHUTDOWN_SECONDS: z.coerce.number().min(0, "must be 0 or more seconds").max(3600, "must be at most 3600 seconds").default(25),
  /**
   * Per-person limits (src/app/rate-limits.ts), per minute, shared by every replica: starts, Refresh
   * readings, charts. A chart is also posted into one rollout's thread at most once per 30 s, whoever asks.
   */
  ROLLOUT_LIMIT_STARTS_PER_MINUTE: perMinute(5),
  ROLLOUT_LIMIT_REFRESHES_PER_MINUTE: perMinute(10),
  ROLLOUT_LIMIT_CHARTS_PER_MINUTE: perMinute(3),
  /** A chart is posted into one rollout's thread at most once in this many seconds, whoever asks (0: no limit). */
  ROLLOUT_CHART_THREAD_SECONDS: z.coerce
    .number()
    .int("must be a whole number of seconds")
    .min(0, "must be 0 or more seconds")
    .max(3600, "must be at most 3600 seconds")
    .default(30),
  /** How long who-can-see-a-channel answers (conversations.info, conversations.members) are cached, in seconds. */
  ROLLOUT_CHANNEL_CACHE_SECONDS: z.coerce.number().min(0, "must be 0 or more seconds").max(86_400, "must be at most 86400 seconds (a day)").default(60),
  /**
   * How long an ended rollout's keys (record, audit timeline, Slack bookkeeping, readings, and the target's
   * sequence once nothing runs on it) stay in Redis, in days (fractions allowed); then they expire.
   */
  ROLLOUT_RETENTION_DAYS: z.coerce.number().positive("must be more than 0 days").max(3650, "must be at most 3650 days (ten years)").default(90),
  /** Address the Slack and health ports bind (the sandbox binds 127.0.0.1). */
  BIND_ADDRESS: z.union([z.ipv4(), z.ipv6()], { error: "must be an IP address such as 0.0.0.0 or 127.0.0.1" }).default("0.0.0.0"),
  /**
   * Hosts a `response_url` may point at (comma-separated). Besides these, the host of SLACK_API_URL is trusted
   * (it is given the bot token already). A signed request naming another host is refused.
   */
  SLACK_RESPONSE_URL_HOSTS: z
    .string()
    .default("hooks.slack.com")
    .transform((s) =>
      s
        .split(",")
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    ),
});

export type TimeoutSetting = "ROLLOUT_KUBE_TIMEOUT_SECONDS" | "ROLLOUT_NAMERD_TIMEOUT_SECONDS" | "ROLLOUT_SLACK_TIMEOUT_SECONDS";

/**
 * One timeout setting from the environment, in ms. An invalid value gives the default here: parseEnv
 * reports it and refuses to start, so this only matters to code that runs without startBot (tests, tools).
 */
export function timeoutMsFromEnv(name: TimeoutSetting, env: NodeJS.ProcessEnv = process.env): number {
  const schema = EnvSchema.shape[name];
  const parsed = schema.safeParse(env[name]);
  return Math.round((parsed.success ? parsed.data : schema.parse(undefined)) * 1000);
}

export type Env = z.infer<typeof EnvSchema>;

/** A configuration, or every problem with it, each a line a person can act on. */
export type ConfigResult<T> = Result<T, string[]>;

export function parseEnv(env: NodeJS.ProcessEnv): ConfigResult<Env> {
  const r = EnvSchema.safeParse(env);
  if (r.success && r.data.PROMETHEUS_BEARER_TOKEN && r.data.PROMETHEUS_BEARER_TOKEN_FILE)
    return err(["PROMETHEUS_BEARER_TOKEN and PROMETHEUS_BEARER_TOKEN_FILE are both set: give the token one way"]);
  if (r.success) return ok(r.data);
  return err(r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`));
}

/** The targets file's schema (exported for the docs-drift test, which walks its keys). */
export const TargetsFileSchema = z.strictObject({
  /** Allow `/rollout start` on targets not declared here (assembled from flags). */
  adhoc: z.boolean().default(false),
  targets: z.array(TargetSchema).default([]),
  /** Clusters besides the bot's own that targets may name in `cluster:` (docs/clusters.md). */
  clusters: z.array(ClusterSchema).default([]),
  /** Default policy for every target (and ad-hoc ones); a target's own `policy` overrides it key by key. */
  policy: PolicySchema.optional(),
});

export type TargetsFile = {
  adhoc: boolean;
  /** By target key: `shop` in the bot's own cluster, `shop@prod-eu` in another (engine/target.ts targetKey). */
  targets: Map<string, Target>;
  /** The clusters besides the bot's own, by name (absent or empty: one cluster). */
  clusters?: Map<string, Cluster>;
  policy?: Policy;
  /** Closed by default: nobody may start or finish until a `policy` says who may (see closedInProduction). */
  closed?: boolean;
};

export function parseTargetsFile(text: string, source = "targets file"): ConfigResult<TargetsFile> {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (e) {
    return err([`${source} is not valid YAML: ${(e as Error).message}`]);
  }
  const r = TargetsFileSchema.safeParse(withClusterNamerd(doc));
  if (!r.success) {
    // Every problem at once, unknown keys too (each with the key it was probably meant to be): start-up stops.
    return err(describeIssues(TargetsFileSchema, r.error.issues, issueText).map((e) => `${source}: ${e}`));
  }
  const targets = new Map<string, Target>();
  const clusters = new Map<string, Cluster>();
  const errors: string[] = [];
  for (const c of r.data.clusters) {
    if (clusters.has(c.name)) errors.push(`${source}: cluster '${c.name}' is declared twice`);
    clusters.set(c.name, c);
  }
  for (const t of r.data.targets) {
    const key = targetKey(t);
    if (targets.has(key)) errors.push(`${source}: target '${key}' is declared twice`);
    if (t.cluster !== undefined && !clusters.has(t.cluster))
      errors.push(
        `${source}: target '${key}' names cluster '${t.cluster}', which \`clusters:\` does not declare (${clusters.size ? [...clusters.keys()].join(", ") : "it declares none"})`,
      );
    for (const c of t.clusters ?? [])
      if (!clusters.has(c))
        errors.push(
          `${source}: target '${key}' names cluster '${c}' in its wave (\`clusters\`), which the file's \`clusters:\` does not declare (${clusters.size ? [...clusters.keys()].join(", ") : "it declares none"})`,
        );
    targets.set(key, t);
  }
  if (errors.length) return err(errors);
  return ok({ adhoc: r.data.adhoc, targets, ...(clusters.size ? { clusters } : {}), ...(r.data.policy ? { policy: r.data.policy } : {}) });
}

/**
 * A namerd target in a declared cluster whose `namerd:` block names no `url` takes its cluster's `namerdUrl`.
 * Filled in before the schema reads the file, so the target is checked as if it had been written out.
 */
function withClusterNamerd(doc: unknown): unknown {
  const file = doc as { clusters?: unknown; targets?: unknown };
  if (!Array.isArray(file?.clusters) || !Array.isArray(file.targets)) return doc;
  const urls = new Map<unknown, unknown>();
  for (const c of file.clusters as { name?: unknown; namerdUrl?: unknown }[]) if (c && c.namerdUrl !== undefined) urls.set(c.name, c.namerdUrl);
  const targets = (file.targets as { cluster?: unknown; namerd?: Record<string, unknown> }[]).map((t) =>
    t && t.namerd && typeof t.namerd === "object" && t.namerd.url === undefined && urls.has(t.cluster)
      ? { ...t, namerd: { ...t.namerd, url: urls.get(t.cluster) } }
      : t,
  );
  return { ...file, targets };
}

/** Without a targets file any target may be started from flags; with one, only what it declares (unless adhoc: true). */
export async function loadTargets(path: string | undefined): Promise<ConfigResult<TargetsFile>> {
  if (!path) return ok({ adhoc: true, targets: new Map() });
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return err([`ROLLOUT_TARGETS: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseTargetsFile(text, path);
}

/** The one line a production bot without a targets file says before it exits. */
export const PRODUCTION_NEEDS_TARGETS =
  "rollout-bot refuses to start: NODE_ENV=production and no targets file (ROLLOUT_TARGETS): declare the targets it may touch, or `adhoc: true` with a `policy` naming who may start and in which `namespaces` (docs/security.md)";

/**
 * Closed by default in production: no targets file refuses to start (main says PRODUCTION_NEEDS_TARGETS);
 * `adhoc: true` without a file-level `policy` starts with nobody allowed to start or finish. Opening up is an
 * explicit `policy` entry. Outside production (a laptop, the sandbox) nothing changes. Pure.
 */
export function closedInProduction(file: TargetsFile, opts: { production: boolean; fromFile: boolean }): ConfigResult<TargetsFile> {
  if (!opts.production) return ok(file);
  if (!opts.fromFile) return err([PRODUCTION_NEEDS_TARGETS]);
  return ok(file.adhoc && !file.policy ? { ...file, closed: true } : file);
}

/**
 * The token each `router: flagger` target's webhooks must carry (`metadata.token`), read once at start-up from
 * its `tokenFile` (a mounted Secret; trailing newline dropped) or `tokenEnv`. A missing or short token is a
 * start-up error: a gate anyone could open is worse than none.
 */
export async function loadFlaggerTokens(targets: TargetsFile, env: Record<string, string | undefined>): Promise<ConfigResult<Map<string, string>>> {
  const tokens = new Map<string, string>();
  const errors: string[] = [];
  for (const t of targets.targets.values()) {
    const f = t.flagger;
    if (t.router !== "flagger" || !f) continue;
    let token: string | undefined;
    if (f.tokenFile) {
      try {
        token = (await readFile(f.tokenFile, "utf8")).trim();
      } catch (e) {
        errors.push(`target '${t.name}': cannot read flagger.tokenFile ${f.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        continue;
      }
    } else if (f.tokenEnv) token = env[f.tokenEnv]?.trim();
    if (!token || token.length < 16) {
      errors.push(`target '${t.name}': the Flagger webhook token (${f.tokenFile ? `file ${f.tokenFile}` : `$${f.tokenEnv}`}) must be at least 16 characters`);
      continue;
    }
    tokens.set(t.name, token);
  }
  return errors.length ? err(errors) : ok(tokens);
}
