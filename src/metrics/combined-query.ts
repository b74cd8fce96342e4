import { err, ok, type Result } from "../engine/result.ts";

/**
 * Several instant queries asked as one (issue 24: a reading was 8 HTTP requests, each with its own JSON and
 * zod parse, a large share of the bot's CPU at 1,000 active rollouts). Each part is tagged with a label of its
 * own value, and the parts are joined with `or`:
 *
 *   label_replace(<part>, "rollout_bot_part", "<id>", "", "") or label_replace(<part>, ...) or ...
 *
 * `or` drops a right-hand series whose labels (the metric name aside) match a left-hand one, e.g.
 * `timestamp(x)` beside `x`, or stable's `sum by (namespace) (...)` beside canary's; parts that differ by the
 * marker never match. The marker is stripped again, so each part's series are exactly what the part alone
 * answers. Pure.
 */

/** Not `__`-prefixed: Prometheus reserves those names for itself. */
export const PART_LABEL = "rollout_bot_part";

export type Part = { id: string; promql: string };
/** One series of an instant vector, its value as Prometheus writes it ("NaN", "+Inf" included). */
export type Row = { metric: Record<string, string>; value: string };

/** The one query asking every part. Only instant-vector parts fit: a scalar one is refused by Prometheus (bad_data). */
export function combineParts(parts: readonly Part[]): string {
  return parts
    .map((p) => {
      if (!/^[A-Za-z0-9_.:-]+$/.test(p.id)) throw new Error(`part id ${JSON.stringify(p.id)} is not a plain label value`);
      // The newline ends a `# comment` the template may close with, which would swallow the rest.
      return `label_replace(${p.promql}\n, "${PART_LABEL}", "${p.id}", "", "")`;
    })
    .join(" or ");
}

/**
 * The combined answer back as one answer per part (every part present, empty when it selected nothing), each
 * series without the marker. A series with no known marker means the answer is not to this query.
 */
export function splitParts(rows: readonly Row[], ids: readonly string[]): Result<Map<string, Row[]>, { stray: Row }> {
  const out = new Map<string, Row[]>(ids.map((id) => [id, []]));
  for (const row of rows) {
    const { [PART_LABEL]: id, ...metric } = row.metric;
    const into = id === undefined ? undefined : out.get(id);
    if (!into) return err({ stray: row });
    into.push({ metric, value: row.value });
  }
  return ok(out);
}
