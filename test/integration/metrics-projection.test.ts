/**
 * The metrics read model against PGlite in this process: given events, then rows (and the queries over
 * them). Events are built by hand, with the times that matter, so every figure is known in advance.
 */
import { PGlite } from '@electric-sql/pglite';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { METRICS_TABLES, metricsProjection } from '../../projections/metrics.ts';
import { metricSeries, observedFigures } from '../../projections/metrics-query.ts';
import { DEFAULT_METRICS_RETENTION, type MetricsRetention } from '../../projections/metrics-settings.ts';
import { migrateProjection } from '../../projections/runner.ts';

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
let position = 0;
const revisions = new Map<string, number>();

const ev = (
  stream: string,
  type: string,
  data: Record<string, unknown>,
  ms: number,
  tenant = 'acme',
  correlationId = 'c',
): RecordedEvent => {
  const revision = revisions.get(stream) ?? 0;
  revisions.set(stream, revision + 1);
  position += 1;
  return {
    id: `e${position}`,
    stream,
    revision,
    position,
    type,
    schemaVersion: 1,
    occurredAt: at(ms),
    data: { ...data, at: at(ms) },
    metadata: { tenant, principal: 'test', correlationId, causationId: null },
  };
};
const message = { messageId: 'm', role: 'ROLE_USER', parts: [{ text: 'hi' }] };
const submitted = (id: string, ms: number, agent: string | null, extra: Record<string, unknown> = {}) =>
  ev(`task-${id}`, 'TaskSubmitted', { taskId: id, contextId: 'ctx', message, agent, ...extra }, ms);
const status = (id: string, state: string, ms: number) =>
  ev(`task-${id}`, 'TaskStatusUpdated', { state: `TASK_STATE_${state}` }, ms);
const candidate = (agentKey: string, cost: number) => ({
  agentKey,
  skillId: 'translate',
  similarity: 0.9,
  latencyMs: null,
  cost,
  quality: 0.5,
  score: 0.7,
});
const routed = (id: string, agentKey: string, ms: number, cost = 0.25) =>
  ev(
    `task-${id}`,
    'TaskRouted',
    {
      agentKey,
      skillId: 'translate',
      candidates: [candidate(agentKey, cost), candidate('acme:other', 9)],
      weights: { similarity: 1, latency: 0, cost: 0, quality: 0 },
      limits: {},
    },
    ms,
  );
const artifact = (id: string, ms: number, usage: Record<string, number>) =>
  ev(
    `task-${id}`,
    'TaskArtifactUpdated',
    {
      artifact: { artifactId: 'a', parts: [{ text: 'x' }], metadata: { usage } },
      append: false,
      lastChunk: true,
    },
    ms,
  );

/** A routed task: working after `toWorking` ms, ended `state` after `toEnd` ms. */
const routedTask = (
  id: string,
  agentKey: string,
  start: number,
  toWorking: number,
  toEnd: number,
  state = 'COMPLETED',
) => [
  submitted(id, start, 'auto'),
  routed(id, agentKey, start + 1),
  status(id, 'WORKING', start + toWorking),
  status(id, state, start + toEnd),
];

const s = suite('metrics projection (PGlite)');
let pg: PGlite;
let db: SqlDatabase;
let retention: MetricsRetention = DEFAULT_METRICS_RETENTION;

const apply = async (events: RecordedEvent[], batch = events.length) => {
  const projection = metricsProjection(retention);
  for (let i = 0; i < events.length; i += batch)
    await db.transaction((tx) => projection.applyBatch!(events.slice(i, i + batch), tx));
};
const rows = (resolution = '1m') =>
  db.query<Record<string, unknown>>(
    `SELECT tenant, scope, bucket, agent, skill, workflow, completed::int, failed::int, canceled::int,
            rejected::int, cost::text, prompt_tokens::int, completion_tokens::int
       FROM rm_metrics WHERE resolution = $1 ORDER BY tenant, scope, bucket, agent, skill, workflow`,
    [resolution],
  );
const dump = async () => ({
  counts: await db.query('SELECT * FROM rm_metrics ORDER BY 1, 2, 3, 4, 5, 6, 7'),
  latency: await db.query('SELECT * FROM rm_metrics_latency ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9'),
  open: await db.query('SELECT * FROM rm_metrics_open_tasks ORDER BY 1'),
});

