/**
 * Per-step orchestration overhead of workflows: for a 5-step workflow of instant in-hub steps (the echo
 * agent), the time from a step's task completing to the next step's task being submitted (the run
 * aggregate and the workflow saga) and to its agent starting work (plus the worker's pickup), and a whole
 * run's latency, on the embedded runtime (PGlite + in-process bus) and the distributed one (PostgreSQL +
 * JetStream), all roles in this process. Times are arrival times of the task events on the bus's live feed
 * in this process (performance.now()), so they include the relay's hop on JetStream.
 *
 * Run: npm run bench:workflow. Environment: BENCH_RUNS (per cell, default 100), BENCH_CONCURRENCY
 * (default 1,16), BENCH_TARGETS (embedded,distributed), DATABASE_URL, NATS_URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import postgres from 'postgres';
import { createRuntime, type Runtime } from '../app/compose.ts';
import { loadConfig } from '../app/config.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { runIdOfStream } from '../events/workflow.ts';
import { createJetStreamBus } from '../infra/bus/jetstream.ts';
import { WorkflowBuilder } from '../workflows/builder.ts';
import { defineWorkflow, startWorkflowRun } from '../workflows/service.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16').split(',').map(Number);
const TARGETS = (process.env.BENCH_TARGETS ?? 'embedded,distributed').split(',');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const STEPS = ['one', 'two', 'three', 'four', 'five'];

const steps = STEPS.reduce(
  (b, id) => b.task(id, { agent: 'echo', input: `${id} {{input}}` }),
  new WorkflowBuilder('five-steps'),
).build();

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : Number.NaN;
};
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);

interface Seen {
  submitted?: number;
  working?: number;
  completed?: number;
}

/** Arrival times of every step task's events, by run and step. */
const watch = (runtime: Runtime) => {
  const byTask = new Map<string, { runId: string; stepId: string }>();
  const steps = new Map<string, Map<string, Seen>>();
  const pending = new Map<string, RecordedEvent[]>();
  const note = (event: RecordedEvent, at: number) => {
    const link = byTask.get(event.stream);
    if (!link) return false;
    const seen = steps.get(link.runId)!.get(link.stepId)!;
    const state = (event.data as { state?: string }).state;
    if (event.type === 'TaskStatusUpdated' && state === 'TASK_STATE_WORKING') seen.working ??= at;
    if (event.type === 'TaskStatusUpdated' && state === 'TASK_STATE_COMPLETED') seen.completed ??= at;
    return true;
  };
  const subscription = runtime.bus.live({ category: 'task' }).subscribe((event) => {
    const at = performance.now();
    if (event.type === 'TaskSubmitted') {
      const wf = (event.data as { metadata?: { workflow?: { runId: string; stepId: string } } }).metadata
        ?.workflow;
      if (!wf) return;
      byTask.set(event.stream, wf);
      if (!steps.has(wf.runId)) steps.set(wf.runId, new Map());
      steps.get(wf.runId)!.set(wf.stepId, { submitted: at });
      for (const e of pending.get(event.stream) ?? []) note(e, at);
      pending.delete(event.stream);
    } else if (!note(event, at)) pending.set(event.stream, [...(pending.get(event.stream) ?? []), event]);
  });
  return { steps, stop: () => subscription.unsubscribe() };
};

const measure = async (runtime: Runtime, concurrency: number) => {
  const caller = { tenant: 'default', principal: 'bench:workflow' };
  const watcher = watch(runtime);
  const ends = new Map<string, () => void>();
  const runEnds = runtime.bus.live({ category: 'wfrun' }).subscribe((event) => {
    if (event.type === 'WorkflowRunCompleted' || event.type === 'WorkflowRunFailed')
      ends.get(runIdOfStream(event.stream))?.();
  });
  const latencies: number[] = [];
  let next = 0;
  const one = async () => {
    for (let i = next++; i < RUNS; i = next++) {
      const runId = crypto.randomUUID();
      const done = new Promise<void>((r) => ends.set(runId, r));
      const t0 = performance.now();
      await startWorkflowRun(runtime.store, caller, 'five-steps', `run ${i}`, { runId });
      await done;
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, one));
  runEnds.unsubscribe();
  watcher.stop();
  const toSubmitted: number[] = [];
  const toWorking: number[] = [];
  for (const run of watcher.steps.values()) {
    for (let k = 1; k < STEPS.length; k++) {
      const prev = run.get(STEPS[k - 1]!);
      const cur = run.get(STEPS[k]!);
      if (prev?.completed === undefined || cur?.submitted === undefined) continue;
      toSubmitted.push(cur.submitted - prev.completed);
      if (cur.working !== undefined) toWorking.push(cur.working - prev.completed);
    }
  }
  return { toSubmitted, toWorking, latencies };
};

const startTarget = async (target: string) => {
  const cleanups: Array<() => Promise<void>> = [];
  let env: Record<string, string>;
  if (target === 'embedded') {
    const dir = mkdtempSync(join(os.tmpdir(), 'agentcore-bench-wf-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    env = { AGENTCORE_DATA_DIR: dir };
  } else {
    const suffix = randomBytes(4).toString('hex');
    const schema = `bench_wf_${suffix}`;
    const namespace = `bw${suffix}`;
    env = { DATABASE_URL, NATS_URL, AGENTCORE_PG_SCHEMA: schema, AGENTCORE_NAMESPACE: namespace };
    cleanups.push(async () => {
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.end();
      await (await createJetStreamBus({ servers: NATS_URL, namespace })).destroy();
    });
  }
  const runtime = await createRuntime(loadConfig({ ...env, PORT: '0' }), { log: pino({ level: 'warn' }) });
  await runtime.start(['edge', 'sagas', 'workers', 'projections', 'relay']);
  return {
    runtime,
    stop: async () => {
      await runtime.stop();
      for (const c of cleanups) await c();
    },
  };
};

const rows: string[] = [];
for (const target of TARGETS) {
  const { runtime, stop } = await startTarget(target);
  try {
    await defineWorkflow(runtime.store, { tenant: 'default', principal: 'bench:workflow' }, steps);
    await measure(runtime, 4); // warm-up: plans, JIT, consumers
    for (const c of CONCURRENCY) {
      const { toSubmitted, toWorking, latencies } = await measure(runtime, c);
      const row = `| ${target} | ${c} | ${latencies.length} | ${ms(pct(toSubmitted, 50))}, ${ms(pct(toSubmitted, 99))} | ${ms(pct(toWorking, 50))}, ${ms(pct(toWorking, 99))} | ${ms(pct(latencies, 50))}, ${ms(pct(latencies, 99))} |`;
      process.stderr.write(`${row}\n`);
      rows.push(row);
    }
  } finally {
    await stop();
  }
}
console.log(
  `\n${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, ${RUNS} runs of 5 echo steps per cell\n`,
);
console.log(
  '| runtime | runs in flight | runs | step completed -> next submitted p50, p99 ms | -> next working p50, p99 ms | run latency p50, p99 ms |',
);
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
process.exit(0);
