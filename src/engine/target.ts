import { z } from "zod";
import { dnsLabel, dnsLabelProblem, dnsSubdomain } from "./names.ts";
import { MetricsSettingsSchema } from "./metrics-settings.ts";
import { PolicySchema } from "./policy.ts";
import { durationSchema } from "./duration.ts";
import { validateSteps } from "./plan.ts";
import { credentialFreeUrl } from "./urls.ts";

/**
 * A target is one service whose traffic the bot may shift: where it lives, which mesh routes it
 * and the defaults for its rollouts. Declared once in the targets file (ROLLOUT_TARGETS) or, when
 * ad-hoc targets are allowed, assembled from command flags.
 */

const stepsSchema = z.array(z.number().int()).superRefine((steps, ctx) => {
  const r = validateSteps(steps);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.error.code, params: { problem: r.error } });
});

export const SmiSettingsSchema = z.strictObject({
  /** TrafficSplit object name. When absent the router finds the split whose spec.service is the apex service. */
  trafficSplit: dnsSubdomain.optional(),
  /** The apex (root) service clients call; defaults to the target name. */
  apexService: dnsLabel.optional(),
});

export const NamerdSettingsSchema = z.strictObject({
  /** Base URL of namerd's io.l5d.httpController, e.g. http://namerd.linkerd:4180 */
  url: credentialFreeUrl("namerd's httpController takes no credentials; keep it reachable only inside the cluster (docs/security.md)"),
  /** dtab namespace in namerd, e.g. `internal`. */
  dtabNamespace: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_.-]+$/, "must be letters, digits, '_', '.', '-'"),
  /** The dentry prefix the bot owns, e.g. `/host/world`. */
  prefix: z.string().regex(/^(\/[^\s/]+)+$/, "must be a path like /host/world"),
  /** Destination for a version, `{version}` is replaced: e.g. `/srv/{version}`. */
  dst: z.string().includes("{version}").default("/srv/{version}"),
  /** Where a person can send a test request (shown with the l5d-dtab header). */
  ingressUrl: credentialFreeUrl("it is shown to people in Slack").optional(),
});

export const GatewaySettingsSchema = z.strictObject({
  /** HTTPRoute name; defaults to the target name. */
  httpRoute: dnsSubdomain.optional(),
  /** The route's namespace (for a mesh route: the parent Service's); defaults to the target's. */
  namespace: dnsLabel.optional(),
  /** The rule that carries the split: its `name`, or its index in spec.rules. Absent: the one rule routing to stable. */
  rule: z.union([dnsSubdomain, z.number().int().min(0).max(15)]).optional(),
  /** Service of a version, `{version}` is replaced: `web-{version}`. Default: the version is the Service name. */
  service: z.string().includes("{version}").default("{version}"),
  /** Explicit Service names, when they do not follow the template. */
  stableService: dnsLabel.optional(),
  canaryService: dnsLabel.optional(),
  /** Port of the canary's backendRef when the bot adds it (default: the stable backendRef's port). */
  port: z.number().int().min(1).max(65535).optional(),
  /** What Finish does to the stable's backendRef: remove it, or keep it at weight 0. */
  finish: z.enum(["remove-stable", "keep-zero"]).default("remove-stable"),
  /** Header of the bot's test rule (its value is the canary's Service name). */
  testHeader: z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, "must be an HTTP header name")
    .default("x-rollout"),
  /** Where a person sends a test request (shown with the header), e.g. https://shop.example.com/. */
  testUrl: credentialFreeUrl("it is shown to people in Slack").optional(),
});

/** A Rollout that Argo Rollouts runs: the bot follows it in `channel` and sends the plugin's requests. */
export const ArgoRolloutsSettingsSchema = z.strictObject({
  /** The Rollout's name; defaults to the target name (its namespace is the target's). */
  rollout: dnsSubdomain.optional(),
  /** The Slack channel ID where each new revision gets its message. */
  channel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, "must be a Slack channel ID like C0123DEPLOYS"),
  /** How often the Rollout (and its current AnalysisRun) is read. */
  pollInterval: durationSchema({ minMs: 100 }).default(5_000),
  /** A Slack user-group ID (S0123ABCD) mentioned when the rollout aborts, degrades or fails an analysis. */
  notify: z
    .string()
    .regex(/^S[A-Z0-9]{2,}$/, "must be a Slack user-group ID like S0123ABCD")
    .optional(),
});

