import { err, ok, type Result } from "./result.ts";
import { DNS1123_LABEL } from "./names.ts";
import { selects } from "./preflight.ts";
import { versionServices, type Pair } from "./services.ts";
import { kubeNamespace, type Target } from "./target.ts";

/**
 * `/rollout start --image`: the new version's Deployment (and Service) made from the stable one's, and what
 * Kubernetes reports while it comes up. Pure: the stable objects as read and the person's image in, the
 * objects to apply (or a problem code with data) out; the Deployment's and its pods' status in, a verdict
 * out. The kube adapter (src/kube/deploy.ts) reads and applies; the views word the codes.
 */

/** The label that says the bot made an object (and so may remove it); its value is the field manager. */
export const MANAGED_BY = "app.kubernetes.io/managed-by";
/** The rollout whose start created the object: cleanup removes only objects of its own rollout. */
export const CREATED_BY_ROLLOUT = "rollout-bot.io/created-by-rollout";
/** The version the object was copied from (for whoever reads the object later). */
export const COPIED_FROM = "rollout-bot.io/copied-from";

/**
 * Metadata that belongs to the object it was read from, never to a copy: what the API server owns, the
 * previous object's rollout history and kubectl's record, and the GitOps tools' claims (a copy carrying
 * Argo CD's tracking id would be pruned by Argo CD as an object git does not have).
 */
const DROP_ANNOTATIONS = [
  "deployment.kubernetes.io/revision",
  "kubectl.kubernetes.io/last-applied-configuration",
  "argocd.argoproj.io/tracking-id",
  "meta.helm.sh/release-name",
  "meta.helm.sh/release-namespace",
];
const DROP_LABEL_PREFIXES = ["kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/", "applications.argoproj.io/"];
const DROP_METADATA = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "managedFields",
  "ownerReferences",
  "selfLink",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "finalizers",
  "generateName",
];

/**
 * Docker/OCI image reference grammar (distribution/reference): `[host[:port]/]path[:tag][@digest]`, lower-case
 * path components, a tag of at most 128 word characters, `.` and `-`, a digest `algorithm:hex` (32+ hex).
 */
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REF = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);

export type ImageProblem = { code: "image-invalid"; image: string; why: "empty" | "too-long" | "grammar" | "uppercase" };

/** Whether `image` is an image reference a kubelet can pull, or why not. */
export function imageProblem(image: string): ImageProblem | undefined {
  if (image === "") return { code: "image-invalid", image, why: "empty" };
  // The name part (before tag/digest) may be at most 255 characters; a whole reference beyond 512 is nonsense.
  if (image.length > 512) return { code: "image-invalid", image: image.slice(0, 80), why: "too-long" };
  if (IMAGE_REF.test(image)) return undefined;
  const path = image.split("@")[0]!.replace(/:[\w][\w.-]*$/, "");
  const repo = path.includes("/") ? path.slice(path.indexOf("/") + 1) : path;
  return { code: "image-invalid", image, why: /[A-Z]/.test(repo) ? "uppercase" : "grammar" };
}

/**
 * The next version after `stable` by the trailing number (`world-v1` -> `world-v2`), skipping names `taken`
 * says exist; undefined when the stable's name ends in no number (the person names it with `--to`).
 */
export function nextVersion(stable: string, taken: (version: string) => boolean): string | undefined {
  const m = /^(.*?)(\d+)$/.exec(stable);
  if (!m) return undefined;
  const prefix = m[1]!;
  for (let n = Number(m[2]) + 1; n < Number(m[2]) + 1000; n++) {
    const candidate = `${prefix}${n}`;
    if (candidate.length > 63 || !DNS1123_LABEL.test(candidate)) return undefined;
    if (!taken(candidate)) return candidate;
  }
  return undefined;
}

/** Where the two versions' objects live and are named (the router's naming: `versionServices`). */
export type DeployNames = {
  namespace: string;
  stable: { deployment: string; service: string };
  canary: { deployment: string; service: string };
};

/**
 * The objects of both versions. SMI and namerd (`/srv/<version>`) name a version's Deployment and Service by
 * the version; a Gateway target through its `service` template. A Gateway target with a fixed
 * `canaryService` routes to a Service the bot cannot make per version: undefined.
 */
