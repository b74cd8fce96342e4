/**
 * Where the bot's Kubernetes credentials come from. client-node's own default loading silently falls back
 * to http://localhost:8080 when it finds nothing, which surfaces much later as "connection refused";
 * here a missing or broken configuration fails at start with a message that says what was looked at.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}

/** Where to look; tests replace these instead of touching the real environment. */
export type KubeConfigSources = {
  /** KUBECONFIG and KUBERNETES_SERVICE_HOST, as main read them (nothing here reads the environment). */
  env?: { KUBECONFIG?: string | undefined; KUBERNETES_SERVICE_HOST?: string | undefined };
  home?: string;
  /** Prefix for the service account directory (client-node's `pathPrefix`); "" in a real pod. */
  serviceAccountRoot?: string;
};

/** Agents kept for credentials that changed (a rotated client certificate): the newest few, the rest let go. */
const KEPT_AGENTS = 4;
/** A replaced agent is closed this long after, when requests that took it have long finished. */
const RETIRED_AGENT_MS = 10 * 60_000;
/** What decides which connections a request may share: the transport and the TLS identity on both sides. */
const AGENT_KEY_OPTIONS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

/**
 * A KubeConfig whose API requests share keep-alive connections. client-node 1.x makes a new http(s).Agent for
 * every request (KubeConfig.createAgent, from applySecurityAuthentication), so each request opened its own
 * TCP connection, and against a real API server its own TLS handshake, then closed it: a start makes a dozen
 * requests, so a burst of 1,000 starts opened 12,000 connections (issue 24). Here the
 * agent client-node made is only read for its options, and the request goes through one keep-alive agent per
 * cluster transport and credentials. Proxy agents (a kubeconfig's proxy-url) are left as client-node makes them.
 */
export class PooledKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, http.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    const pooled = made ? this.pooled(made) : undefined;
    if (pooled) context.setAgent(pooled);
  }

  private pooled(made: http.Agent): http.Agent | undefined {
    const tls = made.constructor === https.Agent;
    if (!tls && made.constructor !== http.Agent) return undefined;
    const options = (made as http.Agent & { options: Record<string, unknown> }).options;
    const hash = createHash("sha256").update(tls ? "https" : "http");
    for (const k of AGENT_KEY_OPTIONS) {
      const v = options[k];
      hash.update(`\0${k}=`);
      if (v !== undefined) hash.update(Buffer.isBuffer(v) ? v : JSON.stringify(v));
    }
    const key = hash.digest("hex");
    const kept = this.agents.get(key);
    if (kept) return kept;
    const agent = tls ? new https.Agent({ ...options, keepAlive: true }) : new http.Agent({ ...options, keepAlive: true });
    this.agents.set(key, agent);
    for (const [oldKey, old] of this.agents) {
      if (this.agents.size <= KEPT_AGENTS) break;
      this.agents.delete(oldKey);
      setTimeout(() => old.destroy(), RETIRED_AGENT_MS).unref();
    }
    return agent;
  }
}

function fromFile(path: string, origin: string): KubeConfig {
  if (!existsSync(path)) throw new KubeConfigError(`kubeconfig ${path} (${origin}) does not exist`);
  const kc = new PooledKubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new KubeConfigError(`kubeconfig ${path} (${origin}) could not be read: ${(err as Error).message}`);
  }
  return checked(kc, `kubeconfig ${path} (${origin})`);
}

/** A kubeconfig that parsed may still name no usable context or cluster. */
function checked(kc: KubeConfig, label: string): KubeConfig {
  const context = kc.getCurrentContext();
  if (!context) throw new KubeConfigError(`${label} has no current-context`);
  if (!kc.getContextObject(context)) throw new KubeConfigError(`${label}: current-context "${context}" is not among its contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeConfigError(`${label}: context "${context}" names no cluster with a server URL`);
  return kc;
}

/**
 * The KubeConfig from `path` if given; else the usual rules: every file in $KUBECONFIG (merged),
 * ~/.kube/config, or the pod's service account when running in a cluster.
 */
export function loadKubeConfig(path?: string, sources: KubeConfigSources = {}): KubeConfig {
  if (path) return fromFile(path, "given path");
  const env = sources.env ?? {};
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (files.length > 0) {
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length === files.length) throw new KubeConfigError(`KUBECONFIG names ${files.join(", ")}, and none of them exists`);
    const kc = new PooledKubeConfig();
    try {
      kc.loadFromFile(files.find((f) => existsSync(f))!);
      for (const f of files.filter((f) => existsSync(f)).slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more);
      }
    } catch (err) {
      throw new KubeConfigError(`KUBECONFIG (${files.join(delimiter)}) could not be read: ${(err as Error).message}`);
    }
    return checked(kc, `KUBECONFIG (${files.join(delimiter)})`);
  }
  const home = sources.home ?? homedir();
  const personal = join(home, ".kube", "config");
  if (existsSync(personal)) return fromFile(personal, "~/.kube/config");
  const saRoot = sources.serviceAccountRoot ?? "";
  const saDir = saRoot + SERVICE_ACCOUNT_DIR;
  if (existsSync(join(saDir, "token")) && env.KUBERNETES_SERVICE_HOST) {
    const kc = new PooledKubeConfig();
    kc.loadFromCluster(saRoot);
    return kc;
  }
  throw new KubeConfigError(
    "no Kubernetes configuration found: KUBECONFIG is not set, " +
      `${personal} does not exist, and this is not a pod (no service account token in ${saDir}). ` +
      "Set KUBECONFIG to a kubeconfig file or run the bot in the cluster with a service account.",
  );
}

/**
 * The KubeConfig of a cluster the targets file declares: a context of the bot's own kubeconfig (`base`), or
 * a kubeconfig file of its own (its current-context). Fails with what was looked at, like loadKubeConfig.
 */
export function loadClusterKubeConfig(cluster: { name: string; context?: string | undefined; kubeconfig?: string | undefined }, base: KubeConfig): KubeConfig {
  if (cluster.kubeconfig) return fromFile(cluster.kubeconfig, `cluster ${cluster.name}`);
  const context = cluster.context ?? "";
  if (!base.getContextObject(context)) {
    const known = base.getContexts().map((c) => c.name);
    throw new KubeConfigError(
      `cluster ${cluster.name}: context "${context}" is not in the bot's kubeconfig (${known.length ? `it has ${known.join(", ")}` : "it has no contexts"})`,
    );
  }
  // Pooled like the bot's own: a plain KubeConfig would open a connection (and a TLS handshake) per request.
  const kc = new PooledKubeConfig();
  kc.loadFromString(base.exportConfig());
  kc.setCurrentContext(context);
  return checked(kc, `cluster ${cluster.name} (context "${context}")`);
}
