/**
 * The tasks read model kept inline: written in the append's own transaction, batch by batch (group
 * commit), on PGlite and PostgreSQL. No projection runner runs in these tests: whatever rm_tasks shows, the
 * append put there.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fold, handle } from '../../commands/handle.ts';
import { type TaskAggregate, type TaskCommand, taskDecider } from '../../commands/task.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type TaskEvent, taskStream } from '../../events/task.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { ConcurrencyError, type EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import type { InlineProjection } from '../../infra/event-store/sql.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { inlineProjection, migrateProjection, rebuild } from '../../projections/runner.ts';
import { tasksProjection } from '../../projections/tasks.ts';
import { DATABASE_URL, requireService, uniqueName } from '../support/services.ts';
import { visibleInLog } from '../support/wait.ts';

interface Fixture {
  store: EventStore;
  db: SqlDatabase;
  cleanup(): Promise<void>;
}
type Make = (inline: InlineProjection[]) => Promise<Fixture>;

const ctx = { tenant: 'acme', principal: 'user:alice' };
const at = () => new Date().toISOString();
const submit = (taskId: string): TaskCommand => ({
  type: 'SubmitTask',
  taskId,
  contextId: `ctx-${taskId}`,
  message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: `hello ${taskId}` }] },
  agent: 'echo',
  at: at(),
});
const run = (store: EventStore, taskId: string, command: TaskCommand) =>
  handle(store, taskStream(taskId), command, taskDecider, ctx);

/** One task's whole life, its commands issued one after another (each append batched with the others'). */
const life = async (store: EventStore, taskId: string) => {
  await run(store, taskId, submit(taskId));
  await run(store, taskId, { type: 'StartWork', at: at() });
  await run(store, taskId, {
    type: 'UpdateArtifact',
    artifact: { artifactId: 'a1', parts: [{ text: 'part 1' }] },
    append: false,
    lastChunk: false,
    at: at(),
  });
  await run(store, taskId, {
    type: 'UpdateArtifact',
    artifact: { artifactId: 'a1', parts: [{ text: 'part 2' }] },
    append: true,
    lastChunk: true,
    at: at(),
  });
  await run(store, taskId, { type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: at() });
};

const rows = (db: SqlDatabase) =>
  db.query<{ id: string; state: string; revision: number; task: unknown }>(
    'SELECT id, state, revision, task FROM rm_tasks ORDER BY id',
  );

const folded = async (store: EventStore, taskId: string) =>
  fold<TaskAggregate, TaskEvent>(taskDecider, await store.readStream(taskStream(taskId)));

const visible = (store: EventStore, count: number) => visibleInLog(store, 'task-', count);

