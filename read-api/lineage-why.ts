/**
 * A routing decision in plain words, from what its node recorded: "routed to translator-b: similarity 0.82,
 * p95 120 ms, cost 0.002; translator-a skipped: circuit open".
 */

/** A candidate as the decision node holds it (events/task.ts RoutingCandidate, and what later builds add). */
type Candidate = Record<string, unknown> & { agentKey?: unknown; skillId?: unknown; excludedBy?: unknown };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number) => String(Math.round(v * 1000) / 1000);

const SKIPPED: Record<string, string> = {
  disabled: 'disabled',
  'circuit-open': 'circuit open',
  'probe-in-flight': 'circuit half-open with a probe in flight',
  'min-similarity': 'not similar enough',
  'max-latency': 'slower than the latency limit',
  'max-cost': 'dearer than the cost limit',
};

/**
 * An observed figure a candidate may carry beside the declared ones (the metrics read model's, when routing
 * scored on it): any numeric field named like p95 or successRate, on the candidate or one level down.
 */
const observed = (c: Candidate, pattern: RegExp): number | null => {
  for (const [k, v] of Object.entries(c)) {
    if (pattern.test(k) && num(v) !== null) return num(v);
    if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [k2, v2] of Object.entries(v)) if (pattern.test(k2) && num(v2) !== null) return num(v2);
  }
  return null;
};

/** `tenant:agent` without the caller's own tenant. */
const agentName = (key: unknown, tenant: string) =>
  typeof key === 'string' && key.startsWith(`${tenant}:`) ? key.slice(tenant.length + 1) : String(key);

const figures = (c: Candidate): string => {
  const parts: string[] = [];
  const similarity = num(c.similarity);
  if (similarity !== null) parts.push(`similarity ${fmt(similarity)}`);
  const p95 = observed(c, /p95/i);
  const latency = num(c.latencyMs);
  if (p95 !== null) parts.push(`p95 ${Math.round(p95)} ms`);
  else if (latency !== null) parts.push(`latency ${Math.round(latency)} ms`);
  const success = observed(c, /successRate/i);
  if (success !== null) parts.push(`success ${Math.round(success * 100)}%`);
  const cost = num(c.cost);
  if (cost !== null) parts.push(`cost ${fmt(cost)}`);
  const score = num(c.score);
  if (score !== null) parts.push(`score ${fmt(score)}`);
  return parts.join(', ');
};

const isCandidate = (v: unknown): v is Candidate => v !== null && typeof v === 'object';

/** Why a routing decision went the way it did, every candidate accounted for. */
export const whyOfDecision = (attributes: Record<string, unknown>, tenant: string): string => {
  const candidates = Array.isArray(attributes.candidates) ? attributes.candidates.filter(isCandidate) : [];
  const name = (c: Candidate) =>
    `${agentName(c.agentKey, tenant)}${c.skillId ? ` (${String(c.skillId)})` : ''}`;
  const others = (chosen?: Candidate) =>
    candidates
      .filter((c) => c !== chosen)
      .map((c) =>
        typeof c.excludedBy === 'string'
          ? `${name(c)} skipped: ${SKIPPED[c.excludedBy] ?? c.excludedBy}`
          : `${name(c)} scored lower: ${figures(c)}`,
      );
  if (attributes.outcome === 'routed') {
    const chosen = candidates.find(
      (c) => c.agentKey === attributes.agentKey && c.skillId === attributes.skillId,
    );
    const head = `routed to ${agentName(attributes.agentKey, tenant)}${chosen ? `: ${figures(chosen)}` : ''}`;
    return [head, ...others(chosen)].join('; ');
  }
  const explanation =
    typeof attributes.explanation === 'string' ? attributes.explanation : 'no agent matched';
  if (candidates.length === 0) return `not routed: ${explanation}`;
  return ['not routed: no candidate could take the task', ...others()].join('; ');
};
