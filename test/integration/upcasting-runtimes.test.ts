/**
 * Events an older build wrote, read by this one, on both runtimes. A TaskSubmitted of schema v1 (an early
 * flat shape: `text`, no message) is written straight into the log before the hub starts; the hub runs
 * with an upcaster v1 -> v2 and must read it at v2 on every path: the store's reads, the bus delivery that
 * makes the worker run it, the projections' catch-up (GetTask shows it), and `/api/events`. New events are
 * written at the current version.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { NewEvent } from '../../events/envelope.ts';
import { taskStream } from '../../events/task.ts';
import { schemaRegistry } from '../../events/upcasting.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { type RuntimeKind, runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { DATABASE_URL, uniqueName } from '../support/services.ts';
import { readSse, rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('events of an old schema version');

/** v1 of TaskSubmitted held the text alone; v2 (today's shape) holds the user's message. */
const schemas = schemaRegistry({
  TaskSubmitted: {
    1: (v1) => {
      const { text, ...rest } = v1 as { text: string; taskId: string };
      return { ...rest, message: { messageId: `${rest.taskId}-m`, role: 'ROLE_USER', parts: [{ text }] } };
    },
  },
});

const oldSubmission = (taskId: string): NewEvent => ({
  id: randomUUID(),
  type: 'TaskSubmitted',
  schemaVersion: 1,
  data: {
    taskId,
    contextId: randomUUID(),
    agent: 'echo',
    text: 'written by an older build',
    at: new Date().toISOString(),
  },
  metadata: { tenant: 'default', principal: 'old-build', correlationId: taskId, causationId: null },
});

/** Writes into the log the way the older build did, with nothing of this build running. */
const writeBeforeStart = async (
  kind: RuntimeKind,
  event: NewEvent,
): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }> => {
  const write = async (store: EventStore) => {
    await store.append(taskStream((event.data as { taskId: string }).taskId), [event], {
      expectedRevision: 'no_stream',
    });
    await store.close();
  };
  if (kind === 'embedded') {
    const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-upcast-'));
    const db = await PGlite.create(join(dir, 'pglite'));
    await write(await createPgliteEventStore({ db }));
    await db.close();
    return {
      env: { AGENTCORE_DATA_DIR: dir },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = uniqueName('upcast');
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {}, connection: { search_path: schema } });
  await sql.unsafe(`CREATE SCHEMA ${schema}`);
  await write(await createPostgresEventStore({ sql, schema }));
  return {
    env: { AGENTCORE_PG_SCHEMA: schema },
    cleanup: async () => {
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
    },
  };
};

for (const kind of kinds) {
  const test = suite(`old event versions (${kind})`);
  const taskId = randomUUID();
  let hub: TestHub;
  let cleanup: () => Promise<void>;

  test.before(async () => {
    const written = await writeBeforeStart(kind, oldSubmission(taskId));
    cleanup = written.cleanup;
    hub = await startHub(kind, { env: written.env, overrides: { schemas } });
  });
  test.after(async () => {
    await hub?.stop();
    await cleanup?.();
  });

  test('the store reads the v1 event at v2, in the shape this build knows', async () => {
    const [submitted] = await hub.runtime.store.readStream(taskStream(taskId));
    assert.is(submitted!.schemaVersion, 2);
    const data = submitted!.data as { message: { role: string; parts: unknown[] }; text?: string };
    assert.equal(data.message.parts, [{ text: 'written by an older build' }]);
    assert.is(data.message.role, 'ROLE_USER');
    assert.is(data.text, undefined);
    const all = await hub.runtime.store.readAll({ filter: { streamPrefix: taskStream(taskId) } });
    assert.is(all[0]!.schemaVersion, 2);
  });

  test('the worker got it at v2 off the bus, and the projection built the task from it', async () => {
    const task = await waitFor('the old task completed', async () => {
      const body = (await (await rpc(hub.url, hub.apiKey, 'GetTask', { id: taskId })).json()) as {
        result?: {
          status: { state: string; message?: { parts: Array<{ text?: string }> } };
          history?: unknown[];
        };
      };
      return body.result?.status.state === 'TASK_STATE_COMPLETED' ? body.result : null;
    });
    const reply = JSON.stringify(task);
    // The echo agent answers with the text it was given: it could only read it from the v2 message.
    assert.match(reply, /written by an older build/);
    assert.match(JSON.stringify(task.history), /written by an older build/);
  });

  test('/api/events serves it at v2', async () => {
    const response = await fetch(`${hub.url}/api/events?streamPrefix=${taskStream(taskId)}`, {
      headers: { 'X-API-Key': hub.apiKey },
    });
    assert.is(response.status, 200);
    let first: { type: string; schemaVersion: number; data: { message?: unknown } } | undefined;
    for await (const e of readSse(response)) {
      first = e.data as typeof first;
      break;
    }
    assert.is(first!.type, 'TaskSubmitted');
    assert.is(first!.schemaVersion, 2);
    assert.ok(first!.data.message, 'the message the upcaster made');
  });

  test('new events are written at the current version', async () => {
    const sent = (await (
      await rpc(hub.url, hub.apiKey, 'SendMessage', {
        message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'new' }] },
        metadata: {},
      })
    ).json()) as { result: { task: { id: string } } };
    const events = await hub.runtime.store.readStream(taskStream(sent.result.task.id));
    const submitted = events.find((e) => e.type === 'TaskSubmitted')!;
    assert.is(submitted.schemaVersion, 2);
    assert.ok(events.filter((e) => e.type !== 'TaskSubmitted').every((e) => e.schemaVersion === 1));
  });

  test.run();
}