// One PGlite for the suite (it takes seconds to start), emptied before each test.
s.before(async () => {
  pg = new PGlite();
  db = pgliteDatabase(pg as never);
  await migrateProjection(db, metricsProjection());
});
s.before.each(async () => {
  retention = DEFAULT_METRICS_RETENTION;
  revisions.clear();
  await db.exec(`TRUNCATE ${METRICS_TABLES.join(', ')}`);
});
s.after(async () => pg.close());

s('a routed task: its counts in the minute, hour and day rows, the routed cost, the tokens', async () => {
  await apply([
    submitted('t1', 0, 'auto'),
    routed('t1', 'acme:fast', 5),
    status('t1', 'WORKING', 40),
    artifact('t1', 100, { promptTokens: 12, completionTokens: 30 }),
    artifact('t1', 110, { promptTokens: 3, completionTokens: 'many' } as never),
    status('t1', 'COMPLETED', 250),
  ]);
  for (const resolution of ['1m', '1h', '1d']) {
    const [row, ...more] = await rows(resolution);
    assert.is(more.length, 0, resolution);
    assert.equal(
      { ...row, bucket: undefined },
      {
        tenant: 'acme',
        scope: 'task',
        bucket: undefined,
        agent: 'acme:fast',
        skill: 'translate',
        workflow: '',
        completed: 1,
        failed: 0,
        canceled: 0,
        rejected: 0,
        cost: '0.25',
        prompt_tokens: 15,
        completion_tokens: 30,
      },
    );
  }
  const [minute] = await rows('1m');
  assert.is(new Date(minute!.bucket as string).toISOString(), '2025-03-01T10:00:00.000Z');
  const [day] = await rows('1d');
  assert.is(new Date(day!.bucket as string).toISOString(), '2025-03-01T00:00:00.000Z');
  const [series] = await metricSeries(db, {
    tenant: 'acme',
    from: new Date(T0),
    to: new Date(T0 + 60_000),
    groupBy: 'agent',
    step: '1m',
  });
  // One sample each: every percentile is that sample, within the histogram's 1%.
  const { toWorking, toTerminal } = series!.total.latency;
  assert.ok(Math.abs(toWorking.p50! - 40) <= 0.4, JSON.stringify(toWorking));
  assert.ok(Math.abs(toTerminal.p99! - 250) <= 2.5, JSON.stringify(toTerminal));
  assert.equal(await db.query('SELECT * FROM rm_metrics_open_tasks'), []);
});

s(
  'named agents: the tenant’s own with its registered cost, else the hub’s; a remote call corrects it',
  async () => {
    await apply([
      ev('agent-acme:translator', 'AgentRegistered', { agentId: 'translator', costPerRequest: 2 }, 0),
      ev('agent-acme:translator', 'AgentUpdated', { costPerRequest: 3 }, 1),
      submitted('own', 10, 'translator', { metadata: { skill: 'fr' } }),
      status('own', 'FAILED', 20),
      submitted('builtin', 10, 'echo'),
      status('builtin', 'REJECTED', 30),
      submitted('moved', 10, 'echo'),
      ev(
        'task-moved',
        'RemoteCallIntended',
        { agentKey: 'acme:translator', callId: 'c1', idempotencyKey: 'k', attempt: 1 },
        15,
      ),
      status('moved', 'CANCELED', 40),
      submitted('nobody', 10, 'auto'),
      ev(
        'task-nobody',
        'TaskRoutingFailed',
        {
          reason: 'no-match',
          explanation: 'none',
          candidates: [],
          weights: { similarity: 1, latency: 0, cost: 0, quality: 0 },
          limits: {},
        },
        11,
      ),
      status('nobody', 'REJECTED', 12),
    ]);
    const got = (await rows()).map((r) => [r.agent, r.skill, r.failed, r.rejected, r.canceled, r.cost]);
    assert.equal(got, [
      ['', '', 0, 1, 0, '0'],
      ['acme:translator', '', 0, 0, 1, '3'],
      ['acme:translator', 'fr', 1, 0, 0, '3'],
      ['system:echo', '', 0, 1, 0, '0'],
    ]);
  },
);

