/**
 * The audit read model on PGlite and PostgreSQL: given events, then rows (one per command, accepted or
 * refused, chained per tenant); a command split across batches is one entry; a rebuild equals the live
 * model; a row changed directly in the database is named by verify.
 */

import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { recordRefusal } from '../../commands/audit.ts';
import type { EventMetadata, NewEvent } from '../../events/envelope.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { auditProjection } from '../../projections/audit.ts';
import { chainHash, GENESIS_HASH, verifyChain } from '../../projections/audit-chain.ts';
import { listAuditEntries } from '../../projections/audit-query.ts';
import {
  catchUp,
  migrateProjection,
  projectBatch,
  rebuild,
  runProjections,
} from '../../projections/runner.ts';
import { type ProjectionFixture, pgliteFixture, postgresFixture } from '../support/projection-fixture.ts';
import { requireService } from '../support/services.ts';
import { visibleInLog } from '../support/wait.ts';

/** One command's events, as handle() writes them: a shared causation id and metadata. */
const command = (
  tenant: string,
  types: string[],
  extra: Partial<EventMetadata> = {},
  commandId = randomUUID(),
): NewEvent[] => {
  const metadata: EventMetadata = {
    tenant,
    principal: `apikey:${tenant}/k1`,
    correlationId: commandId,
    causationId: commandId,
    ...extra,
  };
  return types.map((type) => ({ id: randomUUID(), type, data: { n: 1 }, metadata }));
};

/** What the tests compare: every column (a rebuild must give the same chain). */
const dump = (db: SqlDatabase) =>
  db.query(
    `SELECT tenant, seq, id, at, principal, key_id, command_type, command_id, stream, outcome, reason,
            request_id, source, prev_hash, hash FROM rm_audit ORDER BY tenant, seq`,
  );

