/**
 * Kill -9 the process delivering a webhook subscription, several times during 5,000 deliveries, on
 * PostgreSQL + JetStream. Afterwards the receiver has every event at least once, each stream's events
 * first arrived in order, every delivery verifies, and a duplicate carries the same `webhook-id`.
 */

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import postgres from 'postgres';
import { Webhook } from 'standardwebhooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { handle } from '../../commands/handle.ts';
import { webhookDecider } from '../../commands/webhook.ts';
import { webhookStream } from '../../events/webhook.ts';
import { newWebhookSecret } from '../../sagas/webhook-message.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';
import { waitFor } from '../support/wait.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

const up = (await requireService('pgvector')) && (await requireService('nats'));
const it = up ? test : test.skip;

const STREAMS = 50;
const PER_STREAM = 100;
const TOTAL = STREAMS * PER_STREAM;
const KILLS = 5;
const schema = uniqueName('whcrash');
const namespace = `w${Math.random().toString(36).slice(2, 10)}`;
const childPath = new URL('./webhook-crash-child.ts', import.meta.url).pathname;

it('SIGKILL during 5,000 webhook deliveries: every event at least once, in order per stream, same webhook-id', async () => {
  const receiver = await startReceiver({ delayMs: () => 1 + Math.floor(Math.random() * 4) });
  const env = {
    ...process.env,
    DATABASE_URL,
    NATS_URL,
    AGENTCORE_PG_SCHEMA: schema,
    AGENTCORE_NAMESPACE: namespace,
    AGENTCORE_ALLOW_PRIVATE_URLS: 'true',
    AGENTCORE_WEBHOOK_CONCURRENCY: '4',
    LOG_LEVEL: 'warn',
  };
  const runtime = await createRuntime(loadConfig(env), { log: pino({ level: 'warn' }) });
  const secret = newWebhookSecret();
  const subscriptionId = randomUUID();
  try {
    await runtime.start([]);
    await handle(
      runtime.store,
      webhookStream(subscriptionId),
      {
        type: 'Subscribe',
        subscriptionId,
        url: `${receiver.url}/crash`,
        filter: { streamPrefix: 'load-' },
        secret,
        after: 0,
        at: new Date().toISOString(),
      },
      webhookDecider,
      { tenant: 'crash', principal: 'test' },
    );
    for (let batch = 0; batch < PER_STREAM / 20; batch++) {
      for (let s = 0; s < STREAMS; s++) {
        await runtime.store.append(
          `load-${s}`,
          Array.from({ length: 20 }, (_, i) => ({
            id: randomUUID(),
            type: 'LoadTicked',
            data: { n: batch * 20 + i },
            metadata: { tenant: 'crash', principal: 'test', correlationId: `load-${s}`, causationId: null },
          })),
        );
      }
    }

    const distinct = () => new Set(receiver.delivered('/crash').map((r) => r.event.id)).size;
    const start = () => {
      const child = spawn(process.execPath, ['--import', 'tsx', childPath], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
      });
      child.stderr!.on('data', (d) => {
        out += d;
      });
      let gone = false;
      const exited = new Promise<number | null>((r) =>
        child.once('exit', (code) => {
          gone = true;
          r(code);
        }),
      );
      const ready = waitFor('the child to start', async () => out.includes('ready\n') || gone, 60_000);
      return { child, exited, ready, output: () => out };
    };

    const inFlightAtKill: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const run = start();
      await run.ready;
      assert.ok(run.output().includes('ready'), `child failed: ${run.output()}`);
      const before = distinct();
      // Killed once it has delivered something of its own, at a random moment after that.
      await waitFor(
        'deliveries by this child',
        async () => distinct() > before || distinct() >= TOTAL,
        30_000,
      );
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      inFlightAtKill.push(distinct());
      run.child.kill('SIGKILL');
      await run.exited;
    }
    assert.ok(
      inFlightAtKill.every((n) => n < TOTAL),
      `every kill came during the deliveries (delivered at each kill: ${inFlightAtKill.join(', ')})`,
    );

    const last = start();
    await last.ready;
    await waitFor('every event delivered', async () => distinct() >= TOTAL, 180_000);
    last.child.kill('SIGTERM');
    await last.exited;

    const delivered = receiver.delivered('/crash');
    const stored = await runtime.store.readAll({ filter: { streamPrefix: 'load-' }, maxCount: TOTAL + 1 });
    assert.is(stored.length, TOTAL);
    const ids = new Set(delivered.map((r) => r.event.id));
    assert.is(stored.filter((e) => !ids.has(e.id)).length, 0, 'every event delivered at least once');

    // In order per stream: when revision r first arrives, every earlier revision of its stream has.
    const seen = new Map<string, number>();
    for (const r of delivered) {
      const top = seen.get(r.event.stream) ?? -1;
      assert.ok(
        r.event.revision <= top + 1,
        `${r.event.stream}: revision ${r.event.revision} before ${top + 1}`,
      );
      seen.set(r.event.stream, Math.max(top, r.event.revision));
    }

    const webhookIds = new Map<string, Set<string>>();
    for (const r of delivered) {
      new Webhook(secret).verify(r.body, r.headers);
      const set = webhookIds.get(r.event.id) ?? new Set();
      set.add(r.headers['webhook-id']!);
      webhookIds.set(r.event.id, set);
    }
    const duplicates = delivered.length - ids.size;
    assert.ok(duplicates > 0, 'the kills cut deliveries short: some events came twice');
    assert.ok(
      [...webhookIds.values()].every((s) => s.size === 1),
      'a duplicate carries the same webhook-id',
    );
    console.log(
      `  ${delivered.length} deliveries of ${TOTAL} events (${duplicates} duplicates), ${KILLS} kills`,
    );
  } finally {
    await runtime.stop();
    await receiver.close();
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    await dropNamespace(namespace);
  }
});

test.run();
