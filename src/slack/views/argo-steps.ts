import type { ArgoStep } from "../../engine/argo-types.ts";
import { formatDuration } from "../../engine/duration.ts";

/** A Rollout step as the plugin prints it (`setWeight: 20`, `pause: 1h`, `analysis`). Pure. */
export function argoStepText(s: ArgoStep): string {
  switch (s.kind) {
    case "setWeight":
      return `setWeight: ${s.weight}`;
    case "pause":
      return s.durationMs !== undefined ? `pause: ${formatDuration(s.durationMs)}` : "pause";
    case "analysis":
      return s.templates.length ? `analysis: ${s.templates.join(", ")}` : "analysis";
    case "setHeaderRoute":
      return `setHeaderRoute: ${s.name}`;
    case "setMirrorRoute":
      return `setMirrorRoute: ${s.name}`;
    case "setCanaryScale":
      return "setCanaryScale";
    case "experiment":
      return "experiment";
    case "plugin":
      return `plugin: ${s.name}`;
  }
}