const inlineSuite = (name: string, available: boolean, make: Make) => {
  const s = suite(`inline tasks projection on ${name}`);
  if (!available) {
    s.skip('inline projection tests (service unreachable)', () => {});
    return s.run();
  }

  s('every append shows in rm_tasks when it returns, for 40 tasks written at once', async () => {
    const f = await make([inlineProjection(tasksProjection)]);
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `t${String(i).padStart(2, '0')}-${randomUUID()}`);
      await Promise.all(
        ids.map(async (id) => {
          await run(f.store, id, submit(id));
          // No runner: the row is there because the append wrote it.
          const [row] = await f.db.query<{ state: string; revision: number }>(
            'SELECT state, revision FROM rm_tasks WHERE id = $1',
            [id],
          );
          assert.is(row?.state, 'TASK_STATE_SUBMITTED');
          assert.is(Number(row?.revision), 0);
        }),
      );
      await Promise.all(ids.slice(0, 20).map((id) => life(f.store, `${id}-life`)));
      const stored = new Map((await rows(f.db)).map((r) => [r.id, r]));
      for (const id of ids.slice(0, 20).map((x) => `${x}-life`)) {
        const state = await folded(f.store, id);
        assert.equal(stored.get(id)?.task, JSON.parse(JSON.stringify(state.task)), `row of ${id}`);
        assert.is(Number(stored.get(id)?.revision), 4);
        assert.is(stored.get(id)?.state, 'TASK_STATE_COMPLETED');
      }
    } finally {
      await f.cleanup();
    }
  });

  s(
    'an append refused in a batch leaves its row as it was; the others in the batch are written',
    async () => {
      const f = await make([inlineProjection(tasksProjection)]);
      try {
        const ids = Array.from({ length: 6 }, () => randomUUID());
        await Promise.all(ids.map((id) => run(f.store, id, submit(id))));
        const before = new Map((await rows(f.db)).map((r) => [r.id, r]));
        const working = (id: string, expectedRevision: number) =>
          f.store.append(
            taskStream(id),
            [
              {
                id: randomUUID(),
                type: 'TaskStatusUpdated',
                data: { state: 'TASK_STATE_WORKING', at: at() },
                metadata: { ...ctx, correlationId: 'c', causationId: null },
              },
            ],
            { expectedRevision },
          );
        // In one tick: one batch. Odd ones carry a stale expected revision.
        const settled = await Promise.allSettled(ids.map((id, i) => working(id, i % 2 ? 5 : 0)));
        const after = new Map((await rows(f.db)).map((r) => [r.id, r]));
        for (const [i, id] of ids.entries()) {
          if (i % 2) {
            assert.is(settled[i]!.status, 'rejected');
            assert.instance((settled[i] as PromiseRejectedResult).reason, ConcurrencyError);
            assert.equal(after.get(id), before.get(id), 'a refused append changed nothing');
          } else {
            assert.is(settled[i]!.status, 'fulfilled');
            assert.is(after.get(id)?.state, 'TASK_STATE_WORKING');
            assert.is(Number(after.get(id)?.revision), 1);
          }
        }
      } finally {
        await f.cleanup();
      }
    },
  );

  s('a read model that cannot take the events rolls their append back, and only theirs', async () => {
    const failing = randomUUID();
    const guard: InlineProjection = {
      name: 'guard',
      filter: { streamPrefix: 'task-' },
      applyBatch: async (events: RecordedEvent[]) => {
        if (events.some((e) => e.stream === taskStream(failing)))
          throw new Error('refused by the read model');
      },
    };
    const f = await make([inlineProjection(tasksProjection), guard]);
    try {
      const others = Array.from({ length: 5 }, () => randomUUID());
      const settled = await Promise.allSettled(
        [failing, ...others].map((id) => run(f.store, id, submit(id))),
      );
      assert.is(settled[0]!.status, 'rejected');
      assert.match(String((settled[0] as PromiseRejectedResult).reason), /refused by the read model/);
      assert.equal(await f.store.readStream(taskStream(failing)), [], 'no event without its read model');
      const stored = new Set((await rows(f.db)).map((r) => r.id));
      assert.not.ok(stored.has(failing), 'no read model without its events');
      for (const [i, id] of others.entries()) {
        assert.is(settled[i + 1]!.status, 'fulfilled', `task ${i} was written`);
        assert.ok(stored.has(id));
        assert.is((await f.store.readStream(taskStream(id))).length, 1);
      }
    } finally {
      await f.cleanup();
    }
  });

  s('the inline read model equals a rebuild from the log', async () => {
    const f = await make([inlineProjection(tasksProjection)]);
    try {
      const ids = Array.from({ length: 15 }, () => randomUUID());
      await Promise.all(ids.map((id) => life(f.store, id)));
      const live = await rows(f.db);
      assert.is(live.length, 15);
      await visible(f.store, 15 * 5);
      assert.is(await rebuild(f.db, f.store, tasksProjection), 15 * 5);
      assert.equal(await rows(f.db), live);
    } finally {
      await f.cleanup();
    }
  });

  s.run();
};

const pgUp = await requireService('postgres');

inlineSuite('PGlite', true, async (inline) => {
  const pglite = await PGlite.create();
  const db = pgliteDatabase(pglite);
  await migrateProjection(db, tasksProjection);
  const store = await createPgliteEventStore({ db: pglite, inline });
  return {
    store,
    db,
    cleanup: async () => {
      await store.close();
      await pglite.close();
    },
  };
});

inlineSuite('PostgreSQL', pgUp, async (inline) => {
  const schema = uniqueName('inline');
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const sql = postgres(DATABASE_URL, { max: 6, onnotice: () => {}, connection: { search_path: schema } });
  const db = postgresDatabase(sql);
  await migrateProjection(db, tasksProjection);
  const store = await createPostgresEventStore({ sql, schema, inline });
  return {
    store,
    db,
    cleanup: async () => {
      await store.close();
      await sql.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
});
