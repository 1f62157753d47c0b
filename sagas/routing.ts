/**
 * Routing: for a submitted task that names no agent (AGENTCORE_DEFAULT_AGENT=route) or names `auto`,
 * pick an agent by a multi-objective score among the routable candidates discovery finds, and record the
 * decision on the task (TaskRouted, with every candidate, its score and why it was left out). No candidate:
 * TaskRoutingFailed and the task REJECTED, in one append, with a status message saying why.
 *
 * The in-process worker (agents/worker.ts) runs the task on TaskRouted when the chosen agent runs in the
 * hub, the remote worker (agents/remote.ts) when it is a remote A2A agent.
 *
 * Steps, for one TaskSubmitted (consumer `routing`; idempotent: command id `route:<event id>`):
 * 1. discovery (infra/discovery/port.ts): the message's text (or `metadata.query`), plus `metadata.skill` /
 *    `metadata.tags`;
 * 2. `scoreCandidates` (pure): hard limits (`metadata.maxLatencyMs`, `metadata.maxCost`, the minimum
 *    similarity of semantic-only matches), routability (disabled agents, open circuits) and the weighted
 *    score;
 * 3. best first, the candidate's circuit is checked on its stream (the read model may lag): closed, it is
 *    chosen; half-open (or open past its cooldown) the task claims the probe slot (commands/circuit.ts) and
 *    is chosen if it gets it; otherwise the next candidate.
 */
import type { Logger } from 'pino';
import { textOf } from '../agents/agent.ts';
import { type CircuitState, circuitAdmits, circuitDecider } from '../commands/circuit.ts';
import { ignoreRuleViolation, isRuleViolation } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { needsRouting, type TaskAggregate, type TaskCommand, taskDecider } from '../commands/task.ts';
import { type Message, TERMINAL_STATES } from '../events/a2a.ts';
import { agentStream, SYSTEM_TENANT } from '../events/agent.ts';
import { type CircuitEvent, circuitStream, tenantOfAgentKey } from '../events/circuit.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type {
  ObservedFigures,
  RoutingCandidate,
  RoutingLimits,
  RoutingWeights,
  TaskEvent,
} from '../events/task.ts';
import type { ConsumerOptions } from '../infra/bus/port.ts';
import type { Candidate, Discovery } from '../infra/discovery/port.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { safeErr } from '../infra/log-safe.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { observedFigures } from '../projections/metrics-query.ts';

export type { RoutingCandidate, RoutingLimits, RoutingWeights };

export const DEFAULT_ROUTING_WEIGHTS: RoutingWeights = {
  similarity: 0.6,
  latency: 0.15,
  cost: 0.1,
  quality: 0.15,
};
/**
 * Below this cosine, a skill found only by the semantic search is not a match (offline model: related
 * texts score 0.5-0.65, unrelated ones 0-0.3). Exact matches (skill id, tag) are exempt.
 */
export const DEFAULT_MIN_SIMILARITY = 0.35;

// ---- the score (pure) -----------------------------------------------------------------------------------

export type ExclusionReason =
  | 'disabled'
  | 'circuit-open'
  | 'probe-in-flight'
  | 'min-similarity'
  | 'max-latency'
  | 'max-cost';

/** A candidate as the score reads it. */
export interface ScoreInput {
  agentKey: string;
  skillId: string;
  similarity: number;
  /** Exact matches (skill id, tag) are exempt from the minimum similarity. */
  matchedBy?: ReadonlyArray<string>;
  latencyMs: number | null;
  cost: number;
  quality: number;
  status?: 'active' | 'disabled';
  /** 'half-open' means a probe may go now; an open circuit is excluded, as is a probe already in flight. */
  circuit?: 'closed' | 'open' | 'half-open';
  probeInFlight?: boolean;
  /**
   * What the metrics read model observed of it recently (projections/metrics-query.ts); null: no history,
   * absent: not asked. The declared `latencyMs`, `cost` and `quality` are the prior it is blended with.
   */
  observed?: ObservedFigures | null;
}