s('workflow runs: completed, failed, canceled; step tasks’ cost goes to their workflow', async () => {
  const corr = 'wfrun:r1';
  await apply([
    ev('wfrun-r1', 'WorkflowRunStarted', { runId: 'r1', workflow: 'translate-review' }, 0, 'acme', corr),
    ev('task-s1', 'TaskSubmitted', { taskId: 's1', contextId: 'x', message, agent: 'auto' }, 5, 'acme', corr),
    ev(
      'task-s1',
      'TaskRouted',
      {
        agentKey: 'acme:fast',
        skillId: 'translate',
        candidates: [candidate('acme:fast', 0.5)],
        weights: { similarity: 1, latency: 0, cost: 0, quality: 0 },
        limits: {},
      },
      6,
      'acme',
      corr,
    ),
    ev('task-s1', 'TaskStatusUpdated', { state: 'TASK_STATE_COMPLETED' }, 900, 'acme', corr),
    ev('wfrun-r1', 'WorkflowRunCompleted', { output: 'ok' }, 1000, 'acme', corr),
    ev('wfrun-r2', 'WorkflowRunStarted', { runId: 'r2', workflow: 'translate-review' }, 0),
    ev(
      'wfrun-r2',
      'WorkflowRunFailed',
      { failedStep: 'a', reason: 'x', compensated: [], compensationFailed: [] },
      3000,
    ),
    ev('wfrun-r3', 'WorkflowRunStarted', { runId: 'r3', workflow: 'other' }, 0),
    ev('wfrun-r3', 'WorkflowRunCancelRequested', { reason: 'user', tasks: [] }, 100),
    ev(
      'wfrun-r3',
      'WorkflowRunFailed',
      { failedStep: 'a', reason: 'canceled', compensated: [], compensationFailed: [] },
      200,
    ),
  ]);
  const runs = (await rows()).filter((r) => r.scope === 'run');
  assert.equal(
    runs.map((r) => [r.workflow, r.completed, r.failed, r.canceled, r.cost]),
    [
      ['other', 0, 0, 1, '0'],
      ['translate-review', 1, 1, 0, '0.5'],
    ],
  );
  const series = await metricSeries(db, {
    tenant: 'acme',
    from: new Date(T0),
    to: new Date(T0 + 3_600_000),
    groupBy: 'workflow',
    step: '1h',
  });
  const review = series.find((x) => x.key === 'translate-review')!;
  assert.equal(review.total.counts, { completed: 1, failed: 1, canceled: 0, rejected: 0, total: 2 });
  assert.is(review.total.errorRate, 0.5);
  // Two runs, 1 s and 3 s: the rank rule q·(n − 1) reads the lower one for every quantile below 1.
  assert.ok(Math.abs(review.total.latency.toTerminal.p99! - 1000) <= 10);
  assert.is(review.total.latency.toWorking.p50, null);
});

s('percentiles come from the merged histogram of the range, not from averaging the minutes', async () => {
  const events: RecordedEvent[] = [];
  // Minute 0: 99 tasks of 10 ms and one of 1000 ms; minute 1: 100 tasks of 20 ms.
  for (let i = 0; i < 100; i++) events.push(...routedTask(`a${i}`, 'acme:x', 0, 2, i === 0 ? 1000 : 10));
  for (let i = 0; i < 100; i++) events.push(...routedTask(`b${i}`, 'acme:x', 60_000, 2, 20));
  await apply(events, 37);
  const q = { tenant: 'acme', from: new Date(T0), to: new Date(T0 + 120_000), groupBy: 'agent' as const };
  const [minutes] = await metricSeries(db, { ...q, step: '1m' });
  assert.is(minutes!.points.length, 2);
  assert.ok(Math.abs(minutes!.points[0]!.latency.toTerminal.p99! - 10) <= 0.1);
  assert.ok(Math.abs(minutes!.points[1]!.latency.toTerminal.p99! - 20) <= 0.2);
  // Over both minutes: 200 samples, the 99th percentile is 20 ms (an average of the minutes' p99 says 15).
  assert.ok(Math.abs(minutes!.total.latency.toTerminal.p99! - 20) <= 0.2);
  assert.ok(Math.abs(minutes!.total.latency.toTerminal.p50! - 20) <= 0.2);
  const [hours] = await metricSeries(db, { ...q, step: '1h' });
  assert.equal(
    hours!.points.map((p) => p.counts.completed),
    [200],
  );
  assert.equal(hours!.points[0]!.latency, minutes!.total.latency);
});