/** A Canary that Flagger runs: the bot serves its webhook gates and follows it in `channel`. */
export const FlaggerSettingsSchema = z
  .strictObject({
    /** The Canary's name; defaults to the target name (its namespace is the target's). */
    canary: dnsSubdomain.optional(),
    /** The Slack channel ID where each new revision (checksum) gets its message. */
    channel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, "must be a Slack channel ID like C0123DEPLOYS"),
    /** A file holding the token the Canary's webhooks carry in `metadata.token` (a mounted Secret). */
    tokenFile: z.string().min(1).optional(),
    /** Or the name of an environment variable holding it. */
    tokenEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name like FLAGGER_SHOP_TOKEN")
      .optional(),
    /** A Slack user-group ID (S0123ABCD) mentioned when the Canary fails. */
    notify: z
      .string()
      .regex(/^S[A-Z0-9]{2,}$/, "must be a Slack user-group ID like S0123ABCD")
      .optional(),
    /** How often the Canary (status, analysis settings, webhooks) is read; also read once at start-up. */
    pollInterval: durationSchema({ minMs: 100 }).default(10_000),
  })
  .refine((f) => (f.tokenFile === undefined) !== (f.tokenEnv === undefined), {
    message: "name exactly one of `tokenFile` or `tokenEnv`: the token Flagger's webhooks carry in metadata.token",
  });

export const AutoSettingsSchema = z.strictObject({
  /** Start every rollout of this target in automatic mode with this interval (a flag can still override). */
  enabled: z.boolean().default(false),
  interval: durationSchema({ minMs: 1_000 }).default(10 * 60_000),
  /** How long a stage may wait for enough traffic (or metrics) before the bot holds and asks a person. */
  maxWait: durationSchema({ minMs: 1_000 }).default(30 * 60_000),
  /** How long before each automatic step the thread is told (with a Hold button). */
  notice: durationSchema({ minMs: 0 }).default(60_000),
});

/**
 * A cluster the bot reaches besides its own (the targets file's `clusters:`): how to reach it (a context
 * of the bot's kubeconfig, or a kubeconfig file of its own, e.g. a mounted Secret), and where its
 * Prometheus and namerd answer when a target of it names none.
 */
export const ClusterSchema = z
  .strictObject({
    name: dnsLabel,
    /** A context of the bot's own kubeconfig (KUBECONFIG). */
    context: z.string().min(1).optional(),
    /** A kubeconfig file of its own (its current-context is used), e.g. a Secret mounted into the bot. */
    kubeconfig: z.string().min(1).optional(),
    /** Prometheus for this cluster's targets whose metrics settings name no URL (instead of PROMETHEUS_URL). */
    prometheusUrl: credentialFreeUrl("pass a bearer token with PROMETHEUS_BEARER_TOKEN_FILE or the target's metrics settings").optional(),
    /** namerd for this cluster's namerd targets whose `namerd:` block names no `url`. */
    namerdUrl: credentialFreeUrl("namerd's httpController takes no credentials; keep it reachable only inside the cluster (README: Security)").optional(),
  })
  .refine((c) => (c.context === undefined) !== (c.kubeconfig === undefined), {
    message: "name exactly one of `context` (in the bot's kubeconfig) or `kubeconfig` (a file of its own)",
  });

export type Cluster = z.infer<typeof ClusterSchema>;

/** Between two clusters of a wave (`clusters:`): who opens the gate to the next one, and after how long. */
export const WaveSettingsSchema = z.strictObject({
  /** `manual`: a person's Advance opens it; `auto`: it opens by itself once the cluster finished healthy and `bakeTime` passed. */
  gate: z.enum(["manual", "auto"]).default("manual"),
  /** `gate: auto`: how long a finished cluster runs at 100% before the wave moves on (a person's Advance need not wait). */
  bakeTime: durationSchema({ minMs: 0 }).default(0),
});

export type WaveSettings = z.infer<typeof WaveSettingsSchema>;

