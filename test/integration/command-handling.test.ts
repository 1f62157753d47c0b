import { PGlite } from '@electric-sql/pglite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError } from '../../commands/errors.ts';
import { type Decider, handle } from '../../commands/handle.ts';
import { tenantDecider } from '../../commands/tenant.ts';
import { tenantStream } from '../../events/tenant.ts';
import { schemaRegistry } from '../../events/upcasting.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { observeAppends } from '../../infra/observe.ts';

const ctx = { tenant: 'acme', principal: 'user:ann' };
const hash = (c: string) => c.repeat(64);
let store: EventStore;
let db: PGlite;

test.before(async () => {
  db = await PGlite.create();
  store = await createPgliteEventStore({ db });
});
test.after(async () => {
  await store.close();
  await db.close();
});

test('handle loads, decides, appends with metadata, and returns the new state', async () => {
  const stream = tenantStream('acme');
  const r = await handle(
    store,
    stream,
    { type: 'RegisterTenant', tenantId: 'acme', name: 'Acme' },
    tenantDecider,
    {
      ...ctx,
      correlationId: 'corr-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    },
  );
  assert.is(r.state.id, 'acme');
  assert.is(r.nextExpectedRevision, 0);
  const [stored] = await store.readStream(stream);
  assert.is(stored!.type, 'TenantRegistered');
  assert.is(stored!.metadata.tenant, 'acme');
  assert.is(stored!.metadata.principal, 'user:ann');
  assert.is(stored!.metadata.correlationId, 'corr-1');
  assert.is(stored!.metadata.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.ok(stored!.metadata.causationId, 'the command id is the causation id');
});

test('a command retried with the same id is not decided twice', async () => {
  const stream = tenantStream('idem');
  await handle(store, stream, { type: 'RegisterTenant', tenantId: 'idem', name: 'I' }, tenantDecider, ctx);
  const issue = { type: 'IssueApiKey' as const, keyId: 'k', keyHash: hash('b'), label: '', actsFor: [] };
  const first = await handle(store, stream, issue, tenantDecider, { ...ctx, commandId: 'cmd-42' });
  const again = await handle(store, stream, issue, tenantDecider, { ...ctx, commandId: 'cmd-42' });
  assert.is(again.replayed, true);
  assert.equal(
    again.events.map((e) => e.id),
    first.events.map((e) => e.id),
  );
  assert.is((await store.readStream(stream)).length, 2);
});

test('rule violations surface as typed errors and write nothing', async () => {
  const stream = tenantStream('dup');
  await handle(store, stream, { type: 'RegisterTenant', tenantId: 'dup', name: 'D' }, tenantDecider, ctx);
  try {
    await handle(store, stream, { type: 'RegisterTenant', tenantId: 'dup', name: 'D' }, tenantDecider, ctx);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, CommandError);
    assert.is((error as CommandError).kind, 'rule_violated');
  }
  assert.is((await store.readStream(stream)).length, 1);
});

test('concurrent commands on one stream retry on conflict; none is lost', async () => {
  const stream = tenantStream('busy');
  await handle(store, stream, { type: 'RegisterTenant', tenantId: 'busy', name: 'B' }, tenantDecider, ctx);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      handle(
        store,
        stream,
        { type: 'IssueApiKey', keyId: `k${i}`, keyHash: hash(String(i % 10)), label: '', actsFor: [] },
        tenantDecider,
        ctx,
        { maxRetries: 50 },
      ),
    ),
  );
  const events = await store.readStream(stream);
  assert.is(events.length, 21);
  assert.equal(
    events.map((e) => e.revision),
    [...Array(21).keys()],
  );
});

test('giving up after bounded retries is a conflict error', async () => {
  // A decider whose every decision is overtaken by a competing append.
  let competitor = 0;
  const racing: Decider<{ n: number }, number, { type: 'Counted'; data: { n: number } }> = {
    initialState: () => 0,
    evolve: (s) => s + 1,
    decide: (c) => [{ type: 'Counted', data: c }],
  };
  const stream = 'counter-race';
  const contended: EventStore = {
    ...observeAppends(store).store,
    append: async (s, events, options) => {
      const rival = { ...events[0]!, id: crypto.randomUUID(), data: { competitor: competitor++ } };
      await store.append(s, [{ ...rival, metadata: { ...rival.metadata, causationId: null } }]);
      return store.append(s, events, options);
    },
  };
  try {
    await handle(contended, stream, { n: 1 }, racing, ctx, { maxRetries: 2 });
  } catch (error) {
    assert.is((error as CommandError).kind, 'conflict', String(error));
  }
  assert.is(competitor, 3, 'one first try and two retries, then it gave up');
  assert.is((await store.readStream(stream)).length, 3, 'only the rivals were written');
});

test('events are written with the current schema version and read back through upcasters', async () => {
  const schemas = schemaRegistry({ Counted: { 1: (d) => ({ ...(d as object), unit: 'items' }) } });
  const counter: Decider<{ n: number }, number, { type: 'Counted'; data: { n: number; unit?: string } }> = {
    initialState: () => 0,
    evolve: (s, e) => (e.data.unit === 'items' ? s + e.data.n : Number.NaN),
    decide: (c) => [{ type: 'Counted', data: { n: c.n, unit: 'items' } }],
  };
  const stream = 'counter-upcast';
  await store.append(stream, [
    {
      id: crypto.randomUUID(),
      type: 'Counted',
      data: { n: 2 },
      metadata: { ...ctx, correlationId: 'c', causationId: null },
    },
  ]);
  const r = await handle(store, stream, { n: 3 }, counter, ctx, { schemas });
  assert.is(r.state, 5, 'the v1 event was upcast before evolve');
  const stored = await store.readStream(stream);
  assert.is(stored[1]!.schemaVersion, 2);
});

test.run();