export function deployNames(target: Pick<Target, "namespace" | "router" | "gateway">, pair: Pair): DeployNames | undefined {
  if (target.router === "gateway" && (target.gateway?.canaryService || target.gateway?.stableService)) return undefined;
  const routed = versionServices(target, pair);
  if (routed) {
    return {
      namespace: routed.namespace,
      stable: { deployment: routed.stableWorkload, service: routed.stable },
      canary: { deployment: routed.canaryWorkload, service: routed.canary },
    };
  }
  if (target.router !== "namerd") return undefined;
  const ns = kubeNamespace(target);
  return { namespace: ns, stable: { deployment: pair.stable, service: pair.stable }, canary: { deployment: pair.canary, service: pair.canary } };
}

/** The deploy settings a target may carry; the schema in target.ts fills the defaults. */
export type DeploySettings = { container?: string | undefined; versionLabel: string };

export type K8sObject = { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; spec?: unknown; status?: unknown; [k: string]: unknown };

export type DeployProblem =
  | ImageProblem
  | { code: "stable-deployment-missing"; namespace: string; name: string }
  | { code: "stable-service-missing"; namespace: string; name: string }
  | { code: "stable-scaled-to-zero"; namespace: string; name: string }
  | { code: "container-ambiguous"; deployment: string; containers: string[] }
  | { code: "container-missing"; deployment: string; container: string; containers: string[] }
  | { code: "service-without-selector"; namespace: string; name: string }
  /** The stable's Service or Deployment selector would pick the new pods too: traffic could not be split. */
  | { code: "selector-overlap"; namespace: string; name: string; kind: "Service" | "Deployment"; selector: Record<string, string>; versionLabel: string }
  | { code: "canary-not-ours"; namespace: string; name: string; kind: "Deployment" | "Service" }
  | { code: "version-unnamed"; stable: string }
  | { code: "fixed-services"; target: string }
  | { code: "gitops-owned"; namespace: string; name: string; owners: { kind: string; name?: string }[] };

export type NewVersionInput = {
  rolloutId: string;
  fieldManager: string;
  /** The stable version's name: a label whose value is it (`app: world-v1`) names the version, and is renamed. */
  stableVersion: string;
  version: string;
  image: string;
  names: DeployNames;
  settings: DeploySettings;
  stableDeployment: K8sObject;
  /** Absent: the router needs no Service per version. */
  stableService?: K8sObject | undefined;
};