export const TargetSchema = z
  .strictObject({
    name: dnsLabel,
    /**
     * The cluster the target lives in: a name from the file's `clusters:`. Absent: the bot's own cluster.
     * The same `name` may be declared once per cluster; commands address it as `name@cluster`.
     */
    cluster: dnsLabel.optional(),
    /**
     * A wave: the same target in several clusters (names from the file's `clusters:`), rolled through in this
     * order, each with its own preflight, steps and verdict, a gate between two (docs/clusters.md#waves).
     */
    clusters: z.array(dnsLabel).optional(),
    /** How a wave (`clusters:`) moves from one cluster to the next. */
    wave: WaveSettingsSchema.optional(),
    /**
     * Where the target's Services and Deployments live. Absent: `default` for SMI and Gateway targets (see
     * kubeNamespace); a namerd target without one has no Deployment of the bot's to check or scale.
     */
    namespace: dnsLabel.optional(),
    router: z.enum(["smi", "namerd", "gateway", "argo-rollouts", "flagger"]).default("smi"),
    /** Stable version (Deployment/Service/backend name). For namerd it can be read from the dtab. */
    stable: dnsLabel.optional(),
    /**
     * Other stable versions a person may name with `--from` (names, or patterns with `*`: `shop-*`). Absent:
     * `--from` may only repeat `stable` (src/engine/fence.ts); Finish's scale-down acts on the stable named.
     */
    allowFrom: z
      .array(
        z
          .string()
          .max(63)
          .regex(/^[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?$/, "must be a version name, or a pattern of name characters and `*` (e.g. shop-*)"),
      )
      .min(1, "an empty list allows nothing: leave `allowFrom` out instead")
      .optional(),
    steps: stepsSchema.optional(),
    /** Slack channel IDs where rollouts of this target may be driven; empty/absent = anywhere. */
    channels: z.array(z.string().min(1)).optional(),
    smi: SmiSettingsSchema.optional(),
    namerd: NamerdSettingsSchema.optional(),
    gateway: GatewaySettingsSchema.optional(),
    argoRollouts: ArgoRolloutsSettingsSchema.optional(),
    flagger: FlaggerSettingsSchema.optional(),
    metrics: MetricsSettingsSchema.optional(),
    /** Who may start, advance, finish and abort, and where; overrides the file-level `policy` key by key. */
    policy: PolicySchema.optional(),
    /** Automatic steps (`--auto`): interval default, how long to wait for traffic, how early to warn. */
    auto: AutoSettingsSchema.optional(),
    /** A manual stage left alone this long gets a reminder in the thread, mentioning the starter. */
    remind: durationSchema({ minMs: 1_000 }).default(30 * 60_000),
    /** What happens when a rollout's `--deadline` passes. */
    deadlineAction: z.enum(["hold", "abort"]).default("hold"),
    /**
     * A GitOps owner (Argo CD, Flux) that would put the bot's writes back: `check` refuses the start with the
     * snippet to add to the owner (the default); `pause` disables Flux's reconcile of the object for the rollout.
     */
    gitops: z.enum(["check", "pause"]).optional(),
    /**
     * What Finish does to the losing version: nothing (`none`, or `keep`), scale its Deployment to 0
     * (`scale-down`), or remove its Deployment and Service once the mesh no longer routes to them (`delete`).
     */
    cleanup: z.enum(["none", "keep", "scale-down", "delete"]).default("none"),
    /** `--image`: the bot may create the new version's Deployment and Service from the stable's (needs the deploy RBAC component). */
    deploy: z.boolean().default(false),
    /** `--image`: the container whose image is set; absent: the Deployment's only container. */
    container: dnsLabel.optional(),
    /** `--image`: the pod label that tells the versions apart (on the pod template, the selector and the Service selector). */
    versionLabel: z
      .string()
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
        "must be a label key like `version` or `example.com/version`",
      )
      .default("version"),
    /** `--image`: how long the new version may take to become ready before the start ends. */
    deployTimeout: durationSchema({ minMs: 1_000 }).default(10 * 60_000),
    /** On Abort, the objects `--image` created: removed once traffic is verified back on stable (`delete`), or left (`keep`). */
    abortCleanup: z.enum(["delete", "keep"]).default("delete"),
  })
  .superRefine((t, ctx) => {
    if (t.router === "namerd" && !t.namerd) {
      ctx.addIssue({ code: "custom", path: ["namerd"], message: "a namerd target needs a `namerd:` block (url, dtabNamespace, prefix)" });
    }
    if (t.policy?.namespaces) {
      ctx.addIssue({
        code: "custom",
        path: ["policy", "namespaces"],
        message: "`namespaces` fences ad-hoc targets and belongs in the file-level `policy`; a declared target lives in its own `namespace`",
      });
    }
    if (t.router === "argo-rollouts" && !t.argoRollouts) {
      ctx.addIssue({ code: "custom", path: ["argoRollouts"], message: "an argo-rollouts target needs an `argoRollouts:` block (at least `channel`)" });
    }
    if (t.router === "flagger" && !t.flagger) {
      ctx.addIssue({ code: "custom", path: ["flagger"], message: "a flagger target needs a `flagger:` block (`channel` and `tokenFile` or `tokenEnv`)" });
    }
    if (t.cluster !== undefined && (t.router === "argo-rollouts" || t.router === "flagger")) {
      ctx.addIssue({
        code: "custom",
        path: ["cluster"],
        message: `a ${t.router} target is followed in the bot's own cluster only: leave \`cluster\` out (run the controller and a bot in that cluster)`,
      });
    }
    if (t.cluster !== undefined && t.deploy) {
      ctx.addIssue({
        code: "custom",
        path: ["deploy"],
        message: "`deploy: true` works in the bot's own cluster only for now: leave `cluster` out, or deploy the new version with your pipeline",
      });
    }
    if (t.clusters !== undefined) waveProblems(t, ctx);
    if (t.wave !== undefined && t.clusters === undefined) {
      ctx.addIssue({ code: "custom", path: ["wave"], message: "`wave` says how a wave moves between clusters: it needs `clusters:` (two or more)" });
    }
    if (t.router === "namerd" && (t.cleanup === "scale-down" || t.cleanup === "delete") && !t.namespace) {
      ctx.addIssue({ code: "custom", path: ["namespace"], message: `\`cleanup: ${t.cleanup}\` needs the namespace of the versions' Deployments` });
    }
    if (t.router === "namerd" && t.deploy && !t.namespace) {
      ctx.addIssue({ code: "custom", path: ["namespace"], message: "`deploy: true` needs the namespace of the versions' Deployments and Services" });
    }
    if (t.deploy && (t.router === "argo-rollouts" || t.router === "flagger")) {
      ctx.addIssue({
        code: "custom",
        path: ["deploy"],
        message: "`deploy: true` is for targets the bot routes itself: the controller makes the new version from the Rollout's or Canary's template",
      });
    }
  });

