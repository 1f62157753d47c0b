/**
 * Metrics for dashboards, from the metrics read model (projections/metrics.ts):
 *
 *   GET /api/metrics?from=<ISO time>&to=<ISO time>&groupBy=agent|skill|workflow&step=1m|1h|1d&tenant=
 *
 * Defaults: `to` now, `from` 24 h before `to`, `groupBy=agent`, `step=1h`. Answers
 * `{ from, to, step, groupBy, series: [{ key, points: [{ at, counts, errorRate, rejectionRate, latency,
 * cost, tokens }], total }] }`: one point per step that has data (steps start at `from` rounded down to
 * the step), `total` over the whole range with the latency histograms merged (percentiles are never
 * averaged). At most MAX_POINTS (1,440) steps per query: a longer range needs a coarser step. Scoped to the
 * caller's tenant (or `tenant`, when the key may act for it). 401 without a key, 403 for a tenant the key
 * may not act for, 400 naming the parameter for anything else (unknown ones included).
 */
import { z } from 'zod';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { MAX_POINTS, metricSeries, pointsOf } from '../projections/metrics-query.ts';
import { RESOLUTIONS } from '../projections/metrics-settings.ts';
import { readErrors, readRoute, readRouter, tenantOf } from './openapi.ts';
import { queryInstant, queryParams, queryText } from './query-text.ts';

const DAY_MS = 86_400_000;

const Query = queryParams({
  from: queryInstant.optional(),
  to: queryInstant.optional(),
  groupBy: z
    .enum(['agent', 'skill', 'workflow'], { message: 'must be agent, skill or workflow' })
    .default('agent'),
  step: z.enum(RESOLUTIONS, { message: `must be ${RESOLUTIONS.join(', ')}` }).default('1h'),
  tenant: queryText(63).optional(),
})
  .transform(({ from, to, ...rest }) => {
    const end = to ? new Date(to) : new Date();
    return { ...rest, to: end, from: from ? new Date(from) : new Date(end.getTime() - DAY_MS) };
  })
  .refine((q) => q.from.getTime() < q.to.getTime(), {
    message: 'from must be before to',
    path: ['from'],
  })
  .refine((q) => pointsOf(q.from.getTime(), q.to.getTime(), q.step) <= MAX_POINTS, {
    message: `the range spans more than ${MAX_POINTS} steps: ask a shorter range or a coarser step`,
    path: ['step'],
  });

const Percentiles = z.object({
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});
const Figures = z.object({
  counts: z.object({
    completed: z.number(),
    failed: z.number(),
    canceled: z.number(),
    rejected: z.number(),
    total: z.number(),
  }),
  errorRate: z.number().nullable(),
  rejectionRate: z.number().nullable(),
  latency: z.object({ toWorking: Percentiles, toTerminal: Percentiles, remoteCall: Percentiles }),
  cost: z.number(),
  tokens: z.object({ prompt: z.number(), completion: z.number() }),
});
const Series = z.object({
  from: z.string(),
  to: z.string(),
  step: z.enum(RESOLUTIONS),
  groupBy: z.enum(['agent', 'skill', 'workflow']),
  series: z.array(
    z.object({ key: z.string(), points: z.array(Figures.extend({ at: z.string() })), total: Figures }),
  ),
});

const route = readRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Task and workflow figures per agent, skill or workflow, per minute, hour or day',
  request: { query: Query },
  responses: {
    200: { description: 'The series', content: { 'application/json': { schema: Series } } },
    ...readErrors,
  },
});

/** GET /metrics over the read models' database. */
export const metricsRoutes = (readModels: SqlExecutor) => {
  const app = readRouter();
  app.openapi(route, async (c) => {
    const { from, to, groupBy, step } = c.req.valid('query');
    const series = await metricSeries(readModels, { tenant: tenantOf(c), from, to, groupBy, step });
    return c.json({ from: from.toISOString(), to: to.toISOString(), step, groupBy, series }, 200);
  });
  return app;
};
