import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../kube/config.ts";
import { scaleDeployment } from "../kube/deployments.ts";
import { kubePreflight, type Preflight } from "../kube/preflight.ts";
import { WorkloadReader } from "../kube/workloads.ts";
import { kubeDeploymentLister, type DeploymentLister } from "../kube/deployment-list.ts";
import { DEFAULT_GITOPS, type GitopsSettings } from "../engine/ownership.ts";
import { GitopsPause } from "../kube/gitops-pause.ts";
import { OwnershipReader, type GitopsDeps } from "../kube/ownership.ts";
import { GatewayRouter } from "./gateway.ts";
import { KubeDeployApi, type DeployDeps } from "../kube/deploy.ts";
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
  /** A namespace's Deployments, for the start form's version choices. */
  listDeployments: DeploymentLister;
  /** Who owns what a rollout writes (Argo CD, Flux), and `gitops: pause`. */
  gitops: GitopsDeps;
  /** `--image` (targets with `deploy: true`): the new version's objects, and their removal. */
  deploy: DeployDeps;
};

export type RouterSettings = {
  /** KUBECONFIG (may list several files) and, in a pod, KUBERNETES_SERVICE_HOST: where credentials come from. */
  kube: { KUBECONFIG?: string | undefined; KUBERNETES_SERVICE_HOST?: string | undefined };
  /** Deadline of one Kubernetes API request (ROLLOUT_KUBE_TIMEOUT_SECONDS, parsed in main). */
  kubeTimeoutMs: number;
  /** Deadline of one request to namerd (ROLLOUT_NAMERD_TIMEOUT_SECONDS, parsed in main). */
  namerdTimeoutMs: number;
  /** The bot's field manager and where Argo CD keeps its Applications (ROLLOUT_FIELD_MANAGER, ROLLOUT_ARGOCD_*). */
  gitops?: GitopsSettings;
  /** How often a deploying new version's pods are looked at (default 2 s; tests and the sandbox go faster). */
  deployPollMs?: number;
};

/**
 * Every mesh the bot can drive, built once at start-up from settings parsed in main. Kubernetes credentials
 * are required (SMI, Gateway API and the clean-up need them); namerd needs nothing global: each target
 * names its namerd.
 */
export async function buildRouters(opts: RouterSettings): Promise<{ ok: true; value: Routers } | { ok: false; errors: string[] }> {
  let kubeConfig: KubeConfig;
  try {
    // KUBECONFIG may list several files; loadKubeConfig applies kubectl's rules to what main read.
    kubeConfig = loadKubeConfig(undefined, { env: opts.kube });
  } catch (err) {
    return { ok: false, errors: [`no usable Kubernetes configuration: ${(err as Error).message}`] };
  }
  const gitops = opts.gitops ?? DEFAULT_GITOPS;
  const registry = new RouterRegistry()
    .register(new SmiRouter({ kubeConfig, timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }))
    .register(new NamerdRouter({ timeoutMs: opts.namerdTimeoutMs }))
    .register(new GatewayRouter({ kubeConfig, timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }));
  const reader = new WorkloadReader(kubeConfig);
  return {
    ok: true,
    value: {
      registry,
      kubeConfig,
      preflight: kubePreflight(reader),
      listDeployments: kubeDeploymentLister(reader),
      gitops: {
        ownership: new OwnershipReader(kubeConfig, { timeoutMs: opts.kubeTimeoutMs, settings: gitops }),
        pause: new GitopsPause(kubeConfig, { timeoutMs: opts.kubeTimeoutMs }),
      },
      deploy: {
        api: new KubeDeployApi(kubeConfig, { timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }),
        fieldManager: gitops.fieldManager,
        gitops,
        ...(opts.deployPollMs !== undefined ? { pollMs: opts.deployPollMs } : {}),
      },
      scaleDown: async (namespace, deployment) => {
        await scaleDeployment(kubeConfig, namespace, deployment, 0, { timeoutMs: opts.kubeTimeoutMs });
      },
    },
  };
}
