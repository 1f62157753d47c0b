/**
 * Backbone benchmark: appends/s and append -> consumer latency, for the distributed runtime (PostgreSQL
 * event store, relay, NATS JetStream) and the embedded one (PGlite, in-process bus), at concurrency 1 and 64.
 * Run: npm run bench -- [seconds per cell, default 5]. Needs the local PostgreSQL and NATS for the
 * distributed rows. Figures are noisy on shared machines: compare ratios within one run.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import postgres from 'postgres';
import { createRuntime, type Runtime } from '../app/compose.ts';
import { loadConfig } from '../app/config.ts';

const seconds = Number(process.argv[2] ?? 5);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : Number.NaN;

interface Row {
  runtime: string;
  concurrency: number;
  appends: number;
  perSecond: number;
  appendP50: number;
  appendP99: number;
  e2eP50: number;
  e2eP99: number;
  delivered: number;
}

const measure = async (name: string, runtime: Runtime, concurrency: number): Promise<Row> => {
  const sentAt = new Map<string, number>();
  const e2e: number[] = [];
  let delivered = 0;
  const durable = `bench-${concurrency}-${randomUUID().slice(0, 8)}`;
  const consumer = await runtime.bus.consume({
    durable,
    filter: { category: `bench${concurrency}` },
    maxAckPending: 1024,
    handler: async ({ event }) => {
      const t0 = sentAt.get(event.id);
      if (t0 !== undefined) {
        e2e.push(performance.now() - t0);
        sentAt.delete(event.id);
        delivered++;
      }
    },
  });
  const appendLatency: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let appends = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const id = randomUUID();
      const t0 = performance.now();
      sentAt.set(id, t0);
      await runtime.store.append(
        `bench${concurrency}-${randomUUID()}`,
        [
          {
            id,
            type: 'BenchmarkPinged',
            data: { payload: 'x'.repeat(200) },
            metadata: { tenant: 'bench', principal: 'bench', correlationId: id, causationId: null },
          },
        ],
        { expectedRevision: 'no_stream' },
      );
      appendLatency.push(performance.now() - t0);
      appends++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const drainUntil = performance.now() + 10_000;
  while (delivered < appends && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  await consumer.stop();
  appendLatency.sort((a, b) => a - b);
  e2e.sort((a, b) => a - b);
  return {
    runtime: name,
    concurrency,
    appends,
    perSecond: appends / elapsed,
    appendP50: percentile(appendLatency, 50),
    appendP99: percentile(appendLatency, 99),
    e2eP50: percentile(e2e, 50),
    e2eP99: percentile(e2e, 99),
    delivered,
  };
};

const rows: Row[] = [];
const runtimes: Array<{ name: string; make: () => Promise<{ runtime: Runtime; cleanup(): Promise<void> }> }> =
  [
    {
      name: 'PostgreSQL + JetStream',
      make: async () => {
        const schema = `bench_${Date.now().toString(36)}`;
        const namespace = `b${Math.random().toString(36).slice(2, 8)}`;
        const runtime = await createRuntime(
          loadConfig({ DATABASE_URL, NATS_URL, AGENTCORE_PG_SCHEMA: schema, AGENTCORE_NAMESPACE: namespace }),
          { log: pino({ level: 'warn' }), projections: [] },
        );
        return {
          runtime,
          cleanup: async () => {
            await runtime.stop();
            const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
            await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
            await sql.end();
          },
        };
      },
    },
    {
      name: 'embedded (PGlite + in-process)',
      make: async () => {
        const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-bench-'));
        const runtime = await createRuntime(loadConfig({ AGENTCORE_DATA_DIR: dir }), {
          log: pino({ level: 'warn' }),
          projections: [],
        });
        return {
          runtime,
          cleanup: async () => {
            await runtime.stop();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
  ];

for (const { name, make } of runtimes) {
  const { runtime, cleanup } = await make();
  await runtime.start(['relay']);
  try {
    for (const c of [1, 64]) rows.push(await measure(name, runtime, c));
  } finally {
    await cleanup();
  }
}

const fmt = (n: number, digits = 2) => (Number.isNaN(n) ? '-' : n.toFixed(digits));
console.log(
  `\nAgentCore backbone benchmark, ${new Date().toISOString()}, ${os.cpus().length} cores, Node ${process.version}, ${seconds}s per cell\n`,
);
console.log(
  '| runtime | c | appends/s | append p50 ms | append p99 ms | append->consumer p50 ms | p99 ms | delivered |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.runtime} | ${r.concurrency} | ${fmt(r.perSecond, 0)} | ${fmt(r.appendP50)} | ${fmt(r.appendP99)} | ${fmt(r.e2eP50)} | ${fmt(r.e2eP99)} | ${r.delivered}/${r.appends} |`,
  );
}
process.exit(0);