export type NewVersionObjects = { deployment: K8sObject; service?: K8sObject; replicas: number; container: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const strings = (v: unknown): Record<string, string> =>
  isRecord(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string")) : {};

/** A copy's metadata: name and namespace set, the source's own history and claims dropped, the bot's marks added. */
function copiedMetadata(
  source: unknown,
  name: string,
  namespace: string,
  labels: Record<string, string>,
  input: NewVersionInput,
  from: string,
): Record<string, unknown> {
  const m: Record<string, unknown> = isRecord(source) ? structuredClone(source) : {};
  for (const k of DROP_METADATA) delete m[k];
  const annotations = strings(m.annotations);
  for (const k of DROP_ANNOTATIONS) delete annotations[k];
  const kept = Object.fromEntries(Object.entries(strings(m.labels)).filter(([k]) => !DROP_LABEL_PREFIXES.some((p) => k.startsWith(p))));
  return {
    ...m,
    name,
    namespace,
    labels: { ...kept, ...labels, [MANAGED_BY]: input.fieldManager },
    annotations: { ...annotations, [CREATED_BY_ROLLOUT]: input.rolloutId, [COPIED_FROM]: from },
  };
}

/**
 * The new version's Deployment and Service, copied from the stable's: the image set on the target's container
 * (else the only one), the version label on the pod template, selector and Service selector, the same
 * replicas; everything else (resources, probes, env, volumes, service account) as it was.
 */
export function newVersionObjects(input: NewVersionInput): Result<NewVersionObjects, DeployProblem> {
  const { names, settings, version } = input;
  const ns = names.namespace;
  const bad = imageProblem(input.image);
  if (bad) return err(bad);
  const src = structuredClone(input.stableDeployment);
  const spec = isRecord(src.spec) ? src.spec : {};
  const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
  if (replicas === 0) return err({ code: "stable-scaled-to-zero", namespace: ns, name: names.stable.deployment });
  const template = isRecord(spec.template) ? spec.template : {};
  const podSpec = isRecord(template.spec) ? template.spec : {};
  const containers = Array.isArray(podSpec.containers) ? podSpec.containers.filter(isRecord) : [];
  const containerNames = containers.map((c) => String(c.name));
  let container: Record<string, unknown> | undefined;
  if (settings.container !== undefined) {
    container = containers.find((c) => c.name === settings.container);
    if (!container) return err({ code: "container-missing", deployment: names.stable.deployment, container: settings.container, containers: containerNames });
  } else {
    if (containers.length !== 1) return err({ code: "container-ambiguous", deployment: names.stable.deployment, containers: containerNames });
    container = containers[0]!;
  }
  container.image = input.image;

  const label = { [settings.versionLabel]: version };
  // A label whose value is the stable's version name (`app: world-v1`) names the version: the copy's names its own.
  const renamed = (labels: Record<string, string>) =>
    Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v === input.stableVersion || v === names.stable.deployment ? names.canary.deployment : v]));
  const podLabels = { ...renamed(strings(isRecord(template.metadata) ? template.metadata.labels : undefined)), ...label };
  // Both versions run side by side: the stable's selectors must not pick the new pods, or its Service would
  // send them the stable's traffic (and its ReplicaSets would count them) before any step was taken.
  const stableSelector = strings(isRecord(spec.selector) ? spec.selector.matchLabels : undefined);
  const hasExpressions = isRecord(spec.selector) && Array.isArray(spec.selector.matchExpressions) && spec.selector.matchExpressions.length > 0;
  if (!hasExpressions && selects(stableSelector, podLabels)) {
    return err({
      code: "selector-overlap",
      namespace: ns,
      name: names.stable.deployment,
      kind: "Deployment",
      selector: stableSelector,
      versionLabel: settings.versionLabel,
    });
  }
  let service: K8sObject | undefined;
  if (input.stableService) {
    const svc = structuredClone(input.stableService);
    const sspec = isRecord(svc.spec) ? svc.spec : {};
    const selector = strings(sspec.selector);
    if (!Object.keys(selector).length) return err({ code: "service-without-selector", namespace: ns, name: names.stable.service });
    if (selects(selector, podLabels)) {
      return err({ code: "selector-overlap", namespace: ns, name: names.stable.service, kind: "Service", selector, versionLabel: settings.versionLabel });
    }
    // Addresses and node ports the API server allocated belong to the stable's Service; the copy gets its own.
    for (const k of ["clusterIP", "clusterIPs", "healthCheckNodePort", "loadBalancerIP", "externalIPs"]) delete sspec[k];
    if (Array.isArray(sspec.ports))
      sspec.ports = sspec.ports.map((p) => (isRecord(p) ? Object.fromEntries(Object.entries(p).filter(([k]) => k !== "nodePort")) : p));
    service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: copiedMetadata(svc.metadata, names.canary.service, ns, label, input, names.stable.service),
      spec: { ...sspec, selector: { ...renamed(selector), ...label } },
    };
  }
  const { paused: _paused, ...restSpec } = spec;
  const templateMeta = isRecord(template.metadata) ? template.metadata : {};
  const { creationTimestamp: _ct, ...restTemplateMeta } = templateMeta;
  const deployment: K8sObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: copiedMetadata(src.metadata, names.canary.deployment, ns, label, input, names.stable.deployment),
    spec: {
      ...restSpec,
      replicas,
      selector: { ...(isRecord(spec.selector) ? spec.selector : {}), matchLabels: { ...renamed(stableSelector), ...label } },
      template: { ...template, metadata: { ...restTemplateMeta, labels: podLabels }, spec: { ...podSpec } },
    },
  };
  return ok({ deployment, ...(service ? { service } : {}), replicas, container: String(container.name) });
}

