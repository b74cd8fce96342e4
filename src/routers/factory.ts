import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../kube/config.ts";
import { scaleDeployment } from "../kube/deployments.ts";
import { kubePreflight, type Preflight } from "../kube/preflight.ts";
import { WorkloadReader } from "../kube/workloads.ts";
import { NamerdRouter } from "./namerd.ts";
import { RouterRegistry } from "./registry.ts";
import { SmiRouter } from "./smi.ts";

export type Routers = {
  registry: RouterRegistry;
  /** Finish's optional clean-up: scale the old Deployment to 0 (reversible; never a delete). */
  scaleDown: (namespace: string, deployment: string) => Promise<void>;
  kubeConfig: KubeConfig;
  /** Services and canary Deployment checks before a start and while a rollout runs. */
  preflight: Preflight;
};

/**
 * Every mesh the bot can drive, built once at start-up. Kubernetes credentials are required (SMI and the
 * clean-up need them); namerd needs nothing global: each target names its namerd.
 */
export async function buildRouters(opts: {
  /** KUBECONFIG (may list several files) and, in a pod, KUBERNETES_SERVICE_HOST: where credentials come from. */
  kube: { KUBECONFIG?: string | undefined; KUBERNETES_SERVICE_HOST?: string | undefined };
}): Promise<{ ok: true; value: Routers } | { ok: false; errors: string[] }> {
  let kubeConfig: KubeConfig;
  try {
    // KUBECONFIG may list several files; loadKubeConfig applies kubectl's rules to what main read.
    kubeConfig = loadKubeConfig(undefined, { env: opts.kube });
  } catch (err) {
    return { ok: false, errors: [`no usable Kubernetes configuration: ${(err as Error).message}`] };
  }
  const registry = new RouterRegistry().register(new SmiRouter({ kubeConfig })).register(new NamerdRouter());
  return {
    ok: true,
    value: {
      registry,
      kubeConfig,
      preflight: kubePreflight(new WorkloadReader(kubeConfig)),
      scaleDown: async (namespace, deployment) => {
        await scaleDeployment(kubeConfig, namespace, deployment, 0);
      },
    },
  };
}
