import type { PreflightProblem, ServiceRole } from "../../engine/preflight.ts";

/** Preflight problems in words: each names the object and what is wrong with it. Pure. */

const ROLE: Record<ServiceRole, string> = { apex: "the apex service clients call", stable: "the stable version", canary: "the canary" };

export function describePreflightProblem(p: PreflightProblem): string {
  switch (p.code) {
    case "service-missing":
      return `\`${p.name}\`: no such Service in namespace \`${p.namespace}\` (${ROLE[p.role]})`;
    case "deployment-missing": {
      const selector = p.selector
        ? Object.entries(p.selector)
            .map(([k, v]) => `${k}=${v}`)
            .join(",")
        : undefined;
      return selector
        ? `\`${p.name}\`: no Deployment in namespace \`${p.namespace}\` runs the canary (none has pods matching \`${selector}\`, none is named \`${p.name}\`)`
        : `\`${p.name}\`: no such Deployment in namespace \`${p.namespace}\` (the canary)`;
    }
    case "scaled-to-zero":
      return `\`${p.name}\`: scaled to 0 replicas`;
    case "rollout-pending":
      return `\`${p.name}\`: its latest change (generation ${p.generation}) is not rolled out yet (observed generation ${p.observedGeneration ?? "none"})`;
    case "replicas-unavailable":
      return `\`${p.name}\`: ${p.available} of ${p.desired} replicas available`;
  }
}

/** All problems of a refused start, in one sentence fragment (the refusal adds "Nothing was changed."). */
export function describePreflightProblems(problems: PreflightProblem[]): string {
  return problems.map(describePreflightProblem).join("; ");
}
