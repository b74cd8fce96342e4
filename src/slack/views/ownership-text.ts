import { stringify } from "yaml";
import type {
  DriftAuthor,
  GitBaseline,
  OwnedBy,
  Owner,
  OwnerJudgement,
  OwnershipReason,
  OwnershipVerdict,
  Snippet,
  WrittenObject,
} from "../../engine/ownership.ts";

/**
 * Who owns an object the bot writes, in words (src/engine/ownership.ts decides): the refusal with the
 * exact snippet to add, the line a start shows when the owner ignores the bot's fields, and what a
 * snippet masks in git while it is in place. Pure.
 */

export const objectLabel = (o: Pick<WrittenObject, "kind" | "namespace" | "name">) => `${o.kind} \`${o.namespace}/${o.name}\``;

export function ownerLabel(owner: Owner): string {
  const named = owner.name && owner.namespace ? ` \`${owner.name}\` in \`${owner.namespace}\`` : "";
  switch (owner.kind) {
    case "argocd":
      return owner.name ? `Argo CD Application${named}` : "Argo CD (`argocd-controller` owns the fields, no Application is named)";
    case "flux-kustomization":
      return owner.name ? `Flux Kustomization${named}` : "Flux (`kustomize-controller` owns the fields, no Kustomization is named)";
    case "flux-helmrelease":
      return owner.name ? `Flux HelmRelease${named}` : "Flux (`helm-controller` owns the fields, no HelmRelease is named)";
  }
}

const REASON: Record<OwnershipReason, string> = {
  "self-heal": "self-heal is on: it puts the bot's weights back within seconds",
  "auto-sync": "automated sync is on: the next sync puts the bot's weights back",
  "manual-sync": "a sync (by anyone) puts the bot's weights back, and the Application shows OutOfSync meanwhile",
  "ignore-without-respect": "`ignoreDifferences` covers the bot's fields but without `RespectIgnoreDifferences=true` a sync still writes git's values back",
  "drift-correction": "its next reconcile puts the bot's weights back (drift correction)",
  "helm-drift-correction": "drift detection is enabled: its next reconcile puts the bot's weights back",
  "ignore-differences": "its `ignoreDifferences` covers the bot's fields, with `RespectIgnoreDifferences=true`",
  "argocd-cm-ignore":
    "a system-level rule in `argocd-cm` (`resource.customizations.ignoreDifferences`) covers the bot's fields, with `RespectIgnoreDifferences=true` on the Application",
  "reconcile-disabled": "the object has `kustomize.toolkit.fluxcd.io/reconcile: disabled`",
  "ssa-ignore": "the object's `kustomize.toolkit.fluxcd.io/ssa` annotation keeps Flux from patching it",
  suspended: "it is suspended",
  "ignore-rule": "an ignore rule covers the bot's fields",
  "drift-detection-off": "drift detection is off (only an upgrade of the release re-applies the chart)",
  "owner-unnamed": "the bot cannot tell which object of the controller's to read, so it cannot tell whether the weights would stay",
  "owner-missing": "that object does not exist, so the bot cannot tell whether the weights would stay",
  "owner-unreadable": "the bot cannot read it, so it cannot tell whether the weights would stay",
  "argocd-cm-unreadable":
    "its own `ignoreDifferences` does not cover the bot's fields and the bot cannot read the system-level rules in `argocd-cm`, so it cannot tell whether the weights would stay",
};

export function judgementText(j: OwnerJudgement): string {
  const why = REASON[j.reason] + ((j.reason === "owner-unreadable" || j.reason === "argocd-cm-unreadable") && j.message ? ` (${j.message})` : "");
  return `${ownerLabel(j.owner)}: ${why}`;
}

/** The snippet as the person pastes it into the owner's manifest in git. */
export function snippetYaml(s: Snippet): string {
  switch (s.kind) {
    case "argocd":
      return stringify({ spec: { ignoreDifferences: [s.ignoreDifferences], syncPolicy: { syncOptions: [s.syncOption] } } }).trimEnd();
    case "flux-kustomization":
      return stringify({ spec: { ignore: [s.ignore] } }).trimEnd();
    case "flux-helmrelease":
      return stringify({ spec: { driftDetection: { ignore: [s.ignore] } } }).trimEnd();
  }
}