/**
 * How many observations the declared values weigh as (the prior's pseudo-count): an agent's first few
 * tasks move its figures part of the way, a few dozen make them its own.
 */
export const PRIOR_WEIGHT = 2;

/**
 * The values scored: the declared ones blended with the observed ones by sample count. Success rate:
 * (completed + k·quality) / (n + k), which is (ok + 1) / (n + 2) for the neutral prior 0.5; latency (the
 * observed p95 of submitted → terminal) and cost: (k·declared + n·observed) / (k + n), the observed one alone
 * when nothing was declared. No history: the declared values as they are.
 */
export const blendObserved = (c: ScoreInput): { latencyMs: number | null; cost: number; quality: number } => {
  const o = c.observed;
  if (!o) return { latencyMs: c.latencyMs, cost: c.cost, quality: c.quality };
  const n = o.samples;
  const k = PRIOR_WEIGHT;
  const mix = (declared: number | null, seen: number | null) =>
    seen === null ? declared : declared === null ? seen : (k * declared + n * seen) / (k + n);
  const quality = o.successRate === null ? c.quality : (o.successRate * n + k * clamp01(c.quality)) / (n + k);
  return { latencyMs: mix(c.latencyMs, o.p95Ms), cost: mix(c.cost, o.cost) ?? c.cost, quality };
};

const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** Why a candidate cannot take the task (the first reason that applies), or undefined. */
const exclusion = (c: ScoreInput, limits: RoutingLimits): ExclusionReason | undefined => {
  if (c.status === 'disabled') return 'disabled';
  if (c.circuit === 'open') return 'circuit-open';
  if (c.circuit === 'half-open' && c.probeInFlight) return 'probe-in-flight';
  const exact = (c.matchedBy ?? []).some((m) => m === 'skill-id' || m === 'tag');
  if (!exact && limits.minSimilarity !== undefined && c.similarity < limits.minSimilarity)
    return 'min-similarity';
  if (limits.maxLatencyMs !== undefined && c.latencyMs !== null && c.latencyMs > limits.maxLatencyMs) {
    return 'max-latency';
  }
  if (limits.maxCost !== undefined && c.cost > limits.maxCost) return 'max-cost';
  return undefined;
};

/**
 * Scores candidates, best first: those that may take the task by score (ties: similarity, then agent key
 * and skill id), then the excluded ones, each with `excludedBy`. Deterministic, no I/O.
 *
 * Each objective is mapped to 0..1, higher better, then weighted (weights normalised by their sum):
 * - similarity: the cosine, clamped to 0..1;
 * - latency: m / (m + latencyMs), m the median observed latency of the candidates (an agent as fast as the
 *   median scores 0.5, twice as slow 0.33); unknown (never called) 0.5;
 * - cost: m / (m + cost), m the median positive cost of the candidates; free is 1;
 * - quality: as observed (0.5 before any call).
 * Latency, cost and quality are first blended with what the metrics read model observed (`blendObserved`);
 * the candidate records the blended values and the observed figures.
 * Medians make the latency and cost terms unit-free and smooth: 100 ms against 101 ms barely differ.
 */
export const scoreCandidates = (
  candidates: ReadonlyArray<ScoreInput>,
  weights: RoutingWeights,
  limits: RoutingLimits = {},
): RoutingCandidate[] => {
  const total = weights.similarity + weights.latency + weights.cost + weights.quality;
  if (!(total > 0)) throw new RangeError('routing weights must not all be 0');
  const blended = candidates.map((c) => ({ ...c, ...blendObserved(c) }));
  const latencyScale = median(
    blended.flatMap((c) => (c.latencyMs !== null && c.latencyMs > 0 ? [c.latencyMs] : [])),
  );
  const costScale = median(blended.flatMap((c) => (c.cost > 0 ? [c.cost] : [])));
  const scored = blended.map((c) => {
    const latency =
      c.latencyMs === null ? 0.5 : latencyScale === null ? 1 : latencyScale / (latencyScale + c.latencyMs);
    const cost = c.cost <= 0 || costScale === null ? 1 : costScale / (costScale + c.cost);
    const score =
      (weights.similarity * clamp01(c.similarity) +
        weights.latency * latency +
        weights.cost * cost +
        weights.quality * clamp01(c.quality)) /
      total;
    const excludedBy = exclusion(c, limits);
    const out: RoutingCandidate = {
      agentKey: c.agentKey,
      skillId: c.skillId,
      similarity: round(c.similarity),
      latencyMs: c.latencyMs === null ? null : round(c.latencyMs),
      cost: c.cost,
      quality: round(c.quality),
      score: round(score),
      ...(excludedBy ? { excludedBy } : {}),
      ...(c.observed !== undefined ? { observed: c.observed } : {}),
    };
    return out;
  });
  return scored.sort(byRank);
};

