/**
 * GET /api/metrics end to end on both runtimes: tasks run by the in-process scenario agent (completed and
 * rejected, by messageId), counted per tenant; bad parameters get a 400 naming them; and the read model
 * rebuilt from the log equals the live one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { rebuild } from '../../projections/runner.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('GET /api/metrics');

interface Figures {
  counts: Record<string, number>;
  errorRate: number | null;
  rejectionRate: number | null;
  latency: Record<string, { p50: number | null; p95: number | null; p99: number | null }>;
  cost: number;
}
interface Answer {
  step: string;
  groupBy: string;
  series: Array<{ key: string; points: Array<{ at: string } & Figures>; total: Figures }>;
  error?: { code: number; message: string };
}

// Plain arrays (postgres.js answers a Result array with properties of its own).
const rows = async (db: SqlDatabase, sql: string) => [...(await db.query(sql))];
const dump = async (db: SqlDatabase) => ({
  counts: await rows(db, 'SELECT * FROM rm_metrics ORDER BY 1, 2, 3, 4, 5, 6, 7'),
  latency: await rows(db, 'SELECT * FROM rm_metrics_latency ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9'),
  open: await rows(db, 'SELECT * FROM rm_metrics_open_tasks ORDER BY 1'),
  agents: await rows(db, 'SELECT * FROM rm_metrics_agents ORDER BY 1'),
});

for (const kind of kinds) {
  const s = suite(`GET /api/metrics (${kind})`);
  let hub: TestHub;
  let rivalKey: string;
  const hourAgo = () => new Date(Date.now() - 3_600_000).toISOString();

  const send = async (key: string, prefix: string) => {
    const res = await rpc(hub.url, key, 'SendMessage', {
      message: { messageId: `${prefix}-${crypto.randomUUID()}`, role: 'ROLE_USER', parts: [{ text: 'go' }] },
      metadata: { agent: 'scenario' },
    });
    const body = (await res.json()) as { result?: { task?: { status: { state: string } } } };
    assert.ok(body.result?.task, JSON.stringify(body));
  };
  const get = async (query: string, key = hub.apiKey) => {
    const res = await fetch(`${hub.url}/api/metrics${query}`, { headers: key ? { 'x-api-key': key } : {} });
    return { status: res.status, body: (await res.json()) as Answer };
  };

  s.before(async () => {
    hub = await startHub(kind);
    rivalKey = await hub.addTenant('rival');
    for (let i = 0; i < 3; i++) await send(hub.apiKey, 'tck-complete-task');
    await send(hub.apiKey, 'tck-reject-task');
    for (let i = 0; i < 2; i++) await send(rivalKey, 'tck-complete-task');
    await waitFor('the metrics of both tenants', async () => {
      const mine = await get(`?step=1m&from=${hourAgo()}`);
      const theirs = await get(`?step=1m&from=${hourAgo()}`, rivalKey);
      return mine.body.series[0]?.total.counts.total === 4 && theirs.body.series[0]?.total.counts.total === 2;
    });
  });
  s.after(async () => hub?.stop());

  s('per agent: counts by state, rates, latency percentiles, per minute and over the range', async () => {
    const { status, body } = await get(`?groupBy=agent&step=1m&from=${hourAgo()}`);
    assert.is(status, 200);
    assert.equal([body.groupBy, body.step], ['agent', '1m']);
    assert.equal(
      body.series.map((x) => x.key),
      ['system:scenario'],
    );
    const { total, points } = body.series[0]!;
    assert.equal(total.counts, { completed: 3, failed: 0, canceled: 0, rejected: 1, total: 4 });
    assert.is(total.errorRate, 0);
    assert.is(total.rejectionRate, 0.25);
    assert.ok(
      total.latency.toTerminal!.p50! > 0 && total.latency.toTerminal!.p99! >= total.latency.toTerminal!.p50!,
    );
    assert.is(total.latency.remoteCall!.p50, null);
    assert.ok(points.length >= 1);
    assert.ok(
      points.every((p) => new Date(p.at).getTime() % 60_000 === 0),
      JSON.stringify(points),
    );
    assert.is(
      points.reduce((n, p) => n + p.counts.total!, 0),
      4,
    );
    // The same tasks by day: one point (unless the test ran across midnight UTC).
    const days = await get(`?step=1d&from=${hourAgo()}`);
    assert.is(days.body.series[0]!.total.counts.total, 4);
    assert.equal(days.body.series[0]!.total.latency, total.latency);
    // By skill (named tasks have none: ''), by workflow (none ran).
    assert.equal(
      (await get(`?groupBy=skill&from=${hourAgo()}`)).body.series.map((x) => x.key),
      [''],
    );
    assert.equal((await get(`?groupBy=workflow&from=${hourAgo()}`)).body.series, []);
  });

  s('each tenant sees its own tasks only', async () => {
    const theirs = await get(`?from=${hourAgo()}`, rivalKey);
    assert.equal(theirs.body.series[0]!.total.counts, {
      completed: 2,
      failed: 0,
      canceled: 0,
      rejected: 0,
      total: 2,
    });
    // A key may not read another tenant's metrics by naming it.
    const denied = await get(`?tenant=default&from=${hourAgo()}`, rivalKey);
    assert.is(denied.status, 403);
  });

  s('bad parameters: a 400 naming them; no key: 401', async () => {
    const cases: Array<[string, RegExp]> = [
      ['?groupBy=agent&bucket=1m', /unknown parameter bucket \(known: from, to, groupBy, step, tenant\)/],
      ['?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z', /from: from must be before to/],
      ['?step=5m', /step: must be 1m, 1h, 1d/],
      ['?groupBy=tenant', /groupBy: must be agent, skill or workflow/],
      ['?from=yesterday', /from: must be an ISO 8601 instant/],
      [
        '?step=1m&from=2025-03-01T00:00:00Z&to=2025-03-03T00:00:00Z',
        /step: the range spans more than 1440 steps/,
      ],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await get(query);
      assert.is(status, 400, query);
      assert.match(body.error!.message, message, query);
    }
    // A day of minutes is the most one query may ask.
    assert.is((await get('?step=1m&from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z')).status, 200);
    assert.is((await get('?step=1m', '')).status, 401);
  });

  s('the read model rebuilt from the log equals the live one', async () => {
    const projection = hub.runtime.projections.find((p) => p.name === 'metrics')!;
    const live = await dump(hub.runtime.db);
    assert.ok(live.counts.length >= 6, JSON.stringify(live.counts)); // 2 tenants × 3 resolutions at least
    assert.equal(live.open, []);
    assert.ok((await rebuild(hub.runtime.db, hub.runtime.store, projection)) > 0);
    assert.equal(await dump(hub.runtime.db), live);
  });

  s.run();
}
