/**
 * A namespace's Deployments for the start form, with a failure reduced to why there is no list: the bot may
 * not list them (403), the API did not answer in time, could not be reached, or answered something else.
 * Read-only, and never thrown: a form without a list still works (the person types the name).
 */
import { err, ok, type Result } from "../engine/result.ts";
import { KubeApiError } from "./call.ts";
import type { WorkloadReader } from "./workloads.ts";

export type DeploymentSeen = { name: string; createdAt?: number };

export type DeploymentListFailure =
  | { code: "forbidden"; message: string }
  | { code: "timeout"; timeoutMs: number }
  | { code: "unreachable"; message: string }
  | { code: "failed"; status: number; message: string };

/** `cluster`: the target's, from the targets file's `clusters:` (absent: the bot's own). */
export type DeploymentLister = (namespace: string, timeoutMs: number, cluster?: string) => Promise<Result<DeploymentSeen[], DeploymentListFailure>>;

export function kubeDeploymentLister(reader: Pick<WorkloadReader, "deploymentNames">): DeploymentLister {
  return async (namespace, timeoutMs) => {
    try {
      return ok(await reader.deploymentNames(namespace, timeoutMs));
    } catch (e) {
      if (!(e instanceof KubeApiError)) throw e;
      const f = e.failure;
      if (f.kind === "timeout") return err({ code: "timeout", timeoutMs });
      if (f.kind === "network") return err({ code: "unreachable", message: f.message });
      // 401 is the same story for a person: the bot's credentials do not let it list them.
      if (f.code === 403 || f.code === 401) return err({ code: "forbidden", message: f.message });
      return err({ code: "failed", status: f.code, message: f.message });
    }
  };
}
