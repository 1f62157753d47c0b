/**
 * The process the crash test kills: it appends a tenant workload through the command handler, relays to
 * JetStream, runs the projections and an exactly-once consumer, all in one process, and exits 0 once
 * everything has settled. Restarted after each SIGKILL, it resumes: commands carry deterministic ids, so
 * the ones already in the log are replayed, not decided again.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { handle } from '../../commands/handle.ts';
import { type TenantCommand, tenantDecider } from '../../commands/tenant.ts';
import { tenantStream } from '../../events/tenant.ts';

const TENANTS = Number(process.env.CRASH_TENANTS ?? 500);
const EVENTS_PER_TENANT = 20;
const WORKERS = 8;
const THROTTLE_MS = Number(process.env.CRASH_THROTTLE_MS ?? 8);

/** Tenant i's k-th command: register, issue 14 keys, then revoke keys k1..k5. */
const commandFor = (i: number, k: number): TenantCommand => {
  if (k === 0) return { type: 'RegisterTenant', tenantId: `t${i}`, name: `Tenant ${i}` };
  if (k >= 15) return { type: 'RevokeApiKey', keyId: `k${k - 14}` };
  return {
    type: 'IssueApiKey',
    keyId: `k${k}`,
    keyHash: createHash('sha256').update(`key-${i}-${k}`).digest('hex'),
    label: `key ${k}`,
    actsFor: [],
  };
};

const main = async () => {
  const runtime = await createRuntime(loadConfig(), {
    log: pino({ level: 'warn' }),
    sagas: [
      {
        durable: 'crash-effects',
        maxAckPending: 64,
        apply: async (event, tx) => {
          await tx.query('INSERT INTO crash_effects (event_id, stream, revision) VALUES ($1, $2, $3)', [
            event.id,
            event.stream,
            event.revision,
          ]);
        },
      },
    ],
  });
  await runtime.db.exec(
    'CREATE TABLE IF NOT EXISTS crash_effects (event_id text NOT NULL, stream text NOT NULL, revision int NOT NULL)',
  );
  await runtime.start(['relay', 'projections', 'sagas']);
  process.stdout.write('ready\n');

  let next = 0;
  const worker = async () => {
    for (let i = next++; i < TENANTS; i = next++) {
      const tenant = `t${i}`;
      for (let k = 0; k < EVENTS_PER_TENANT; k++) {
        await handle(runtime.store, tenantStream(tenant), commandFor(i, k), tenantDecider, {
          tenant,
          principal: 'crash-test',
          commandId: `crash:${i}:${k}`,
        });
        if (THROTTLE_MS) await new Promise((r) => setTimeout(r, THROTTLE_MS));
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  process.stdout.write('appended\n');

  const total = TENANTS * EVENTS_PER_TENANT;
  for (;;) {
    const [effects] = await runtime.db.query<{ n: string }>(
      'SELECT count(DISTINCT event_id) AS n FROM crash_effects',
    );
    const [checkpoint] = await runtime.db.query<{ position: string }>(
      "SELECT position FROM projection_checkpoints WHERE name = 'tenants'",
    );
    const [last] = await runtime.db.query<{ position: string }>(
      "SELECT position FROM events WHERE stream LIKE 'tenant-%' ORDER BY tx_id DESC, position DESC LIMIT 1",
    );
    if (Number(effects?.n) >= total && checkpoint?.position === last?.position) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write('settled\n');
  await runtime.stop();
  process.exit(0);
};

if (process.argv[1]?.endsWith('crash-child.ts')) {
  main().catch((error) => {
    process.stderr.write(`crash child failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