s('one event at a time and one batch give the same rows', async () => {
  const events = [
    ...routedTask('p', 'acme:x', 0, 5, 70),
    ...routedTask('q', 'acme:y', 30_000, 5, 95_000, 'FAILED'),
    artifact('p', 10, { promptTokens: 1, completionTokens: 1 }),
  ];
  await apply(events, 1);
  const oneByOne = await dump();
  await db.exec(`TRUNCATE ${METRICS_TABLES.join(', ')}`);
  await apply(events);
  assert.equal(await dump(), oneByOne);
  assert.is(oneByOne.counts.length, 6);
});

s('retention: minute rows older than it are pruned as the log’s time moves on; hours stay', async () => {
  retention = { '1m': 10, '1h': 0, '1d': 0 };
  await apply(routedTask('old', 'acme:x', 0, 1, 2));
  assert.is((await rows('1m')).length, 1);
  // 30 minutes later in the log: the old minute is past the 10-minute retention.
  await apply(routedTask('new', 'acme:x', 30 * 60_000, 1, 2));
  const minutes = await rows('1m');
  assert.equal(
    minutes.map((r) => new Date(r.bucket as string).toISOString()),
    ['2025-03-01T10:30:00.000Z'],
  );
  assert.equal(
    (await rows('1h')).map((r) => r.completed),
    [2],
  );
  const [latency] = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM rm_metrics_latency WHERE resolution = '1m' AND bucket < $1::timestamptz",
    [at(30 * 60_000)],
  );
  assert.is(latency!.n, 0);
  // A task ending now in an old minute (a late event) is not written to a pruned minute.
  await apply([submitted('late', 0, 'auto'), status('late', 'COMPLETED', 1)]);
  assert.is((await rows('1m')).length, 1);
});

s('observed figures per agent × skill over the window, else the agent’s over all skills', async () => {
  const events: RecordedEvent[] = [];
  for (let i = 0; i < 8; i++) events.push(...routedTask(`f${i}`, 'acme:fast', i * 1000, 2, 20));
  for (let i = 0; i < 4; i++)
    events.push(...routedTask(`s${i}`, 'acme:slow', i * 1000, 2, 400, i === 0 ? 'FAILED' : 'COMPLETED'));
  events.push(submitted('n1', 0, 'named'), status('n1', 'COMPLETED', 50));
  events.push(
    ev('task-other', 'TaskSubmitted', { taskId: 'other', contextId: 'x', message, agent: 'auto' }, 0, 'beta'),
  );
  await apply(events);
  const figures = await observedFigures(
    db,
    'acme',
    [
      { agentKey: 'acme:fast', skillId: 'translate' },
      { agentKey: 'acme:slow', skillId: 'translate' },
      { agentKey: 'system:named', skillId: 'summarise' },
      { agentKey: 'acme:never', skillId: 'translate' },
    ],
    at(10 * 60_000),
  );
  const fast = figures.get('acme:fast\0translate')!;
  assert.is(fast.samples, 8);
  assert.is(fast.successRate, 1);
  assert.is(fast.cost, 0.25);
  assert.ok(Math.abs(fast.p95Ms! - 20) <= 0.2);
  const slow = figures.get('acme:slow\0translate')!;
  assert.equal([slow.samples, slow.successRate], [4, 0.75]);
  assert.ok(Math.abs(slow.p95Ms! - 400) <= 4);
  assert.is(figures.get('system:named\0summarise')!.samples, 1);
  // A remote agent's calls measure it better than submitted → terminal (which adds the hub's queues).
  await apply([
    ...routedTask('r1', 'acme:remote', 0, 2, 900).slice(0, 3),
    ev(
      'task-r1',
      'RemoteCallCompleted',
      { callId: 'c', agentKey: 'acme:remote', ok: true, outcome: 'completed', latencyMs: 30 },
      800,
    ),
    status('r1', 'COMPLETED', 900),
  ]);
  const remote = await observedFigures(
    db,
    'acme',
    [{ agentKey: 'acme:remote', skillId: 'translate' }],
    at(60_000),
  );
  assert.ok(Math.abs(remote.get('acme:remote\0translate')!.p95Ms! - 30) <= 0.3);
  assert.not.ok(figures.has('acme:never\0translate'));
  // Out of the window (and another tenant's view): nothing.
  assert.is(
    (await observedFigures(db, 'acme', [{ agentKey: 'acme:fast', skillId: 'translate' }], at(3 * 3_600_000)))
      .size,
    0,
  );
  assert.is(
    (await observedFigures(db, 'beta', [{ agentKey: 'acme:fast', skillId: 'translate' }], at(60_000))).size,
    0,
  );
});

s.run();
