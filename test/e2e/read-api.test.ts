import { randomUUID } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startHub, type TestHub } from '../support/hub.ts';
import { readSse } from '../support/sse.ts';

let hub: TestHub;
let otherKey: string;

const append = (tenant: string, stream: string, n: number) =>
  hub.runtime.store.append(
    stream,
    Array.from({ length: n }, (_, i) => ({
      id: randomUUID(),
      type: 'IntegrationProbed',
      data: { i },
      metadata: { tenant, principal: 'test', correlationId: 'c', causationId: null },
    })),
  );

/** Reads SSE events until `count` arrived (then drops the connection). */
const take = async (path: string, key: string, count: number, headers: Record<string, string> = {}) => {
  const response = await fetch(`${hub.url}${path}`, { headers: { 'X-API-Key': key, ...headers } });
  assert.is(response.status, 200);
  const events: Array<{
    id?: string;
    data: { stream: string; metadata: { tenant: string }; position: number };
  }> = [];
  for await (const e of readSse(response)) {
    events.push(e as (typeof events)[number]);
    if (events.length >= count) break;
  }
  return events;
};

test.before(async () => {
  hub = await startHub('embedded');
  otherKey = await hub.addTenant('other');
});
test.after(async () => hub.stop());

test('a tenant sees only its own events, catch-up then live, positions as SSE ids', async () => {
  await append('default', 'probe-mine', 3);
  await append('other', 'probe-theirs', 3);
  const pending = take('/api/events?streamPrefix=probe-', hub.apiKey, 5);
  setTimeout(() => void append('default', 'probe-mine-live', 2), 200);
  const events = await pending;
  assert.ok(events.every((e) => e.data.metadata.tenant === 'default'));
  assert.equal(
    events.map((e) => e.data.stream),
    ['probe-mine', 'probe-mine', 'probe-mine', 'probe-mine-live', 'probe-mine-live'],
  );
  assert.equal(
    events.map((e) => Number(e.id)),
    events.map((e) => e.data.position),
  );
  const theirs = await take('/api/events?streamPrefix=probe-', otherKey, 3);
  assert.ok(theirs.every((e) => e.data.stream === 'probe-theirs'));
});

test('Last-Event-ID resumes after the last event seen', async () => {
  const all = await take('/api/events?streamPrefix=probe-mine', hub.apiKey, 5);
  const resumed = await take('/api/events?streamPrefix=probe-mine', hub.apiKey, 2, {
    'Last-Event-ID': all[2]!.id!,
  });
  assert.equal(
    resumed.map((e) => e.id),
    all.slice(3).map((e) => e.id),
  );
});

test('no key is 401; a bad position is 400 with a readable message', async () => {
  assert.is((await fetch(`${hub.url}/api/events`)).status, 401);
  const bad = await fetch(`${hub.url}/api/events?after=-3`, { headers: { 'X-API-Key': hub.apiKey } });
  assert.is(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /after/);
});

test.run();