/** What the snippet hides in git while it is in place: one line. */
export function snippetMasks(s: Snippet, obj: WrittenObject): string {
  const fields = obj.fields.map((f) => `\`${f}\``).join(", ");
  switch (s.kind) {
    case "argocd":
      return `While it is in place, Argo CD neither shows nor syncs a change to ${fields} of ${objectLabel(obj)} made in git: edit those fields through rollouts, or remove the entry first.`;
    case "flux-kustomization":
    case "flux-helmrelease":
      return `While it is in place, Flux does not correct ${fields} of ${objectLabel(obj)}: a change to them in git is applied only when something else in the object changes.`;
  }
}

/**
 * Argo CD's system-level form (one rule in `argocd-cm` for every Application), with what it masks: offered
 * beside the Application's own entry, which stays the narrower choice.
 */
export function systemSnippetText(s: Snippet, obj: WrittenObject): string | undefined {
  if (s.kind !== "argocd") return undefined;
  const { configMap, key, rule } = s.system;
  const yaml = stringify({ data: { [key]: stringify(rule) } }).trimEnd();
  const managers = (rule.managedFieldsManagers ?? []).map((m) => `\`${m}\``).join(", ");
  return (
    `Or, for every Application at once, add this to ConfigMap \`${configMap.namespace}/${configMap.name}\` (the Application still needs \`${s.syncOption}\`):\n\`\`\`${yaml}\`\`\`\n` +
    `While it is in place, no Application shows or syncs a change that ${managers} made to any ${obj.kind}${obj.group ? ` (${obj.group})` : ""}: git's values for those fields stop being enforced cluster-wide.`
  );
}

function whereToAdd(s: Snippet): string {
  switch (s.kind) {
    case "argocd":
      return `Application \`${s.application.namespace}/${s.application.name}\``;
    case "flux-kustomization":
      return `Kustomization \`${s.kustomization.namespace}/${s.kustomization.name}\``;
    case "flux-helmrelease":
      return `HelmRelease \`${s.helmRelease.namespace}/${s.helmRelease.name}\``;
  }
}

/** Why a start is refused: the owners that would put the bot's writes back (or cannot be read), and what to add. */
export function ownershipRefusalText(verdicts: OwnershipVerdict[]): string {
  const parts: string[] = [];
  for (const v of verdicts) {
    for (const j of v.owners.filter((o) => o.verdict !== "ignored")) {
      let text = `${objectLabel(v.object)} is owned by ${judgementText(j)}.`;
      if (j.snippet) {
        text += `\nAdd this to ${whereToAdd(j.snippet)} in git, let it sync, then start again:\n\`\`\`${snippetYaml(j.snippet)}\`\`\`\n${snippetMasks(j.snippet, v.object)}`;
        const system = systemSnippetText(j.snippet, v.object);
        if (system) text += `\n${system}`;
        if (j.owner.kind === "flux-kustomization")
          text += "\nOr set `gitops: pause` on the target: the bot disables Flux's reconcile of this object for the rollout only.";
      } else if (j.reason === "owner-unreadable") {
        text += "\nGrant the bot `get` on it (the `gitops` kustomize component), then start again.";
      }
      if (j.reason === "argocd-cm-unreadable")
        text +=
          "\nOr grant the bot `get` on ConfigMap `argocd-cm` in Argo CD's namespace (the `gitops` kustomize component's Role), so its system-level rules count.";
      parts.push(text);
    }
  }
  // The refusal's own words follow ("… Nothing was changed."): no full stop of ours before them.
  return parts.join("\n\n").replace(/\.$/, "");
}

/** The line a start shows when every owner leaves the bot's fields alone. */
export function ownedButIgnoredText(v: OwnershipVerdict): string {
  return `${objectLabel(v.object)} is owned by ${v.owners.map(judgementText).join("; ")}. The bot's fields are left alone there.`;
}

/** `argocd-controller` -> "Argo CD (`argocd-controller`)"; any other manager as itself. */
export function managerLabel(manager: string): string {
  if (manager === "argocd-controller") return "Argo CD (`argocd-controller`)";
  if (manager === "kustomize-controller" || manager === "helm-controller") return `Flux (\`${manager}\`)`;
  return `\`${manager}\``;
}

