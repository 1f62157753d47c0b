/**
 * Queries of the metrics read model: the series GET /api/metrics answers, and the recent figures per agent ×
 * skill that routing scores on. Histograms are merged in SQL (`SUM(count) GROUP BY bucket_index`) and the
 * percentiles read from the merged histogram, never averaged.
 */
import type { ObservedFigures } from '../events/task.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { LatencyKind } from './metrics-fold.ts';
import { bucketStart, RESOLUTION_MS, type Resolution } from './metrics-settings.ts';
import { type Histogram, percentiles, quantile } from './metrics-sketch.ts';

export type GroupBy = 'agent' | 'skill' | 'workflow';

/** The most points one series may have (a day of minutes): past it, ask a coarser step. */
export const MAX_POINTS = 1440;

/** How many steps [from, to) spans, counted from the step holding `from`. */
export const pointsOf = (fromMs: number, toMs: number, step: Resolution) =>
  Math.ceil((toMs - bucketStart(fromMs, step)) / RESOLUTION_MS[step]);

export interface SeriesQuery {
  tenant: string;
  from: Date;
  to: Date;
  groupBy: GroupBy;
  step: Resolution;
}

export interface MetricFigures {
  counts: { completed: number; failed: number; canceled: number; rejected: number; total: number };
  /** failed / total, and rejected / total; null with no task. */
  errorRate: number | null;
  rejectionRate: number | null;
  /** Submitted → first working, submitted → terminal, and remote agents' calls (RemoteCallCompleted). */
  latency: Record<
    'toWorking' | 'toTerminal' | 'remoteCall',
    { p50: number | null; p95: number | null; p99: number | null }
  >;
  cost: number;
  tokens: { prompt: number; completion: number };
}

export interface MetricSeries {
  /** The agent key, skill id or workflow name; '' for tasks no agent took (rejected by routing, say). */
  key: string;
  /** One point per step that has data, oldest first. */
  points: Array<{ at: string } & MetricFigures>;
  /** The whole range: counts summed, histograms merged. */
  total: MetricFigures;
}

interface Sums {
  completed: string | number;
  failed: string | number;
  canceled: string | number;
  rejected: string | number;
  cost: string | number;
  prompt: string | number;
  completion: string | number;
}
interface CountRow extends Sums {
  key: string;
  bucket: Date | string;
}
interface LatencyRow {
  key: string;
  bucket: Date | string;
  kind: LatencyKind;
  bucket_index: number;
  count: string | number;
}

const COLUMN: Record<GroupBy, string> = { agent: 'agent', skill: 'skill', workflow: 'workflow' };
const iso = (v: Date | string) => new Date(v).toISOString();

interface Accumulator {
  completed: number;
  failed: number;
  canceled: number;
  rejected: number;
  cost: number;
  prompt: number;
  completion: number;
  working: Map<number, number>;
  terminal: Map<number, number>;
  call: Map<number, number>;
}
const empty = (): Accumulator => ({
  completed: 0,
  failed: 0,
  canceled: 0,
  rejected: 0,
  cost: 0,
  prompt: 0,
  completion: 0,
  working: new Map(),
  terminal: new Map(),
  call: new Map(),
});
const addCounts = (a: Accumulator, r: Sums) => {
  a.completed += Number(r.completed);
  a.failed += Number(r.failed);
  a.canceled += Number(r.canceled);
  a.rejected += Number(r.rejected);
  a.cost += Number(r.cost);
  a.prompt += Number(r.prompt);
  a.completion += Number(r.completion);
};
const histogram = (m: Map<number, number>): Histogram => [...m].map(([bucket, count]) => ({ bucket, count }));
const rate = (part: number, total: number) => (total > 0 ? Math.round((part / total) * 1e6) / 1e6 : null);

const figures = (a: Accumulator): MetricFigures => {
  const total = a.completed + a.failed + a.canceled + a.rejected;
  return {
    counts: { completed: a.completed, failed: a.failed, canceled: a.canceled, rejected: a.rejected, total },
    errorRate: rate(a.failed, total),
    rejectionRate: rate(a.rejected, total),
    latency: {
      toWorking: percentiles(histogram(a.working)),
      toTerminal: percentiles(histogram(a.terminal)),
      remoteCall: percentiles(histogram(a.call)),
    },
    cost: Math.round(a.cost * 1e9) / 1e9,
    tokens: { prompt: a.prompt, completion: a.completion },
  };
};