const auditSuite = (name: string, available: boolean, make: () => Promise<ProjectionFixture>) => {
  const s = suite(`audit projection on ${name}`);
  if (!available) {
    s.skip('audit projection tests (service unreachable)', () => {});
    return s.run();
  }
  let f: ProjectionFixture;
  s.before.each(async () => {
    f = await make();
    await migrateProjection(f.db, auditProjection);
  });
  s.after.each(async () => f.cleanup());

  s('one entry per command, accepted or refused, chained per tenant in log order', async () => {
    const { store, db } = f;
    const meta = { command: 'SubmitTask', requestId: 'req-1', source: '10.0.0.7' };
    await store.append('task-1', command('acme', ['TaskSubmitted', 'TaskRouted'], meta));
    await store.append('task-1', command('acme', ['TaskStatusUpdated'], { principal: 'worker:echo' }));
    await store.append('tenant-beta', command('beta', ['TenantRegistered']));
    await recordRefusal(
      store,
      { tenant: 'acme', principal: 'apikey:acme/k2', requestId: 'req-2', source: '10.0.0.8' },
      {
        command: 'CancelTask',
        stream: 'task-1',
        status: 'FAILED_PRECONDITION',
        reason: 'task 1 is completed',
      },
    );
    await visibleInLog(store, '', 5);
    await catchUp(db, store, auditProjection);

    const acme = await listAuditEntries(db, { tenant: 'acme', limit: 10 });
    assert.equal(
      acme.map((e) => [e.seq, e.commandType, e.outcome, e.stream, e.principal, e.keyId]),
      [
        [3, 'CancelTask', 'refused', 'task-1', 'apikey:acme/k2', 'k2'],
        [2, 'TaskStatusUpdated', 'accepted', 'task-1', 'worker:echo', null],
        [1, 'SubmitTask', 'accepted', 'task-1', 'apikey:acme/k1', 'k1'],
      ],
      'newest first; a command without `command` metadata is named by its first event',
    );
    const [refused, , submitted] = acme;
    assert.is(refused!.reason, 'FAILED_PRECONDITION: task 1 is completed');
    assert.is(refused!.requestId, 'req-2');
    assert.is(submitted!.requestId, 'req-1');
    assert.is(submitted!.source, '10.0.0.7');
    assert.is(submitted!.reason, null);
    assert.is(submitted!.prevHash, GENESIS_HASH);
    assert.is(submitted!.hash, chainHash(GENESIS_HASH, submitted!));
    assert.is(acme[1]!.prevHash, submitted!.hash);
    const beta = await listAuditEntries(db, { tenant: 'beta', limit: 10 });
    assert.equal(
      beta.map((e) => [e.seq, e.commandType, e.prevHash]),
      [[1, 'TenantRegistered', GENESIS_HASH]],
      'another tenant has its own chain',
    );
    assert.equal(await verifyChain(db, 'acme'), { tenant: 'acme', ok: true, entries: 3 });

    const filtered = await listAuditEntries(db, { tenant: 'acme', outcome: 'refused', limit: 10 });
    assert.equal(
      filtered.map((e) => e.seq),
      [3],
    );
    const byStream = await listAuditEntries(db, {
      tenant: 'acme',
      streamPrefix: 'task-',
      beforeSeq: 3,
      limit: 1,
    });
    assert.equal(
      byStream.map((e) => e.seq),
      [2],
    );
  });

  s('a command whose events span two batches is one entry, and a rebuild equals the live model', async () => {
    const { store, db } = f;
    for (let i = 0; i < 6; i++) {
      await store.append(`task-${i}`, command('acme', ['TaskSubmitted'], { command: 'SubmitTask' }));
      await store.append(`task-${i}`, command('acme', ['A', 'B', 'C'], { command: 'Work' }));
    }
    await visibleInLog(store, 'task-', 24);
    // Batches of 2 events: most commands begin in one batch and end in the next.
    for (;;) if ((await projectBatch(db, store, auditProjection, 2)).applied === 0) break;
    const live = await dump(db);
    assert.is(live.length, 12, 'one entry per command, not per event');
    assert.ok((await verifyChain(db, 'acme')).ok);
    assert.is(await rebuild(db, store, auditProjection), 24);
    assert.equal(await dump(db), live, 'the rebuilt chain is the same chain');
  });

  s('the runner keeps it live, and the live model equals a rebuild', async () => {
    const { store, db } = f;
    const running = runProjections(db, store, [auditProjection], { pollMs: 20 });
    for (let i = 0; i < 20; i++) {
      await store.append(`task-${i}`, command(i % 2 ? 'acme' : 'beta', ['TaskSubmitted', 'TaskRouted']));
      if (i % 5 === 0)
        await recordRefusal(
          store,
          { tenant: 'acme', principal: 'apikey:acme/k1' },
          { command: 'SendMessage', status: 'INVALID_ARGUMENT', reason: `message: required (${i})` },
        );
    }
    try {
      await visibleInLog(store, '', 44);
      for (let i = 0; i < 400 && (await dump(db)).length < 24; i++)
        await new Promise((r) => setTimeout(r, 25));
    } finally {
      await running.stop();
    }
    const live = await dump(db);
    assert.is(live.length, 24);
    await rebuild(db, store, auditProjection);
    assert.equal(await dump(db), live);
  });

  s('verify names the first entry changed in the database, and why', async () => {
    const { store, db } = f;
    for (let i = 0; i < 5; i++) await store.append(`task-${i}`, command('acme', ['TaskSubmitted']));
    await visibleInLog(store, 'task-', 5);
    await catchUp(db, store, auditProjection);
    assert.equal(await verifyChain(db, 'acme'), { tenant: 'acme', ok: true, entries: 5 });
    const [third] = await db.query<{ id: string }>(
      "SELECT id FROM rm_audit WHERE tenant = 'acme' AND seq = 3",
    );

    await db.query(
      "UPDATE rm_audit SET principal = 'apikey:acme/someone-else' WHERE tenant = 'acme' AND seq = 3",
    );
    const changed = await verifyChain(db, 'acme');
    assert.is(changed.ok, false);
    assert.equal(changed.ok ? null : changed.broken.seq, 3);
    assert.equal(changed.ok ? null : changed.broken.id, third!.id);
    assert.match(changed.ok ? '' : changed.broken.reason, /hash does not match its content/);
    assert.is(changed.entries, 2, 'the two before it hold');

    // Rewriting the changed entry's hash too moves the break to the next entry, which names why.
    const [row] = await listAuditEntries(db, { tenant: 'acme', beforeSeq: 4, limit: 1 });
    await db.query("UPDATE rm_audit SET hash = $1 WHERE tenant = 'acme' AND seq = 3", [
      chainHash(row!.prevHash, row!),
    ]);
    const rehashed = await verifyChain(db, 'acme');
    assert.equal(rehashed.ok ? null : rehashed.broken.seq, 4);
    assert.match(rehashed.ok ? '' : rehashed.broken.reason, /prev_hash is not the hash of entry 3/);

    await db.query("DELETE FROM rm_audit WHERE tenant = 'acme' AND seq IN (3, 4)");
    const gap = await verifyChain(db, 'acme');
    assert.equal(gap.ok ? null : gap.broken.seq, 5);
    assert.match(gap.ok ? '' : gap.broken.reason, /seq 5 follows seq 2/);
  });

  s.run();
};

// Every await happens before the first suite runs: uvu starts a suite's run at once.
const pgUp = await requireService('postgres');

auditSuite('PGlite', true, pgliteFixture);

auditSuite('PostgreSQL', pgUp, () => postgresFixture('audit'));
