/**
 * The read API's tasks and workflow runs (read-api/tasks.ts), as a dashboard uses them, on both runtimes:
 * filters, cursor pages that neither repeat nor skip, ETags, tenant scoping, and precise 400s.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rebuild } from '../../projections/runner.ts';
import { workflowRunsProjection } from '../../projections/workflow-runs.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('read API tasks and runs');

const send = (hub: TestHub, text: string, key = hub.apiKey, agent?: string) =>
  fetch(`${hub.url}/a2a/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: {
        message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
        ...(agent ? { metadata: { agent } } : {}),
      },
    }),
  }).then(async (r) => (await r.json()) as { result: { task: { id: string; contextId: string } } });

for (const kind of kinds) {
  const s = suite(`read API tasks and runs (${kind})`);
  let hub: TestHub;
  let otherKey: string;
  const get = async (path: string, key = hub.apiKey, headers: Record<string, string> = {}) => {
    const r = await fetch(`${hub.url}/api${path}`, { headers: { 'X-API-Key': key, ...headers } });
    return { status: r.status, etag: r.headers.get('etag'), body: r.status === 304 ? null : await r.json() };
  };
  const ids: string[] = [];

  s.before(async () => {
    hub = await startHub(kind);
    otherKey = await hub.addTenant('rt-other');
    for (let i = 0; i < 7; i++)
      ids.push(
        (await send(hub, `order ${i} zebra-${i % 2}`, hub.apiKey, i < 2 ? 'echo' : undefined)).result.task.id,
      );
    await send(hub, 'not mine', otherKey);
  });
  s.after(async () => hub?.stop());

  s(
    'pages of tasks follow each other with no repeat and no gap, newest first, only the tenant’s',
    async () => {
      const seen: string[] = [];
      let cursor: string | null = '';
      let pages = 0;
      while (cursor !== null) {
        const { status, body } = await get(`/tasks?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        assert.is(status, 200);
        const b = body as { tasks: Array<{ id: string; statusAt: string }>; nextCursor: string | null };
        seen.push(...b.tasks.map((t) => t.id));
        cursor = b.nextCursor;
        if (++pages > 10) break;
      }
      assert.is(new Set(seen).size, seen.length, 'no task twice');
      assert.equal([...seen].sort(), [...ids].sort(), 'every task of the tenant, none of another');
    },
  );

  s('filters: state, text, time range, agent', async () => {
    const done = await get('/tasks?state=completed');
    assert.is((done.body as { tasks: unknown[] }).tasks.length, 7);
    const long = await get('/tasks?state=TASK_STATE_COMPLETED&limit=200');
    assert.is((long.body as { tasks: unknown[] }).tasks.length, 7);
    assert.is((await get('/tasks?state=working')).body.tasks.length, 0);
    const zebra1 = (await get('/tasks?text=ZEBRA-1')).body as { tasks: Array<{ id: string }> };
    assert.equal(zebra1.tasks.map((t) => t.id).sort(), [ids[1], ids[3], ids[5]].sort());
    // LIKE wildcards in the words are literal.
    assert.is((await get('/tasks?text=%25%25')).body.tasks.length, 0);
    const all = (await get('/tasks')).body as {
      tasks: Array<{ id: string; statusAt: string; agent: string }>;
    };
    const middle = all.tasks[3]!.statusAt;
    const after = (await get(`/tasks?from=${encodeURIComponent(middle)}`)).body as { tasks: unknown[] };
    const before = (await get(`/tasks?to=${encodeURIComponent(middle)}`)).body as { tasks: unknown[] };
    assert.is(after.tasks.length + before.tasks.length, 7, 'from is inclusive, to exclusive');
    const echo = all.tasks.find((t) => t.id === ids[0])!.agent;
    assert.ok(echo, 'a task sent to an agent names it');
    const byAgent = (await get(`/tasks?agent=${encodeURIComponent(echo)}`)).body as {
      tasks: Array<{ id: string }>;
    };
    assert.equal(byAgent.tasks.map((t) => t.id).sort(), [ids[0], ids[1]].sort());
    assert.is((await get('/tasks?agent=nobody')).body.tasks.length, 0);
  });

  s('one task with an ETag; If-None-Match answers 304; another tenant’s task is 404', async () => {
    const one = await get(`/tasks/${ids[0]}`);
    assert.is(one.status, 200);
    assert.is((one.body as { task: { id: string } }).task.id, ids[0]);
    assert.ok(one.etag);
    assert.is((await get(`/tasks/${ids[0]}`, hub.apiKey, { 'If-None-Match': one.etag! })).status, 304);
    assert.is((await get(`/tasks/${ids[0]}`, otherKey)).status, 404);
    assert.is((await get(`/tasks/${randomUUID()}`)).status, 404);
  });

  s('bad input is a 400 naming the parameter; no key is 401 first', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/tasks?state=done', /state: must be one of/],
      ['/tasks?limit=0', /limit: must be at least 1/],
      ['/tasks?limit=1e9', /limit/],
      ['/tasks?cursor=garbage', /cursor: is not a cursor this API gave/],
      [`/tasks?cursor=${Buffer.from('["x","y"]').toString('base64url')}`, /cursor/],
      ['/tasks?from=yesterday', /from: must be an ISO 8601 instant/],
      ['/tasks?from=2026-12-08T00:00:00Z&to=2026-12-07T00:00:00Z', /from must be before to/],
      ['/tasks?stat=completed', /unknown parameter stat/],
      ['/tasks?text=a', /text: at least 2 characters/],
      ['/workflow-runs?status=sleeping', /status: must be one of running/],
      ['/workflow-runs?sort=asc', /unknown parameter sort/],
    ];
    for (const [path, message] of cases) {
      const r = await get(path);
      assert.is(r.status, 400, path);
      assert.match((r.body as { error: { message: string } }).error.message, message, path);
    }
    assert.is((await fetch(`${hub.url}/api/tasks?limit=0`)).status, 401);
  });

  s('workflow runs: listed with status and step counts, filtered, paged; one run with an ETag', async () => {
    const admin = (path: string, body?: unknown) =>
      fetch(`${hub.url}/api/admin${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'X-API-Key': hub.apiKey, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const defined = await admin('/workflows', {
      name: 'pair',
      start: 'a',
      nodes: {
        a: { kind: 'task', agent: 'echo', input: 'a {{input}}', next: 'b' },
        b: { kind: 'task', agent: 'echo', input: '{{steps.a.output}} b' },
      },
    });
    assert.ok(defined.status < 300);
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++)
      runIds.push(
        ((await (await admin('/workflows/pair/runs', { input: `r${i}` })).json()) as { runId: string }).runId,
      );
    const listed = await waitFor('the runs to complete in the read model', async () => {
      const b = (await get('/workflow-runs?workflow=pair&status=completed')).body as {
        runs: Array<{ id: string; steps: { completed: number }; endedAt: string | null }>;
      };
      return b.runs.length === 3 ? b.runs : null;
    });
    assert.equal(listed.map((r) => r.id).sort(), [...runIds].sort());
    assert.ok(listed.every((r) => r.steps.completed === 2 && r.endedAt !== null));
    const first = (await get('/workflow-runs?limit=2')).body as { runs: unknown[]; nextCursor: string };
    assert.is(first.runs.length, 2);
    const second = (await get(`/workflow-runs?limit=2&cursor=${first.nextCursor}`)).body as {
      runs: unknown[];
    };
    assert.is(second.runs.length, 1);
    assert.is((await get('/workflow-runs', otherKey)).body.runs.length, 0);
    const run = await get(`/workflow-runs/${runIds[0]}`);
    assert.is((run.body as { status: string }).status, 'completed');
    assert.is(
      (await get(`/workflow-runs/${runIds[0]}`, hub.apiKey, { 'If-None-Match': run.etag! })).status,
      304,
    );
    assert.is((await get(`/workflow-runs/${runIds[0]}`, otherKey)).status, 404);
  });

  s('the workflow runs read model rebuilt from the log equals the live one', async () => {
    const { db, store } = hub.runtime;
    const dump = () => db.query('SELECT * FROM rm_workflow_runs ORDER BY id');
    const live = await dump();
    assert.ok(live.length >= 3);
    await rebuild(db, store, workflowRunsProjection);
    assert.equal(await dump(), live);
  });

  s.run();
}
