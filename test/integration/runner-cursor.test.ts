/**
 * The projection runner's read cursor: a projection whose events are rare reads the log from its last
 * event once, then from the head it has looked past, not the whole log after its checkpoint on every look;
 * its later events still arrive. On PGlite in process and on PostgreSQL when it answers.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EventStore, ReadAllOptions } from '../../infra/event-store/port.ts';
import type { Projection } from '../../projections/projection.ts';
import { migrateProjection, runProjections } from '../../projections/runner.ts';
import { type ProjectionFixture, pgliteFixture, postgresFixture } from '../support/projection-fixture.ts';
import { requireService } from '../support/services.ts';

const append = (store: EventStore, stream: string, type: string, n = 1) =>
  store.append(
    stream,
    Array.from({ length: n }, () => ({
      id: randomUUID(),
      type,
      data: {},
      metadata: { tenant: 'acme', principal: 'test', correlationId: stream, causationId: null },
    })),
  );

const rare: Projection = {
  name: 'rare',
  tables: ['rare_seen'],
  filter: { streamPrefix: 'rare-' },
  migrations: ['CREATE TABLE rare_seen (position bigint PRIMARY KEY)'],
  async apply(event, tx) {
    await tx.query('INSERT INTO rare_seen (position) VALUES ($1)', [event.position]);
  },
};

const cursorSuite = (name: string, enabled: boolean, make: () => Promise<ProjectionFixture>) => {
  const s = suite(`projection runner cursor on ${name}`);
  if (!enabled) {
    s.skip('PostgreSQL unreachable', () => {});
    return s.run();
  }
  s('a rare projection looks past the head once, then reads only what follows it', async () => {
    const f = await make();
    const reads: number[] = [];
    const store: EventStore = Object.create(f.store);
    store.readAll = (o: ReadAllOptions = {}) => {
      reads.push(o.after ?? 0);
      return f.store.readAll(o);
    };
    store.head = () => f.store.head!();
    let running: { stop(): Promise<void> } | undefined;
    try {
      await migrateProjection(f.db, rare);
      await append(f.store, 'rare-1', 'Rare');
      await append(f.store, 'task-1', 'Noise', 200);
      running = runProjections(f.db, store, [rare], { pollMs: 10 });
      const seen = async (n: number) => {
        for (let i = 0; i < 500; i++) {
          const rows = await f.db.query('SELECT 1 FROM rare_seen');
          if (rows.length >= n) return;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`the projection saw fewer than ${n} events`);
      };
      await seen(1);
      await new Promise((r) => setTimeout(r, 200)); // several idle looks
      const head = await f.store.head!();
      const [firstRare] = await f.store.readAll({ filter: { streamPrefix: 'rare-' } });
      const idle = reads.slice(3);
      assert.ok(idle.length >= 5, `${idle.length} idle looks`);
      // After the first idle look, every look starts at the head, not at the rare event.
      assert.ok(
        idle.every((after) => after === head),
        `reads after ${JSON.stringify(idle)}; rare ${firstRare!.position}, head ${head}`,
      );
      await append(f.store, 'task-2', 'Noise', 50);
      await append(f.store, 'rare-2', 'Rare');
      await seen(2);
      await running.stop();
      running = undefined;
      const rows = await f.db.query<{ position: string }>('SELECT position FROM rare_seen ORDER BY position');
      const all = await f.store.readAll({ filter: { streamPrefix: 'rare-' } });
      assert.equal(
        rows.map((r) => Number(r.position)),
        all.map((e) => e.position),
      );
    } finally {
      await running?.stop(); // a failed assertion must not leave the loop reading a closed database
      await f.cleanup();
    }
  });
  return s.run();
};

const pgUp = await requireService('postgres');
cursorSuite('PGlite', true, pgliteFixture);
cursorSuite('PostgreSQL', pgUp, () => postgresFixture('cur'));
