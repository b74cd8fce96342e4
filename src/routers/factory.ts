import type { KubeConfig } from "@kubernetes/client-node";
import { loadClusterKubeConfig, loadKubeConfig } from "../kube/config.ts";
import type { Cluster, Target } from "../engine/target.ts";
import { RouterError, type RoutePair, type TrafficRouter } from "./router.ts";
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
  /** Finish's optional clean-up: scale the old Deployment to 0 (reversible; never a delete), in the target's cluster. */
  /** Scale a Deployment to 0; resolves to a line to say when it took the count from a person's tool. */
  scaleDown: (namespace: string, deployment: string, cluster?: string) => Promise<string | undefined>;
  kubeConfig: KubeConfig;
  /** Each other cluster's KubeConfig by name (the targets file's `clusters:`); empty with one cluster. */
  clusterKubeConfigs: ReadonlyMap<string, KubeConfig>;
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
  /** Other clusters (the targets file's `clusters:`): each gets its own clients, discovery and readers. */
  clusters?: Iterable<Cluster>;
};

/** What one cluster's API is reached through: the routers that write to it and the readers beside them. */
type ClusterClients = {
  kubeConfig: KubeConfig;
  smi: SmiRouter;
  gateway: GatewayRouter;
  preflight: Preflight;
  listDeployments: DeploymentLister;
  gitops: GitopsDeps;
  scaleDown: (namespace: string, deployment: string) => Promise<string | undefined>;
};

function clientsFor(kubeConfig: KubeConfig, opts: RouterSettings, gitops: GitopsSettings): ClusterClients {
  const reader = new WorkloadReader(kubeConfig);
  return {
    kubeConfig,
    smi: new SmiRouter({ kubeConfig, timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }),
    gateway: new GatewayRouter({ kubeConfig, timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }),
    preflight: kubePreflight(reader),
    listDeployments: kubeDeploymentLister(reader),
    gitops: {
      ownership: new OwnershipReader(kubeConfig, { timeoutMs: opts.kubeTimeoutMs, settings: gitops }),
      pause: new GitopsPause(kubeConfig, { timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }),
    },
    scaleDown: async (namespace, deployment) => {
      const done = await scaleDeployment(kubeConfig, namespace, deployment, 0, { timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager });
      if (!done.tookFrom) return undefined;
      const who = done.tookFrom.map((m) => `\`${m}\``).join(", ");
      return `scaled Deployment ${namespace}/${deployment} to 0, taking spec.replicas from ${who} (a count set by hand): re-applying that manifest as it is scales it back up`;
    },
  };
}

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
  const own = clientsFor(kubeConfig, opts, gitops);
  const others = new Map<string, ClusterClients>();
  const errors: string[] = [];
  for (const c of opts.clusters ?? []) {
    try {
      others.set(c.name, clientsFor(loadClusterKubeConfig(c, kubeConfig), opts, gitops));
    } catch (err) {
      errors.push(`no usable Kubernetes configuration for ${(err as Error).message}`);
    }
  }
  if (errors.length) return { ok: false, errors };
  const namerd = new NamerdRouter({ timeoutMs: opts.namerdTimeoutMs });
  const inCluster = (cluster: string | undefined): ClusterClients => {
    if (cluster === undefined) return own;
    const c = others.get(cluster);
    // The targets file is checked against `clusters:` at start-up: this is a record from another configuration.
    if (!c) throw new RouterError("invalid", `cluster '${cluster}' is not configured in this bot (the targets file's \`clusters:\`)`);
    return c;
  };
  // One cluster: the routers as they always were. Several: each call goes to the target's cluster only.
  const registry = others.size
    ? new RouterRegistry()
        .register(byCluster("smi", own.smi, (t) => inCluster(t.cluster).smi))
        .register(namerd)
        .register(byCluster("gateway", own.gateway, (t) => inCluster(t.cluster).gateway))
    : new RouterRegistry().register(own.smi).register(namerd).register(own.gateway);
  const preflight: Preflight = others.size
    ? {
        start: (t, p) => inCluster(t.cluster).preflight.start(t, p),
        canary: (t, p) => inCluster(t.cluster).preflight.canary(t, p),
        stableServing: async (t, p) => inCluster(t.cluster).preflight.stableServing?.(t, p),
      }
    : own.preflight;
  return {
    ok: true,
    value: {
      registry,
      kubeConfig,
      clusterKubeConfigs: new Map([...others].map(([name, c]) => [name, c.kubeConfig])),
      preflight,
      listDeployments: others.size ? (namespace, timeoutMs, cluster) => inCluster(cluster).listDeployments(namespace, timeoutMs) : own.listDeployments,
      gitops: others.size ? { ...own.gitops, clusters: new Map([...others].map(([name, c]) => [name, c.gitops])) } : own.gitops,
      scaleDown: async (namespace, deployment, cluster) => inCluster(cluster).scaleDown(namespace, deployment),
      // `--image` acts in the bot's own cluster only: the targets file refuses `deploy: true` with `cluster:`.
      deploy: {
        api: new KubeDeployApi(kubeConfig, { timeoutMs: opts.kubeTimeoutMs, fieldManager: gitops.fieldManager }),
        fieldManager: gitops.fieldManager,
        gitops,
        ...(opts.deployPollMs !== undefined ? { pollMs: opts.deployPollMs } : {}),
      },
    },
  };
}

/**
 * A router of one kind that sends each call to the router of the target's cluster (`pick`), so a rollout's
 * writes and reads reach only the cluster its record names. Optional members follow the bot's own router.
 */
function byCluster(kind: Target["router"], own: TrafficRouter, pick: (t: Target) => TrafficRouter): TrafficRouter {
  return {
    kind,
    ...(own.hasTestStage !== undefined ? { hasTestStage: own.hasTestStage } : {}),
    validate: (t, p) => pick(t).validate(t, p),
    observe: (t, p, baseline) => pick(t).observe(t, p, baseline),
    apply: (t, p, percent, expect) => pick(t).apply(t, p, percent, expect),
    finalize: (t, p, winner, o) => pick(t).finalize(t, p, winner, o),
    testRequestHint: (t, p) => pick(t).testRequestHint(t, p),
    ...(own.discoverStable ? { discoverStable: (t: Target) => pick(t).discoverStable!(t) } : {}),
    ...(own.writtenObjects ? { writtenObjects: (t: Target, p: RoutePair) => pick(t).writtenObjects!(t, p) } : {}),
  };
}
