import { Cluster, Redis } from "ioredis";
import { err, ok, type Result } from "../engine/result.ts";

/**
 * Where the bot's Redis is: one server (`redis://`, `rediss://`, handed to ioredis as it always was) or a
 * Redis Cluster (`redis+cluster://[user:password@]host:port,host:port`, `rediss+cluster://` for TLS). The
 * cluster form lives in REDIS_URL too, so a deployment's Secret keeps one setting, password included.
 */
export type RedisEndpoint =
  { kind: "single"; url: string } | { kind: "cluster"; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

/** A connection to one Redis or to a cluster: the store and the queue use either the same way. */
export type RedisClient = Redis | Cluster;

const SINGLE = /^rediss?:\/\//;
const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^@/?#]*)([^?#]*)(.*)$/;
const NODE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?$/;

export const REDIS_URL_FORMS = "a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL";

/** The endpoint a REDIS_URL names, or what is wrong with it (a sentence that follows the variable's name). */
export function parseRedisUrl(url: string): Result<RedisEndpoint, string> {
  if (SINGLE.test(url)) return ok({ kind: "single", url });
  const m = CLUSTER.exec(url);
  if (!m) return err(`must be ${REDIS_URL_FORMS}`);
  const [, scheme, userinfo, hostList, path, rest] = m as unknown as [string, string, string | undefined, string, string, string];
  if (rest) return err("takes no ?options or #fragment in the redis+cluster:// form");
  // A cluster serves database 0 only (SELECT is refused), so any other number is a mistake worth saying.
  if (path !== "" && path !== "/" && path !== "/0") return err(`names database ${path.slice(1)}, but a Redis Cluster has only database 0`);
  const names = hostList.split(",").map((n) => n.trim());
  if (names.length === 0 || names.every((n) => n === "")) return err("names no cluster node: give redis+cluster://host:port[,host:port...]");
  const nodes: { host: string; port: number }[] = [];
  for (const name of names) {
    const n = NODE.exec(name);
    const port = n?.[2] === undefined ? 6379 : Number(n[2]);
    if (!n || !Number.isInteger(port) || port < 1 || port > 65535) return err(`has a cluster node '${name}' that is not host:port`);
    nodes.push({ host: n[1]!.replace(/^\[|\]$/g, ""), port });
  }
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    try {
      username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon)) || undefined;
      password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1)) || undefined;
    } catch {
      return err("has a user or password that is not percent-encoded properly");
    }
  }
  return ok({
    kind: "cluster",
    nodes,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    tls: scheme === "rediss",
  });
}

/**
 * `work`: the store, the queue and the worker: a command waits out an outage and runs when Redis is back.
 * `requests`: what a Slack request uses: while Redis is unreachable a command fails at once, so the person
 * gets an error instead of a decision applied whenever Redis returns.
 */
export type ConnectionUse = "work" | "requests";

const requestRetry = (attempt: number) => Math.min(50 * attempt, 500);

export function connectRedis(endpoint: RedisEndpoint, use: ConnectionUse): RedisClient {
  if (endpoint.kind === "single") {
    return use === "work"
      ? new Redis(endpoint.url, { maxRetriesPerRequest: null })
      : new Redis(endpoint.url, { maxRetriesPerRequest: 0, retryStrategy: requestRetry });
  }
  return new Cluster(endpoint.nodes, {
    redisOptions: {
      // BullMQ requires null (its blocking reads must not give up); requests fail fast instead.
      maxRetriesPerRequest: use === "work" ? null : 0,
      ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
      ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
      ...(endpoint.tls ? { tls: {} } : {}),
    },
    // The cluster keeps its own queue of commands while it has no slot map: requests must not wait in it.
    ...(use === "requests" ? { enableOfflineQueue: false, clusterRetryStrategy: requestRetry } : {}),
    // With TLS, connect to the names given (certificates name hosts, not the addresses they resolve to).
    ...(endpoint.tls ? { dnsLookup: (address: string, callback: (e: null, a: string) => void) => callback(null, address) } : {}),
  });
}

/**
 * Whether Redis answers and can take writes (readiness): PING for one server; on a cluster, that the node
 * asked reports `cluster_state:ok` (every slot served), since a PING succeeds on a cluster missing a master.
 */
export async function redisAnswers(redis: RedisClient): Promise<boolean> {
  try {
    if (redis.isCluster) return (await redis.cluster("INFO")).includes("cluster_state:ok");
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  }
}

/** Resolves once the connection is ready, or after `ms` if it is not (true when it was ready in time). */
export async function readyWithin(redis: RedisClient, ms: number): Promise<boolean> {
  if (redis.status === "ready") return true;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      redis.once("ready", onReady);
      timer = setTimeout(() => resolve(false), ms);
    });
  } finally {
    clearTimeout(timer);
    if (onReady) redis.off("ready", onReady);
  }
}
