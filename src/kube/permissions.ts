/**
 * Every Kubernetes permission the bot needs, in one place: deploy/base/rbac.yaml and the cluster-rbac
 * component's ClusterRole are tested against this list (test/deploy/rbac.test.ts), and that test also
 * records the requests the routers and clean-up make against the API peer and checks each is allowed by
 * these rules and each rule is used. Change a call, change this list, and the manifests follow.
 *
 * API discovery (GET /apis, which SmiRouter and GatewayRouter read to pick the TrafficSplit and HTTPRoute
 * versions) is a non-resource URL: every authenticated user may read it through the built-in
 * system:discovery ClusterRole, and a Role cannot hold non-resource rules anyway, so nothing is granted
 * for it here.
 */

export type PolicyRule = {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Only these objects (RBAC `resourceNames`: get, update, patch and delete of a named object). */
  resourceNames?: string[];
};

export type Permission = PolicyRule & {
  /** The code that makes these calls, for whoever reviews the grant. */
  neededBy: string;
};

export const PERMISSIONS: readonly Permission[] = [
  {
    apiGroups: ["split.smi-spec.io"],
    resources: ["trafficsplits"],
    // get: a target's named split and the read-back after each write; list: finding the split whose
    // spec.service is the apex; create: validate's dry-run create of a missing split (dryRun=All needs the
    // same verb); patch: every step, a server-side apply of spec.backends under the bot's field manager
    // carrying the resourceVersion it read (the first step's apply creates a missing split).
    verbs: ["get", "list", "create", "patch"],
    neededBy: "src/routers/smi.ts (SmiRouter.locate, verify, applySplit, dryRunCreate)",
  },
  {
    apiGroups: ["gateway.networking.k8s.io"],
    resources: ["httproutes"],
    // get: the route before each write, its read-back, and status.parents while waiting for the
    // controllers (status comes with the object: the bot never asks for or writes httproutes/status);
    // patch: every step, a server-side apply of spec.rules under the bot's field manager carrying the
    // resourceVersion it read, and validate's dry-run apply. Never list, create or delete: the route is the
    // person's, the bot only edits it.
    verbs: ["get", "patch"],
    neededBy: "src/routers/gateway.ts (GatewayRouter.read, write)",
  },
  {
    apiGroups: ["apps"],
    resources: ["deployments/scale"],
    // get: the replica count before scaling; patch: setting it to 0 ("cleanup: scale-down" after Finish), a
    // server-side apply of the Scale under the bot's field manager.
    verbs: ["get", "patch"],
    neededBy: "src/kube/deployments.ts (getDeploymentReplicas, scaleDeployment) via src/routers/factory.ts scaleDown",
  },
  {
    apiGroups: [""],
    resources: ["services"],
    // get: preflight reads the apex, stable and canary Services (that they exist, and the canary's selector).
    verbs: ["get"],
    neededBy: "src/kube/workloads.ts (WorkloadReader.service) via src/kube/preflight.ts",
  },
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    // get: the canary's Deployment by name; list: the Deployments whose pods the canary Service selects,
    // and the start form's version choices (without it the form asks for a name instead).
    verbs: ["get", "list"],
    neededBy: "src/kube/workloads.ts (WorkloadReader.deployment, deployments, deploymentNames) via src/kube/preflight.ts and src/kube/deployment-list.ts",
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["rollouts"],
    // get: following a Rollout (a periodic GET, so no list or watch) and the read before each request, as
    // `kubectl argo rollouts promote` reads first; patch: spec.paused (pause, and promote/resume of a
    // paused Rollout) and the plugin's fallback to the main resource when /status answers 404.
    verbs: ["get", "patch"],
    neededBy: "src/controllers/argo-rollouts.ts (ArgoRolloutsClient.read, send)",
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["rollouts/status"],
    // patch: promote (pauseConditions, currentStepIndex), promote --full (promoteFull), abort, retry.
    verbs: ["patch"],
    neededBy: "src/controllers/argo-rollouts.ts (ArgoRolloutsClient.send)",
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["analysisruns"],
    // get: the current step's (or background) AnalysisRun the message shows; the bot never writes one.
    verbs: ["get"],
    neededBy: "src/controllers/argo-rollouts.ts (ArgoRolloutsClient.read)",
  },
  {
    apiGroups: ["flagger.app"],
    resources: ["canaries"],
    // get: reading a gated Canary on an interval (a GET of one named object, so no list or watch): its
    // status, analysis settings and webhooks. Never written: Flagger moves the traffic and calls the bot.
    verbs: ["get"],
    neededBy: "src/controllers/flagger.ts (FlaggerClient.read)",
  },
];

