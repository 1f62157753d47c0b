/**
 * Starting workflow runs as a hostile (or merely retrying) client would, on both runtimes: another tenant's
 * run id is refused with a 409 and changes nothing of that run; the same start again is the same run, a
 * different one under the same id a 409; 20 concurrent identical starts (same run id, or same
 * Idempotency-Key, whose run id is derived from the key, so it holds after the key's answer is forgotten)
 * make one run and get one answer; node ids and workflow names that are names of
 * Object.prototype are ordinary ids, and `__proto__` is refused by name.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runStream } from '../../events/workflow.ts';
import { readWorkflowRun, startWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('workflow runs');
const greet = (name: string) => ({
  name,
  start: 'hello',
  nodes: {
    hello: { kind: 'task', agent: 'echo', input: 'hello {{input}}', next: 'bye' },
    bye: { kind: 'task', agent: 'echo', input: '{{steps.hello.output}}, bye' },
  },
});
type Answer = { status: number; body: { runId?: string; version?: number; error?: { message: string } } };

for (const kind of kinds) {
  const s = suite(`workflow runs (${kind})`);
  let hub: TestHub;
  let otherKey: string;
  const api = async (
    path: string,
    init: { body?: unknown; raw?: string; key?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> => {
    const hasBody = init.body !== undefined || init.raw !== undefined;
    const res = await fetch(`${hub.url}/api/admin${path}`, {
      method: hasBody ? 'POST' : 'GET',
      headers: { 'X-API-Key': init.key ?? hub.apiKey, 'content-type': 'application/json', ...init.headers },
      ...(hasBody ? { body: init.raw ?? JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  };
  const runStarts = async (runId: string) =>
    (await hub.runtime.store.readStream(runStream(runId))).filter((e) => e.type === 'WorkflowRunStarted');
  const completed = (tenant: string, runId: string) =>
    waitFor(`run ${runId} to complete`, async () => {
      const run = await readWorkflowRun(hub.runtime.store, tenant, runId);
      return run?.status === 'completed' ? run : null;
    });

  s.before(async () => {
    // The Idempotency-Key middleware forgets answers after a second: the run id must not depend on it.
    hub = await startHub(kind, { env: { AGENTCORE_IDEMPOTENCY_TTL_S: '1' } });
    otherKey = await hub.addTenant('runs-other');
    assert.is((await api('/workflows', { body: greet('greet') })).status, 201);
    assert.is((await api('/workflows', { body: greet('greet'), key: otherKey })).status, 201);
  });
  s.after(async () => hub?.stop());

  s("another tenant's run id is a 409 and leaves that run as it was", async () => {
    const runId = crypto.randomUUID();
    const mine = await api('/workflows/greet/runs', { body: { input: 'Ada', runId } });
    assert.equal(mine, { status: 202, body: { runId, version: 1 } });
    await completed('default', runId);
    const before = await hub.runtime.store.readStream(runStream(runId));

    // Before: 202 and nothing happened, the other tenant believing it had a run.
    const theirs = await api('/workflows/greet/runs', { body: { input: 'Ada', runId }, key: otherKey });
    assert.is(theirs.status, 409);
    assert.match(theirs.body.error!.message, new RegExp(`run id ${runId} is already taken: choose another`));
    assert.not.match(theirs.body.error!.message, /default/, 'the owner is not named');
    assert.is((await api(`/workflow-runs/${runId}`, { key: otherKey })).status, 404);
    assert.equal(await hub.runtime.store.readStream(runStream(runId)), before);
  });

  s('the same start again is the same run; another input under its id is a 409', async () => {
    const runId = crypto.randomUUID();
    const first = await api('/workflows/greet/runs', { body: { input: 'Bo', runId } });
    assert.equal(first, { status: 202, body: { runId, version: 1 } });
    // A new version meanwhile: the retry still answers with the version its run has.
    const v2 = greet('greet');
    v2.nodes.bye.input = '{{steps.hello.output}}, see you';
    assert.is((await api('/workflows', { body: v2 })).status, 201);
    const again = await api('/workflows/greet/runs', { body: { input: 'Bo', runId } });
    assert.equal(again, first);
    const other = await api('/workflows/greet/runs', { body: { input: 'Cy', runId } });
    assert.is(other.status, 409);
    assert.match(other.body.error!.message, /was started with another input/);
    assert.is((await runStarts(runId)).length, 1);
    assert.is((await completed('default', runId)).output, 'hello Bo, bye');
  });

  s('20 concurrent identical starts with one run id make one run, and all get its answer', async () => {
    const runId = crypto.randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => api('/workflows/greet/runs', { body: { input: 'Di', runId } })),
    );
    for (const a of answers) assert.equal(a, { status: 202, body: { runId, version: 2 } });
    assert.is((await runStarts(runId)).length, 1);
    assert.is((await completed('default', runId)).output, 'hello Di, see you');
  });

  s(
    '20 concurrent identical starts under one Idempotency-Key make one run, and all get its answer',
    async () => {
      const headers = { 'Idempotency-Key': `start-${crypto.randomUUID()}` };
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => api('/workflows/greet/runs', { body: { input: 'Ed' }, headers })),
      );
      const runId = answers[0]!.body.runId!;
      for (const a of answers) assert.equal(a, { status: 202, body: { runId, version: 2 } });
      assert.is((await runStarts(runId)).length, 1);
      // The key names the run itself (not only an answer kept for a while): a later retry finds it too.
      const later = await api('/workflows/greet/runs', { body: { input: 'Ed' }, headers });
      assert.equal(later.body, { runId, version: 2 });
    },
  );

  s(
    'a retry under the same Idempotency-Key after its answer was forgotten is still the same run',
    async () => {
      const headers = { 'Idempotency-Key': `late-${crypto.randomUUID()}` };
      const first = await api('/workflows/greet/runs', { body: { input: 'Gus' }, headers });
      assert.is(first.status, 202);
      await new Promise((r) => setTimeout(r, 2100));
      // Before: the middleware had forgotten the key, and a second run started under a new id.
      const late = await fetch(`${hub.url}/api/admin/workflows/greet/runs`, {
        method: 'POST',
        headers: { 'X-API-Key': hub.apiKey, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ input: 'Gus' }),
      });
      assert.is(late.headers.get('idempotent-replayed'), null, 'the middleware had forgotten the answer');
      assert.equal({ status: late.status, body: await late.json() }, first);
      assert.is((await runStarts(first.body.runId!)).length, 1);
      // Another tenant's same key is another run of its own.
      const theirs = await api('/workflows/greet/runs', { body: { input: 'Gus' }, headers, key: otherKey });
      assert.is(theirs.status, 202);
      assert.is.not(theirs.body.runId, first.body.runId);
    },
  );

  s('20 concurrent starts of one run through the service (no HTTP layer in front) make one run', async () => {
    const runId = crypto.randomUUID();
    const caller = { tenant: 'default', principal: 'test:concurrent' };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        startWorkflowRun(hub.runtime.store, caller, 'greet', 'Flo', { runId }),
      ),
    );
    for (const r of results) assert.equal(r, { status: 'fulfilled', value: { runId, version: 2 } });
    assert.is((await runStarts(runId)).length, 1);
  });

  s('a node and a workflow named constructor work like any other; __proto__ is refused by name', async () => {
    const definition = {
      name: 'constructor',
      start: 'constructor',
      nodes: {
        constructor: { kind: 'task', agent: 'echo', input: '{{input}}', next: 'tostring' },
        tostring: {
          kind: 'task',
          agent: 'echo',
          input: '{{steps.constructor.output}}+{{steps.__proto__.output}}',
        },
      },
    };
    const defined = await api('/workflows', { body: definition });
    assert.equal(defined, { status: 201, body: { name: 'constructor', version: 1 } });
    const started = await api('/workflows/constructor/runs', { body: { input: 'x' } });
    assert.is(started.status, 202);
    const run = await completed('default', started.body.runId!);
    assert.is(run.output, 'x+');
    assert.equal(run.completed, ['constructor', 'tostring']);

    const proto =
      '{"name":"proto","start":"a","nodes":{"a":{"kind":"task","agent":"echo","input":"x"},"__proto__":{"kind":"task","agent":"echo","input":"y"}}}';
    const refused = await api('/workflows', { raw: proto });
    assert.is(refused.status, 400);
    assert.match(refused.body.error!.message, /nodes\.__proto__: node id "__proto__"/);
    const dangling = await api('/workflows', {
      body: {
        name: 'dangling',
        start: 'a',
        nodes: { a: { kind: 'task', agent: 'echo', input: 'x', next: 'constructor' } },
      },
    });
    assert.is(dangling.status, 400);
    assert.match(dangling.body.error!.message, /node "a" leads to "constructor", which is not defined/);
    for (const name of ['__proto__', 'hasOwnProperty', 'prototype'])
      assert.is((await api(`/workflows/${name}`)).status, 404, name);
  });

  s.run();
}