export type Target = z.infer<typeof TargetSchema>;

/** What a wave target (`clusters:`) may not say, each with the key to change. */
type WaveChecked = {
  cluster?: string | undefined;
  clusters?: string[] | undefined;
  router: string;
  deploy: boolean;
  gitops?: string | undefined;
  cleanup: string;
};

function waveProblems(t: WaveChecked, ctx: z.RefinementCtx): void {
  const say = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  const list = t.clusters ?? [];
  if (t.cluster !== undefined) say("clusters", "name either `cluster` (one cluster) or `clusters` (a wave through several), not both");
  if (t.router === "argo-rollouts" || t.router === "flagger")
    say("clusters", `a ${t.router} target is followed in the bot's own cluster only: leave \`clusters\` out (run the controller and a bot in each cluster)`);
  // One namerd URL per target (its own, or its cluster's `namerdUrl`): a wave would write every cluster's dtab to one namerd.
  if (t.router === "namerd")
    say("clusters", "a namerd target cannot be a wave yet (its `namerd.url` is one namerd): declare it once per cluster with `cluster:` and roll each one");
  if (t.deploy) say("deploy", "`deploy: true` works in the bot's own cluster only for now: leave `clusters` out, or deploy the new version with your pipeline");
  if (t.gitops === "pause")
    say(
      "gitops",
      "`gitops: pause` is not available in a wave yet (a pause would have to outlive each cluster's finish): use `gitops: check` and tell the owner to ignore the bot's fields",
    );
  if (t.cleanup === "delete") say("cleanup", "`cleanup: delete` works in the bot's own cluster only for now: use `scale-down` or `none` in a wave");
  const twice = list.find((c, i) => list.indexOf(c) !== i);
  if (twice !== undefined) say("clusters", `cluster '${twice}' is named twice: a wave passes each cluster once`);
  else if (list.length < 2) say("clusters", "a wave needs two or more clusters (for one, say `cluster:`)");
}

/** The target's Kubernetes namespace: `namespace`, else `default`, as kubectl takes it. */
export function kubeNamespace(target: Pick<Target, "namespace">): string {
  return target.namespace ?? "default";
}
export type TargetInput = z.input<typeof TargetSchema>;

/**
 * How commands, records and Redis keys name a target: `shop` in the bot's own cluster, `shop@prod-eu` in
 * another. The same name in two clusters is two targets, each with its own key.
 */
export function targetKey(target: Pick<Target, "name" | "cluster">): string {
  return target.cluster === undefined ? target.name : `${target.name}@${target.cluster}`;
}

/** `shop@prod-eu` -> its name and cluster; `shop` -> its name. Undefined when either part is not a name. */
export function parseTargetKey(ref: string): { name: string; cluster?: string } | undefined {
  const at = ref.indexOf("@");
  const name = at === -1 ? ref : ref.slice(0, at);
  const cluster = at === -1 ? undefined : ref.slice(at + 1);
  if (dnsLabelProblem(name) || (cluster !== undefined && dnsLabelProblem(cluster))) return undefined;
  return cluster === undefined ? { name } : { name, cluster };
}

/** What is wrong with a typed target (`shop` or `shop@prod-eu`), in words; undefined when it is well-formed. */
export function targetKeyProblem(ref: string): string | undefined {
  const at = ref.indexOf("@");
  if (at === -1) return dnsLabelProblem(ref);
  const name = dnsLabelProblem(ref.slice(0, at));
  if (name) return `names a target that ${name}`;
  const cluster = dnsLabelProblem(ref.slice(at + 1));
  return cluster ? `names a cluster (after the \`@\`) that ${cluster}` : undefined;
}