/** The rules as a Role/ClusterRole carries them (the `neededBy` notes are comments in the YAML). */
export function roleRules(permissions: readonly Permission[] = PERMISSIONS): PolicyRule[] {
  return permissions.map(({ apiGroups, resources, verbs, resourceNames }) => ({
    apiGroups: [...apiGroups],
    resources: [...resources],
    verbs: [...verbs],
    ...(resourceNames ? { resourceNames: [...resourceNames] } : {}),
  }));
}

/**
 * What the GitOps checks need on top (deploy/components/gitops, checked by test/deploy/rbac-gitops.test.ts):
 * reading the owners an object names, and the annotation patch of `gitops: pause`. Without them an owned
 * object is judged "unknown" (the start is refused with what to grant), and `gitops: pause` cannot pause.
 */
export const GITOPS_PERMISSIONS: readonly Permission[] = [
  {
    apiGroups: ["argoproj.io"],
    resources: ["applications"],
    // get: the Application a tracking annotation or instance label names (sync policy, ignoreDifferences).
    verbs: ["get"],
    neededBy: "src/kube/ownership.ts (OwnershipReader.ownerSpec) via src/queue/jobs/gitops.ts",
  },
  {
    apiGroups: ["kustomize.toolkit.fluxcd.io"],
    resources: ["kustomizations"],
    // get: the Kustomization the kustomize-controller labels name (suspend, ignore rules).
    verbs: ["get"],
    neededBy: "src/kube/ownership.ts (OwnershipReader.ownerSpec) via src/queue/jobs/gitops.ts",
  },
  {
    apiGroups: ["helm.toolkit.fluxcd.io"],
    resources: ["helmreleases"],
    // get: the HelmRelease the helm-controller labels name (suspend, drift detection and its ignore rules).
    verbs: ["get"],
    neededBy: "src/kube/ownership.ts (OwnershipReader.ownerSpec) via src/queue/jobs/gitops.ts",
  },
  {
    apiGroups: ["split.smi-spec.io"],
    resources: ["trafficsplits"],
    // patch: `gitops: pause` sets and removes two annotations (a merge patch of metadata.annotations only).
    verbs: ["patch"],
    neededBy: "src/kube/gitops-pause.ts (GitopsPause.pause, resume)",
  },
  {
    apiGroups: ["gateway.networking.k8s.io"],
    resources: ["httproutes"],
    verbs: ["patch"],
    neededBy: "src/kube/gitops-pause.ts (GitopsPause.pause, resume)",
  },
];

/**
 * What the GitOps checks need in Argo CD's namespace only (a Role and RoleBinding there in
 * deploy/components/gitops, checked by test/deploy/rbac-gitops.test.ts): Argo CD's settings ConfigMap and
 * nothing else, for its system-level ignore rules. Without it those rules are unknown: an Argo CD-owned
 * object whose Application does not itself ignore the bot's fields is refused as "unknown".
 */
export const GITOPS_ARGOCD_PERMISSIONS: readonly Permission[] = [
  {
    apiGroups: [""],
    resources: ["configmaps"],
    // get: `resource.customizations.ignoreDifferences.<group>_<Kind>` and `.all` in argocd-cm.
    verbs: ["get"],
    resourceNames: ["argocd-cm"],
    neededBy: "src/kube/ownership.ts (OwnershipReader.argoCmRules) via src/queue/jobs/gitops.ts",
  },
];

/**
 * What `--image` needs on top (deploy/components/deploy, checked by test/deploy/rbac-deploy.test.ts), for
 * targets with `deploy: true` only: creating and removing workloads is more than a traffic shifter needs, so
 * it is a component a cluster opts into. Reading the stable's Deployment and Service is in the base grant.
 */
export const DEPLOY_PERMISSIONS: readonly Permission[] = [
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    // patch: server-side apply of the new version's Deployment; delete: the bot's own after a failed deploy or
    // Abort, the old version's on Finish with `cleanup: delete` (each preconditioned on the uid it read).
    verbs: ["patch", "delete"],
    neededBy: "src/kube/deploy.ts (KubeDeployApi.apply, remove) via src/queue/jobs/deploy.ts",
  },
  {
    apiGroups: [""],
    resources: ["services"],
    verbs: ["patch", "delete"],
    neededBy: "src/kube/deploy.ts (KubeDeployApi.apply, remove) via src/queue/jobs/deploy.ts",
  },
  {
    apiGroups: [""],
    resources: ["pods"],
    // list: the new version's pods by its selector, for what Kubernetes reports while they come up.
    verbs: ["list"],
    neededBy: "src/kube/deploy.ts (KubeDeployApi.facts) via src/queue/jobs/deploy.ts",
  },
];
