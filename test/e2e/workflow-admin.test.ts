/**
 * Workflows through the admin API, as an operator with curl would use them (embedded hub): define (with
 * readable refusals), version, start a run, read it; another tenant sees none of it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

let hub: TestHub;
let otherKey: string;
const api = (path: string, init: { method?: string; body?: unknown; key?: string } = {}) =>
  fetch(`${hub.url}/api/admin${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { 'X-API-Key': init.key ?? hub.apiKey, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
const greet = (bye = 'bye') => ({
  name: 'greet',
  start: 'hello',
  nodes: {
    hello: { kind: 'task', agent: 'echo', input: 'hello {{input}}', next: 'bye' },
    bye: { kind: 'task', agent: 'echo', input: `{{steps.hello.output}}, ${bye}` },
  },
});

test.before(async () => {
  hub = await startHub('embedded');
  otherKey = await hub.addTenant('wf-admin-other');
});
test.after(async () => hub?.stop());

test('a definition is checked, stored as a new version only when it changed, and read back', async () => {
  const cyclic = greet();
  (cyclic.nodes.bye as { next?: string }).next = 'hello';
  const refused = await api('/workflows', { body: cyclic });
  assert.is(refused.status, 400);
  assert.match(
    ((await refused.json()) as { error: { message: string } }).error.message,
    /cycle: hello -> bye -> hello/,
  );
  const bad = await api('/workflows', { body: { name: 'Bad Name!', start: 'a', nodes: {} } });
  assert.is(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /workflow names/);

  const first = await api('/workflows', { body: greet() });
  assert.is(first.status, 201);
  assert.equal(await first.json(), { name: 'greet', version: 1 });
  const same = await api('/workflows', { body: greet() });
  assert.is(same.status, 200);
  assert.equal(await same.json(), { name: 'greet', version: 1 });
  const changed = await api('/workflows', { body: greet('see you') });
  assert.equal(await changed.json(), { name: 'greet', version: 2 });
  const read = (await (await api('/workflows/greet')).json()) as {
    version: number;
    definition: { start: string };
  };
  assert.is(read.version, 2);
  assert.is(read.definition.start, 'hello');
  assert.is((await api('/workflows/greet', { key: otherKey })).status, 404);
});

test('a run starts, runs its steps through the hub, and is read back; only by its tenant', async () => {
  const started = await api('/workflows/greet/runs', { body: { input: 'Ada' } });
  assert.is(started.status, 202);
  const { runId, version } = (await started.json()) as { runId: string; version: number };
  assert.is(version, 2);
  assert.is(started.headers.get('location'), `/api/admin/workflow-runs/${runId}`);
  const run = await waitFor('the run to complete', async () => {
    const body = (await (await api(`/workflow-runs/${runId}`)).json()) as { status: string; output: string };
    return body.status === 'completed' ? body : null;
  });
  assert.is(run.output, 'hello Ada, see you');
  assert.is((await api(`/workflow-runs/${runId}`, { key: otherKey })).status, 404);
  assert.is((await api('/workflows/greet/runs', { body: { input: 'x' }, key: otherKey })).status, 404);
  assert.is((await api('/workflows/nope/runs', { body: { input: 'x' } })).status, 404);
  const invalid = await api('/workflows/greet/runs', { body: { input: 42 } });
  assert.is(invalid.status, 400);
  // The same run id again starts nothing new.
  const again = await api('/workflows/greet/runs', { body: { input: 'Ada', runId } });
  assert.equal(await again.json(), { runId, version: 2 });
});

test.run();