/** Routable before excluded, then score, similarity, agent key and skill id. */
export const byRank = (a: RoutingCandidate, b: RoutingCandidate): number =>
  Number(a.excludedBy !== undefined) - Number(b.excludedBy !== undefined) ||
  b.score - a.score ||
  b.similarity - a.similarity ||
  (a.agentKey < b.agentKey ? -1 : a.agentKey > b.agentKey ? 1 : 0) ||
  (a.skillId < b.skillId ? -1 : a.skillId > b.skillId ? 1 : 0);

const EXCLUSION_TEXT: Record<ExclusionReason, string> = {
  disabled: 'disabled',
  'circuit-open': 'with an open circuit',
  'probe-in-flight': 'half-open with a probe already in flight',
  'min-similarity': 'not similar enough',
  'max-latency': 'slower than metadata.maxLatencyMs',
  'max-cost': 'dearer than metadata.maxCost',
};

/** Why no candidate could take the task, in words a client can act on. */
export const explainNoRoute = (
  query: { text: string; skillId?: string; tags?: string[] },
  candidates: ReadonlyArray<RoutingCandidate>,
  limits: RoutingLimits,
): { reason: 'no-match' | 'excluded'; explanation: string } => {
  const asked = [
    query.text ? `"${query.text.length > 80 ? `${query.text.slice(0, 77)}...` : query.text}"` : null,
    query.skillId ? `skill ${query.skillId}` : null,
    query.tags?.length ? `tags ${query.tags.join(', ')}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  if (candidates.length === 0) {
    return {
      reason: 'no-match',
      explanation: `No agent matched ${asked || 'this request'}: discovery found none.`,
    };
  }
  if (candidates.every((c) => c.excludedBy === 'min-similarity')) {
    const best = Math.max(...candidates.map((c) => c.similarity));
    return {
      reason: 'no-match',
      explanation: `No agent matched ${asked || 'this request'}: the closest skill has similarity ${best.toFixed(2)}, below the minimum ${limits.minSimilarity}.`,
    };
  }
  const groups = new Map<ExclusionReason, RoutingCandidate[]>();
  for (const c of candidates) {
    const r = c.excludedBy as ExclusionReason;
    groups.set(r, [...(groups.get(r) ?? []), c]);
  }
  const detail = (r: ExclusionReason, cs: RoutingCandidate[]) => {
    const names = [...new Set(cs.map((c) => c.agentKey))];
    const limit =
      r === 'max-latency'
        ? ` ${limits.maxLatencyMs} ms`
        : r === 'max-cost'
          ? ` ${limits.maxCost}`
          : r === 'min-similarity'
            ? ` (minimum ${limits.minSimilarity})`
            : '';
    return `${cs.length} ${EXCLUSION_TEXT[r]}${limit} (${names.join(', ')})`;
  };
  const parts = [...groups].map(([r, cs]) => detail(r, cs));
  return {
    reason: 'excluded',
    explanation: `No agent can take this task: ${candidates.length} candidate skill(s) matched ${asked || 'the request'}, all excluded: ${parts.join('; ')}.`,
  };
};

/** Hard limits from the request metadata; a malformed one is an error message, not a silent default. */
export const limitsFromMetadata = (
  metadata: Record<string, unknown> | undefined,
  minSimilarity: number,
): { limits: RoutingLimits } | { invalid: string } => {
  const limits: RoutingLimits = { minSimilarity };
  for (const [key, field] of [
    ['maxLatencyMs', 'maxLatencyMs'],
    ['maxCost', 'maxCost'],
  ] as const) {
    const raw = metadata?.[key];
    if (raw === undefined || raw === null) continue;
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      return { invalid: `metadata.${key} must be a non-negative number, got ${JSON.stringify(raw)}` };
    }
    limits[field] = n;
  }
  return { limits };
};

// ---- the saga -------------------------------------------------------------------------------------------

export interface RoutingDeps {
  store: EventStore;
  discovery: Discovery;
  log: Logger;
  /** AGENTCORE_DEFAULT_AGENT=route: tasks naming no agent are routed (else only `metadata.agent: "auto"`). */
  routeByDefault: boolean;
  weights?: RoutingWeights;
  minSimilarity?: number;
  /** Candidates asked of discovery. Default 10. */
  candidateLimit?: number;
  /** A claimed probe older than this is taken for lost (commands/circuit.ts ClaimProbe). */
  probeStaleAfterMs?: number;
  now?: () => string;
  /**
   * The read models (the metrics one): candidates are scored on what they were observed to do over the last
   * `observedWindowMs` (default 1 h). Absent, or the metrics unreadable: the declared values alone.
   */
  readModels?: SqlExecutor;
  observedWindowMs?: number;
}

export type RoutingResult =
  | { routed: RoutingCandidate; candidates: RoutingCandidate[] }
  | { rejected: string; candidates: RoutingCandidate[] }
  | { skipped: string };

const PRINCIPAL = 'saga:routing';

/** The agent key (`<tenant>:<agentId>`) of a discovered skill: the adapter says its tenant; else look. */
const keyOf = async (store: EventStore, c: Candidate, taskTenant: string): Promise<string> => {
  const tenant = (c as Candidate & { tenant?: string }).tenant;
  if (tenant) return `${tenant}:${c.agentId}`;
  const own = await store.readStream(agentStream(taskTenant, c.agentId), { maxCount: 1 });
  return `${own.length > 0 ? taskTenant : SYSTEM_TENANT}:${c.agentId}`;
};

const readCircuit = async (
  store: EventStore,
  agentKey: string,
): Promise<CircuitState & { revision: number }> => {
  const events = await store.readStream(circuitStream(agentKey));
  return { ...fold<CircuitState, CircuitEvent>(circuitDecider, events), revision: events.length };
};

/** Sets each candidate's observed figures (null: no history); left unset when the metrics cannot be read. */
const addObserved = async (deps: RoutingDeps, tenant: string, inputs: ScoreInput[], at: string) => {
  if (!deps.readModels || inputs.length === 0) return;
  try {
    const seen = await observedFigures(deps.readModels, tenant, inputs, at, deps.observedWindowMs);
    for (const c of inputs) c.observed = seen.get(`${c.agentKey}\0${c.skillId}`) ?? null;
  } catch (error) {
    // The metrics read model not migrated yet (a saga process started first): route on declared values.
    deps.log.warn({ err: safeErr(error) }, 'routing: observed metrics unreadable; declared values only');
  }
};

/** Routes one submitted task: what the consumer runs (and the benchmark times). */
export const routeTask = async (deps: RoutingDeps, submitted: RecordedEvent): Promise<RoutingResult> => {
  const now = deps.now ?? (() => new Date().toISOString());
  const weights = deps.weights ?? DEFAULT_ROUTING_WEIGHTS;
  const minSimilarity = deps.minSimilarity ?? DEFAULT_MIN_SIMILARITY;
  const staleAfterMs = deps.probeStaleAfterMs ?? 120_000;
  const data = (submitted.data ?? {}) as {
    taskId?: string;
    agent?: string | null;
    message?: Message;
    metadata?: Record<string, unknown>;
  };
  if (!needsRouting(data.agent ?? null, deps.routeByDefault)) return { skipped: 'the task names its agent' };
  const stream = submitted.stream;
  const history = await deps.store.readStream(stream);
  const state = fold<TaskAggregate, TaskEvent>(taskDecider, history);
  if (!state.task) return { skipped: 'no such task' };
  if (state.routed) return { skipped: `already routed to ${state.routed.agentKey}` };
  if (TERMINAL_STATES.has(state.task.status.state))
    return { skipped: `the task is ${state.task.status.state}` };
  const taskId = state.task.id;
  const tenant = submitted.metadata.tenant;
  const context = {
    tenant,
    principal: PRINCIPAL,
    commandId: `route:${submitted.id}`,
    correlationId: submitted.metadata.correlationId,
  };
  const command = (cmd: TaskCommand) => handle(deps.store, stream, cmd, taskDecider, context);
  const reject = async (
    reason: 'no-match' | 'excluded',
    explanation: string,
    candidates: RoutingCandidate[],
    limits: RoutingLimits,
  ): Promise<RoutingResult> => {
    await command({
      type: 'RejectRouting',
      reason,
      explanation,
      message: { messageId: `${submitted.id}:routing`, role: 'ROLE_AGENT', parts: [{ text: explanation }] },
      candidates,
      weights,
      limits,
      at: now(),
    });
    return { rejected: explanation, candidates };
  };

  const metadata = data.metadata ?? {};
  const parsedLimits = limitsFromMetadata(metadata, minSimilarity);
  if ('invalid' in parsedLimits)
    return reject('excluded', `Cannot route this task: ${parsedLimits.invalid}.`, [], { minSimilarity });
  const { limits } = parsedLimits;
  // `metadata.query` (a workflow step bound to a capability) describes the agent wanted better than the task's words.
  const text =
    typeof metadata.query === 'string' && metadata.query.trim()
      ? metadata.query.trim()
      : textOf(state.task.history?.[0] ?? data.message).trim();
  const skillId =
    typeof metadata.skill === 'string' && metadata.skill.trim() ? metadata.skill.trim() : undefined;
  const tags = Array.isArray(metadata.tags)
    ? metadata.tags.filter((t): t is string => typeof t === 'string' && t.trim() !== '')
    : typeof metadata.tags === 'string'
      ? metadata.tags
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : undefined;
  const found =
    text || skillId || tags?.length
      ? await deps.discovery.discover({
          tenant,
          ...(text ? { text } : {}),
          ...(skillId ? { skillId } : {}),
          ...(tags?.length ? { tags } : {}),
          limit: deps.candidateLimit ?? 10,
          // Routability is judged here (a half-open circuit may take a probe; the reason is reported).
          routableOnly: false,
        })
      : [];

  const at = now();
  const circuits = new Map<string, CircuitState>();
  const inputs: ScoreInput[] = [];
  for (const c of found) {
    const agentKey = await keyOf(deps.store, c, tenant);
    let circuit: ScoreInput['circuit'] = c.circuit;
    let probeInFlight = false;
    if (c.circuit !== 'closed') {
      // The read model says open or half-open: the stream says whether a probe may go now.
      const s = circuits.get(agentKey) ?? (await readCircuit(deps.store, agentKey));
      circuits.set(agentKey, s);
      const verdict = circuitAdmits(s, at, taskId, staleAfterMs);
      circuit = verdict === 'closed' ? 'closed' : verdict === 'open' ? 'open' : 'half-open';
      probeInFlight = verdict === 'probe-in-flight';
    }
    inputs.push({
      agentKey,
      skillId: c.skillId,
      similarity: c.similarity,
      matchedBy: c.matchedBy,
      latencyMs: c.latencyMs,
      cost: c.costPerRequest,
      quality: c.quality,
      status: c.status,
      circuit,
      probeInFlight,
    });
  }
  await addObserved(deps, tenant, inputs, at);
  const candidates = scoreCandidates(inputs, weights, limits);

  // Best first, the circuit confirmed on its stream (the read model may lag a circuit that just opened).
  for (let i = 0; i < candidates.length; i++) {
    const best = candidates[i]!;
    if (best.excludedBy) break;
    const s = await readCircuit(deps.store, best.agentKey);
    const revision = s.revision;
    let verdict = circuitAdmits(s, at, taskId, staleAfterMs);
    if (verdict === 'probe' && !(s.state === 'half-open' && s.probe?.taskId === taskId)) {
      try {
        await handle(
          deps.store,
          circuitStream(best.agentKey),
          { type: 'ClaimProbe', agentKey: best.agentKey, taskId, staleAfterMs, at },
          circuitDecider,
          {
            tenant: tenantOfAgentKey(best.agentKey) || tenant,
            principal: PRINCIPAL,
            commandId: `probe:${taskId}:${revision}`,
            correlationId: submitted.metadata.correlationId,
          },
        );
      } catch (error) {
        ignoreRuleViolation(error);
        verdict = /open until/.test(error.message) ? 'open' : 'probe-in-flight';
      }
    }
    if (verdict === 'open' || verdict === 'probe-in-flight') {
      // Every skill of that agent goes; the list is re-sorted so the excluded sink.
      const reason: ExclusionReason = verdict === 'open' ? 'circuit-open' : 'probe-in-flight';
      for (const c of candidates) if (c.agentKey === best.agentKey && !c.excludedBy) c.excludedBy = reason;
      candidates.sort(byRank);
      i = -1;
      continue;
    }
    try {
      await command({
        type: 'RouteTask',
        agentKey: best.agentKey,
        skillId: best.skillId,
        candidates,
        weights,
        limits,
        at,
      });
    } catch (error) {
      // Canceled (or routed by another copy) meanwhile: nothing to do.
      if (isRuleViolation(error)) return { skipped: error.message };
      throw error;
    }
    deps.log.debug({ taskId, agentKey: best.agentKey, score: best.score }, 'routing: task routed');
    return { routed: best, candidates };
  }
  const { reason, explanation } = explainNoRoute(
    { text, ...(skillId ? { skillId } : {}), ...(tags ? { tags } : {}) },
    candidates,
    limits,
  );
  try {
    return await reject(reason, explanation, candidates, limits);
  } catch (error) {
    if (isRuleViolation(error)) return { skipped: error.message };
    throw error;
  }
};

/**
 * The routing saga's consumer (durable `routing`): TaskSubmitted events.
 *
 * @example
 * await bus.consume(routingSaga({ store, discovery, log, routeByDefault: config.routing.routeByDefault }));
 */
export const routingSaga = (deps: RoutingDeps): ConsumerOptions => {
  const maxDeliver = 6;
  return {
    durable: 'routing',
    filter: { category: 'task', type: 'TaskSubmitted' },
    maxAckPending: 64,
    ackWaitMs: 30_000,
    maxDeliver,
    handler: async ({ event, deliveryCount }) => {
      try {
        await routeTask(deps, event);
      } catch (error) {
        if (deliveryCount < maxDeliver) {
          deps.log.info(
            { err: safeErr(error), stream: event.stream, deliveryCount },
            'routing failed; will retry',
          );
          throw error;
        }
        // Last delivery: the task must not stay submitted forever.
        deps.log.warn(
          { err: safeErr(error), stream: event.stream },
          'routing failed for good: rejecting the task',
        );
        const text = `Routing failed: ${error instanceof Error ? error.message : String(error)}`;
        await handle(
          deps.store,
          event.stream,
          {
            type: 'UpdateStatus',
            state: 'TASK_STATE_REJECTED',
            message: { messageId: `${event.id}:routing-error`, role: 'ROLE_AGENT', parts: [{ text }] },
            at: (deps.now ?? (() => new Date().toISOString()))(),
          },
          taskDecider,
          { tenant: event.metadata.tenant, principal: PRINCIPAL, commandId: `route-error:${event.id}` },
        ).catch(() => {});
      }
    },
  };
};
