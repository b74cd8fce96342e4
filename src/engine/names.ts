import { z } from "zod";

/** RFC 1123 label: what Kubernetes accepts for Service and Deployment names. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: what Kubernetes accepts for most object names (TrafficSplit, HTTPRoute). */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dnsLabelProblem(value: string): string | undefined {
  if (value.length === 0) return "is empty";
  if (value.length > 63) return `is ${value.length} characters long (at most 63)`;
  if (!DNS1123_LABEL.test(value)) {
    return "must be lower-case letters, digits and '-', starting and ending with a letter or digit";
  }
  return undefined;
}

export const dnsLabel = z.string().superRefine((value, ctx) => {
  const problem = dnsLabelProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: `'${value}' is not a valid name: it ${problem}` });
});

export const dnsSubdomain = z.string().max(253).regex(DNS1123_SUBDOMAIN, "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')");
