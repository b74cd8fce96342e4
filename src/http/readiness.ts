import { VersionApi, type KubeConfig } from "@kubernetes/client-node";
import { kubeCall } from "../kube/call.ts";
import type { ReadinessCheck } from "./health.ts";

/**
 * The readiness checks beyond Redis: the Kubernetes API (for targets whose router writes through it) and
 * the Slack token. Each is cheap: `GET /version` with the kube deadline, and `auth.test` cached so a probe
 * every few seconds does not become a Slack call every few seconds.
 */

/** The Kubernetes API answers `GET /version` within `timeoutMs`; `cluster` names another cluster's (in /readyz). */
export function kubeApiCheck(kubeConfig: KubeConfig, timeoutMs: number, cluster?: string): ReadinessCheck {
  const api = kubeConfig.makeApiClient(VersionApi);
  return {
    name: cluster === undefined ? "kubernetes API" : `kubernetes API (cluster ${cluster})`,
    ready: async () => {
      await kubeCall("GET /version", (o) => api.getCode(o), { timeoutMs });
      return true;
    },
  };
}

/** Slack's answer to `auth.test`, as much as readiness needs. */
export type AuthTest = () => Promise<{ ok: boolean; error?: string }>;

/** Errors by which Slack says the token itself is no good (anything else, e.g. a network error, is not). */
const REJECTED = new Set(["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission", "missing_scope"]);

/**
 * Not ready once Slack has rejected the token; re-asked at most every `ttlMs`. An unreachable Slack does not
 * make the bot unready (restarting it would not help, and requests in flight still complete).
 */
export function slackTokenCheck(authTest: AuthTest, opts: { ttlMs: number; now: () => number; waitMs?: number }): ReadinessCheck {
  let cached: { at: number; ok: boolean } | undefined;
  let pending: Promise<boolean> | undefined;
  const ask = async (): Promise<boolean> => {
    try {
      const res = await authTest();
      return res.ok;
    } catch (e) {
      const code = (e as { data?: { error?: unknown } }).data?.error;
      return !(typeof code === "string" && REJECTED.has(code));
    }
  };
  return {
    name: "slack token",
    ready: async () => {
      if (cached && opts.now() - cached.at < opts.ttlMs) return cached.ok;
      pending ??= ask()
        .then((ok) => {
          cached = { at: opts.now(), ok };
          return ok;
        })
        .finally(() => (pending = undefined));
      // A probe does not wait out Slack's retries: no answer yet counts as the last one (or as ready).
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(cached?.ok ?? true), opts.waitMs ?? 2_000)));
      try {
        return await Promise.race([pending, slow]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Whether any target (or an ad-hoc start, which may pick any router) writes through the Kubernetes API of
 * the bot's own cluster; with `cluster`, whether a target of that cluster does (ad-hoc targets never live there).
 */
export function needsKubeApi(targets: { adhoc: boolean; targets: Map<string, { router: string; cluster?: string | undefined }> }, cluster?: string): boolean {
  if (cluster !== undefined) return [...targets.targets.values()].some((t) => t.cluster === cluster && t.router !== "namerd");
  return targets.adhoc || [...targets.targets.values()].some((t) => t.cluster === undefined && t.router !== "namerd");
}