/** A tenant's series over [from, to) at `step`, one per group key, keys in order. */
export const metricSeries = async (db: SqlExecutor, q: SeriesQuery): Promise<MetricSeries[]> => {
  const column = COLUMN[q.groupBy];
  const scope = q.groupBy === 'workflow' ? 'run' : 'task';
  const from = new Date(bucketStart(q.from.getTime(), q.step)).toISOString();
  const where = `tenant = $1 AND resolution = $2 AND scope = $3
    AND bucket >= $4::timestamptz AND bucket < $5::timestamptz`;
  const args = [q.tenant, q.step, scope, from, q.to.toISOString()];
  const counts = await db.query<CountRow>(
    `SELECT ${column} AS key, bucket, sum(completed) AS completed, sum(failed) AS failed,
            sum(canceled) AS canceled, sum(rejected) AS rejected, sum(cost) AS cost,
            sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion
       FROM rm_metrics WHERE ${where} GROUP BY ${column}, bucket`,
    args,
  );
  const latency = await db.query<LatencyRow>(
    `SELECT ${column} AS key, bucket, kind, bucket_index, sum(count) AS count
       FROM rm_metrics_latency WHERE ${where} GROUP BY ${column}, bucket, kind, bucket_index`,
    args,
  );
  const groups = new Map<string, { total: Accumulator; points: Map<string, Accumulator> }>();
  const at = (key: string, bucket: Date | string) => {
    const g = groups.get(key) ?? { total: empty(), points: new Map() };
    groups.set(key, g);
    const point = g.points.get(iso(bucket)) ?? empty();
    g.points.set(iso(bucket), point);
    return { g, point };
  };
  for (const r of counts) {
    const { g, point } = at(r.key, r.bucket);
    addCounts(point, r);
    addCounts(g.total, r);
  }
  for (const r of latency) {
    const { g, point } = at(r.key, r.bucket);
    const n = Number(r.count);
    for (const a of [point, g.total]) a[r.kind].set(r.bucket_index, (a[r.kind].get(r.bucket_index) ?? 0) + n);
  }
  return [...groups]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, g]) => ({
      key,
      points: [...g.points]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([when, a]) => ({ at: when, ...figures(a) })),
      total: figures(g.total),
    }));
};

/** Routing's window of minute rows by default: recent enough to follow a change, long enough to count. */
export const OBSERVED_WINDOW_MS = 60 * 60_000;

/** Judged tasks a skill needs in the window for its own figures to be used rather than its agent's. */
export const MIN_SKILL_SAMPLES = 5;

/**
 * What the tenant's tasks observed of these agents over the window ending at `at` (minute rows), per
 * `agentKey\0skillId`: the figures of that skill once it has MIN_SKILL_SAMPLES judged tasks, else the agent's
 * over all its skills (a task that named its agent has no skill). Agents without any history are absent.
 */
export const observedFigures = async (
  db: SqlExecutor,
  tenant: string,
  candidates: ReadonlyArray<{ agentKey: string; skillId: string }>,
  at: string,
  windowMs = OBSERVED_WINDOW_MS,
): Promise<Map<string, ObservedFigures>> => {
  const agents = [...new Set(candidates.map((c) => c.agentKey))];
  const result = new Map<string, ObservedFigures>();
  if (agents.length === 0) return result;
  const since = new Date(bucketStart(Date.parse(at) - windowMs, '1m')).toISOString();
  const where = `tenant = $1 AND resolution = '1m' AND scope = 'task'
    AND bucket >= $2::timestamptz AND agent = ANY($3::text[])`;
  const counts = await db.query<Sums & { agent: string; skill: string }>(
    `SELECT agent, skill, sum(completed) AS completed, sum(failed) AS failed, sum(canceled) AS canceled,
            sum(rejected) AS rejected, sum(cost) AS cost, 0 AS prompt, 0 AS completion
       FROM rm_metrics WHERE ${where} GROUP BY agent, skill`,
    [tenant, since, agents],
  );
  const latency = await db.query<{
    agent: string;
    skill: string;
    kind: 'terminal' | 'call';
    bucket_index: number;
    count: string;
  }>(
    `SELECT agent, skill, kind, bucket_index, sum(count) AS count FROM rm_metrics_latency
      WHERE ${where} AND kind IN ('terminal', 'call') GROUP BY agent, skill, kind, bucket_index`,
    [tenant, since, agents],
  );
  const bySkill = new Map<string, Accumulator>();
  const byAgent = new Map<string, Accumulator>();
  const acc = (m: Map<string, Accumulator>, k: string) => m.get(k) ?? m.set(k, empty()).get(k)!;
  for (const r of counts) {
    addCounts(acc(bySkill, `${r.agent}\0${r.skill}`), r);
    addCounts(acc(byAgent, r.agent), r);
  }
  for (const r of latency) {
    for (const a of [acc(bySkill, `${r.agent}\0${r.skill}`), acc(byAgent, r.agent)])
      a[r.kind].set(r.bucket_index, (a[r.kind].get(r.bucket_index) ?? 0) + Number(r.count));
  }
  for (const c of candidates) {
    const key = `${c.agentKey}\0${c.skillId}`;
    const own = bySkill.get(key);
    const a = own && judged(own) >= MIN_SKILL_SAMPLES ? own : byAgent.get(c.agentKey);
    if (a && judged(a) + a.canceled > 0) result.set(key, observedOf(a));
  }
  return result;
};

const judged = (a: Accumulator) => a.completed + a.failed + a.rejected;

const observedOf = (a: Accumulator): ObservedFigures => {
  const samples = judged(a);
  const tasks = samples + a.canceled;
  return {
    samples,
    successRate: samples > 0 ? Math.round((a.completed / samples) * 1e6) / 1e6 : null,
    // A remote agent's calls measure the agent; submitted → terminal adds the hub's queues and dispatch,
    // which every candidate shares (in-process agents make no calls: theirs is all there is).
    p95Ms: quantile(histogram(a.call.size > 0 ? a.call : a.terminal), 0.95),
    cost: tasks > 0 ? Math.round((a.cost / tasks) * 1e9) / 1e9 : null,
  };
};
