import { formatDuration } from "../../engine/duration.ts";
import type { DeployFailure, DeployProblem } from "../../engine/deploy.ts";
import type { DeployedObject, Rollout } from "../../engine/rollout.ts";

/** `--image` in words: why the new version could not be made or could not come up, and how it is doing. Pure. */

const labels = (s: Record<string, string>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

export function deployProblemText(p: DeployProblem): string {
  switch (p.code) {
    case "image-invalid":
      return p.why === "empty"
        ? "`--image` is empty: give an image like `registry.example.com/world:1.4.2`"
        : p.why === "too-long"
          ? `\`--image\` \`${p.image}…\` is too long to be an image reference`
          : p.why === "uppercase"
            ? `\`--image\` \`${p.image}\` is not a valid image reference: the repository must be lower-case`
            : `\`--image\` \`${p.image}\` is not a valid image reference (\`[registry/]repository[:tag][@sha256:digest]\`)`;
    case "stable-deployment-missing":
      return `there is no Deployment \`${p.name}\` in namespace \`${p.namespace}\` to copy the new version from (the stable version's)`;
    case "stable-service-missing":
      return `there is no Service \`${p.name}\` in namespace \`${p.namespace}\` to copy the new version's Service from (the stable version's)`;
    case "stable-scaled-to-zero":
      return `the stable Deployment \`${p.namespace}/${p.name}\` is scaled to 0: the new version would get no replicas`;
    case "container-ambiguous":
      return `Deployment \`${p.deployment}\` has ${p.containers.length} containers (${p.containers.map((c) => `\`${c}\``).join(", ")}): say which one gets the image with \`container:\` in the target`;
    case "container-missing":
      return `Deployment \`${p.deployment}\` has no container \`${p.container}\` (the target's \`container:\`); it has ${p.containers.map((c) => `\`${c}\``).join(", ")}`;
    case "service-without-selector":
      return `Service \`${p.namespace}/${p.name}\` selects no pods (no selector): the bot cannot make a copy that selects the new version's`;
    case "selector-overlap":
      return `the stable ${p.kind} \`${p.namespace}/${p.name}\` selects \`${labels(p.selector)}\`, which would pick the new version's pods too: add the \`${p.versionLabel}\` label to its selector (or set the target's \`versionLabel:\` to a label it selects on)`;
    case "canary-not-ours":
      return `a ${p.kind} \`${p.namespace}/${p.name}\` already exists and the bot did not make it for this rollout: pick another name with \`--to\`, or start without \`--image\` to route to it as it is`;
    case "version-unnamed":
      return `the stable version \`${p.stable}\` ends in no number, so the bot cannot tell the next one's name: add \`--to <name>\``;
    case "fixed-services":
      return `target \`${p.target}\` names fixed \`stableService\`/\`canaryService\`: there is no Service per version for the bot to create`;
    case "gitops-owned": {
      const who = p.owners
        .map((o) => (o.kind === "argocd" ? `Argo CD${o.name ? ` Application \`${o.name}\`` : ""}` : `Flux${o.name ? ` \`${o.name}\`` : ""}`))
        .join(" and ");
      return `Deployment \`${p.namespace}/${p.name}\` is deployed by ${who}: a Deployment the bot created beside it would not be in git. Change the image in git and let ${p.owners.length > 1 ? "them" : "it"} deploy it, then start the rollout with \`--to\``;
    }
  }
}

export function deployFailureText(f: DeployFailure, deployment: string): string {
  switch (f.code) {
    case "image-pull":
      return `\`${deployment}\` cannot pull its image: pod \`${f.pod}\` container \`${f.container}\` is in ${f.reason}${f.message ? ` (${f.message})` : ""}`;
    case "crash-loop":
      return `\`${deployment}\` crashes: pod \`${f.pod}\` container \`${f.container}\` is in CrashLoopBackOff after ${f.restarts} restart${f.restarts === 1 ? "" : "s"}${f.lastReason ? `, last exit: ${f.lastReason}${f.exitCode !== undefined ? ` (exit code ${f.exitCode})` : ""}` : ""}`;
    case "config-error":
      return `\`${deployment}\` cannot start: pod \`${f.pod}\` container \`${f.container}\` is in ${f.reason}${f.message ? ` (${f.message})` : ""}`;
    case "unschedulable":
      return `\`${deployment}\` cannot be scheduled (FailedScheduling): pod \`${f.pod}\`: ${f.message}`;
    case "progress-deadline":
      return `\`${deployment}\` exceeded its progress deadline (ProgressDeadlineExceeded): ${f.message}`;
    case "timeout":
      return `\`${deployment}\` was not ready within ${formatDuration(f.timeoutMs)} (the target's \`deployTimeout\`): ${f.ready} of ${f.desired} ready`;
  }
}

export function objectsText(objects: readonly DeployedObject[], namespace: string): string {
  return objects.map((o) => `${o.kind} \`${namespace}/${o.name}\``).join(" and ");
}

/** The message's line while the new version comes up: "Deploying `world-v2` (2 of 3 ready)". */
export function deployingText(r: Rollout): string | undefined {
  const d = r.deploy;
  if (!d || r.status !== "deploying") return undefined;
  const name = d.objects.find((o) => o.kind === "Deployment")?.name ?? r.canary;
  const count = d.desired !== undefined ? ` (${d.ready ?? 0} of ${d.desired} ready)` : " (creating)";
  return `:package: Deploying \`${name}\`${count} with image \`${d.image}\``;
}