/** Whether the bot may remove (or write over) an existing object: it made it, for this rollout. */
export function madeByBot(obj: K8sObject | undefined, fieldManager: string, rolloutId?: string): boolean {
  const m = isRecord(obj?.metadata) ? obj.metadata : {};
  if (strings(m.labels)[MANAGED_BY] !== fieldManager) return false;
  return rolloutId === undefined || strings(m.annotations)[CREATED_BY_ROLLOUT] === rolloutId;
}

// ---------------------------------------------------------------------------------------------- waiting

export type PodFacts = {
  name: string;
  phase?: string;
  /** PodScheduled=False: why (`Unschedulable`) and the scheduler's message. */
  unschedulable?: string;
  containers: {
    name: string;
    ready: boolean;
    waiting?: { reason: string; message?: string };
    lastTerminated?: { reason?: string; exitCode?: number };
    restarts: number;
  }[];
};

export type RolloutFacts = {
  generation: number;
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** Progressing=False reason=ProgressDeadlineExceeded: its message. */
  progressDeadlineExceeded?: string;
  pods: PodFacts[];
};

export type DeployFailure =
  | { code: "image-pull"; pod: string; container: string; reason: string; message?: string }
  | { code: "crash-loop"; pod: string; container: string; lastReason?: string; exitCode?: number; restarts: number }
  | { code: "config-error"; pod: string; container: string; reason: string; message?: string }
  | { code: "unschedulable"; pod: string; message: string }
  | { code: "progress-deadline"; message: string }
  | { code: "timeout"; ready: number; desired: number; timeoutMs: number };

export type DeployVerdict =
  { kind: "ready"; ready: number; desired: number } | { kind: "waiting"; ready: number; desired: number } | { kind: "failed"; failure: DeployFailure };

const PULL_FAILURES = new Set(["ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
const CONFIG_FAILURES = new Set(["CreateContainerConfigError", "CreateContainerError", "RunContainerError"]);

/**
 * What the new version's Deployment and pods say: up (every replica of the latest generation available),
 * still coming (how many are ready), or failed as Kubernetes reports it (a pull backing off, a crash loop,
 * a pod no node can take, the Deployment's progress deadline), or the bot's own deadline passed.
 */
export function judgeDeploy(f: RolloutFacts, now: number, deadlineAt: number, timeoutMs: number): DeployVerdict {
  if (f.progressDeadlineExceeded !== undefined) return { kind: "failed", failure: { code: "progress-deadline", message: f.progressDeadlineExceeded } };
  for (const pod of f.pods) {
    for (const c of pod.containers) {
      const w = c.waiting;
      if (w && PULL_FAILURES.has(w.reason)) {
        return {
          kind: "failed",
          failure: { code: "image-pull", pod: pod.name, container: c.name, reason: w.reason, ...(w.message ? { message: w.message } : {}) },
        };
      }
      if (w?.reason === "CrashLoopBackOff") {
        const t = c.lastTerminated;
        return {
          kind: "failed",
          failure: {
            code: "crash-loop",
            pod: pod.name,
            container: c.name,
            restarts: c.restarts,
            ...(t?.reason ? { lastReason: t.reason } : {}),
            ...(t?.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
          },
        };
      }
      if (w && CONFIG_FAILURES.has(w.reason)) {
        return {
          kind: "failed",
          failure: { code: "config-error", pod: pod.name, container: c.name, reason: w.reason, ...(w.message ? { message: w.message } : {}) },
        };
      }
    }
    if (pod.unschedulable !== undefined) return { kind: "failed", failure: { code: "unschedulable", pod: pod.name, message: pod.unschedulable } };
  }
  const ready = Math.min(f.readyReplicas, f.replicas);
  const up = f.observedGeneration >= f.generation && f.updatedReplicas >= f.replicas && f.availableReplicas >= f.replicas;
  if (up) return { kind: "ready", ready: f.replicas, desired: f.replicas };
  if (now >= deadlineAt) return { kind: "failed", failure: { code: "timeout", ready, desired: f.replicas, timeoutMs } };
  return { kind: "waiting", ready, desired: f.replicas };
}