const OWNER_DOES: Partial<Record<OwnershipReason, string>> = {
  "self-heal": "self-heals this object",
  "auto-sync": "syncs this object from git",
  "manual-sync": "was synced from git",
  "ignore-without-respect": "writes git's values back on every sync (`RespectIgnoreDifferences=true` is missing)",
  "drift-correction": "corrects drift on this object at every reconcile",
  "helm-drift-correction": "corrects drift on this object at every reconcile",
};

/**
 * Who changed the mesh, from managedFields: "Argo CD (`argocd-controller`) put 100/0 back at 14:02 UTC:
 * Application `shop` self-heals this object". `found` is the split the mesh holds now (stable/canary).
 */
export function driftAuthorText(by: DriftAuthor, found: string | undefined): string {
  const at = by.time ? ` at ${by.time.slice(11, 16)} UTC` : "";
  const what = found ? ` ${found}` : "";
  if (!by.gitops)
    return `${managerLabel(by.manager)} changed the bot's fields${what ? ` to${what}` : ""}${at} (a hand edit or another tool, not a GitOps owner)`;
  const o = by.gitops.owner;
  const kind = o.kind === "argocd" ? "Application" : o.kind === "flux-kustomization" ? "Kustomization" : "HelmRelease";
  const does = OWNER_DOES[by.gitops.reason] ?? "owns this object";
  return `${managerLabel(by.manager)} put${what || " git's weights"} back${at}: ${o.name ? `${kind} \`${o.name}\` ${does}` : `its ${kind} is not named on the object`}`;
}

/** What helps after a GitOps revert instead of Re-apply (which would start a tug of war). */
export function gitopsRevertAdvice(by: DriftAuthor, obj: WrittenObject | undefined): string {
  const lines = [
    "This is a GitOps revert, not a hand edit: Re-apply would only start a tug of war. Adopt what git says, Abort, or stop the owner putting it back.",
  ];
  const s = by.gitops?.snippet;
  if (s) {
    lines.push(`To keep the bot's weights, add this to ${whereToAdd(s)} in git, then Adopt and advance again:\n\`\`\`${snippetYaml(s)}\`\`\``);
    if (obj) lines.push(snippetMasks(s, obj));
    const system = obj && systemSnippetText(s, obj);
    if (system) lines.push(system);
  }
  if (by.gitops?.owner.kind === "flux-kustomization")
    lines.push(
      "Or press *Pause Flux for this rollout*: the bot sets `kustomize.toolkit.fluxcd.io/reconcile: disabled` on the object until the rollout ends, then writes its weights back (or set `gitops: pause` on the target for every rollout).",
    );
  return lines.join("\n");
}

/** What git must now say about an object a GitOps owner manages, and whether the cluster differs from git. */
export function backToGitText(b: GitBaseline, result: { differs: boolean; patch: Record<string, unknown> }): string {
  const owner = ownerLabel(b.owner);
  if (!result.differs)
    return `${objectLabel(b.object)} (${owner}): the cluster holds what git held at the start in the bot's fields: nothing to change in git.`;
  return (
    `${objectLabel(b.object)} (${owner}): *the cluster now differs from git*. Make git say this, so the next sync keeps the rollout's result ` +
    `instead of undoing it or leaving the object OutOfSync:\n\`\`\`${stringify(result.patch).trimEnd()}\`\`\``
  );
}

/**
 * Server-side apply refused the bot's write because another field manager owns what it writes: "owned by X",
 * with the GitOps owner behind X when known. Nothing was written; only a person's Re-apply takes the fields.
 */
export function ownedByText(what: string, owned: OwnedBy): string {
  const managers = owned.managers.length ? owned.managers.map(managerLabel).join(", ") : "another field manager";
  const owner = owned.owner ? ` (${ownerLabel(owned.owner)})` : "";
  const fields = owned.fields.length ? owned.fields.map((f) => `\`${f}\``).join(", ") : "the fields the bot writes";
  const gitops = owned.owner ? " If that owner puts its values back, taking them starts a tug of war: make it ignore the bot's fields first, or Abort." : "";
  return (
    `${what} is owned by ${managers}${owner}: it owns ${fields}, which the bot writes, so the write was refused and nothing was overwritten. ` +
    `Re-apply takes ${owned.fields.length > 1 ? "them" : "it"} over (a forced apply, recorded in the audit trail); Abort goes back to stable.${gitops}`
  );
}
