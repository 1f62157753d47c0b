/**
 * Kill -9 the saga process or the worker process at random, again and again, while 100 runs of a 5-step
 * workflow go through real PostgreSQL + JetStream; one run in four fails at its fourth step and must undo
 * its first two (compensation path). Afterwards every run is in its right final state, every step task was
 * submitted once per attempt and ended once, every compensation ran, and every step's effect exists once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import postgres from 'postgres';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fold } from '../../commands/handle.ts';
import { workflowRunDecider } from '../../commands/workflow-run.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';
import { defineWorkflow, startWorkflowRun } from '../../workflows/service.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';

const up = (await requireService('pgvector')) && (await requireService('nats'));
const it = up ? test : test.skip;
if (!up) console.warn('\n!!! SKIPPED: workflow crash test (postgres/nats unreachable) !!!\n');

const RUNS = 100;
const MIN_KILLS = 6;
const DEADLINE_MS = 240_000;
const schema = uniqueName('wfcrash');
const namespace = `w${Math.random().toString(36).slice(2, 10)}`;
const env = {
  ...process.env,
  DATABASE_URL,
  NATS_URL,
  AGENTCORE_PG_SCHEMA: schema,
  AGENTCORE_NAMESPACE: namespace,
  // A killed process's messages come back after this long (the default is 30 s).
  AGENTCORE_WORKER_ACK_WAIT_MS: '3000',
  AGENTCORE_SAGA_ACK_WAIT_MS: '2000',
  LOG_LEVEL: 'error',
};
const childPath = new URL('./workflow-crash-child.ts', import.meta.url).pathname;

type Role = 'sagas' | 'workers';
const start = (role: Role) => {
  const child = spawn(process.execPath, ['--import', 'tsx', childPath], {
    env: { ...env, CRASH_ROLES: role },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (!out.includes('ready\n')) return;
      clearInterval(timer);
      resolve();
    }, 20);
    void exited.then(() => {
      clearInterval(timer);
      reject(new Error(`${role} exited before ready: ${out}`));
    });
  });
  return { child, ready, exited, output: () => out };
};
const kill = async (p: { child: ChildProcess; exited: Promise<void> }) => {
  p.child.kill('SIGKILL');
  await p.exited;
};

const fulfil = new WorkflowBuilder('fulfil')
  .task('reserve', {
    agent: 'effect',
    input: 'reserve {{input}}',
    compensate: { agent: 'effect', input: 'release {{steps.reserve.output}}' },
  })
  .task('charge', {
    agent: 'effect',
    input: 'charge {{input}}',
    compensate: { agent: 'effect', input: 'refund {{steps.charge.output}}' },
  })
  .task('pack', { agent: 'effect', input: 'pack {{input}}' })
  .task('ship', { agent: 'effect', input: 'ship {{input}}' })
  .task('notify', { agent: 'effect', input: 'notify {{steps.ship.output}}' })
  .build();

it(`SIGKILL of the saga and worker processes during ${RUNS} workflow runs loses nothing`, async () => {
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
  // One after the other: the first one migrates the schema (the second would race it on the test's table).
  const procs = { sagas: start('sagas') } as Record<Role, ReturnType<typeof start>>;
  try {
    await procs.sagas.ready;
    procs.workers = start('workers');
    await procs.workers.ready;
    const store = await createPostgresEventStore({ sql, schema, migrate: false });
    const caller = { tenant: 'default', principal: 'test:crash' };
    await defineWorkflow(store, caller, fulfil);
    const inputs = Array.from({ length: RUNS }, (_, i) => (i % 4 === 0 ? `order-${i} FAIL` : `order-${i}`));
    const runs = await Promise.all(inputs.map((input) => startWorkflowRun(store, caller, 'fulfil', input)));

    const ended = async () =>
      Number(
        (
          await sql`SELECT count(*)::int AS n FROM events
                    WHERE type IN ('WorkflowRunCompleted', 'WorkflowRunFailed')`
        )[0]!.n,
      );
    const deadline = Date.now() + DEADLINE_MS;
    const kills: Record<Role, number> = { sagas: 0, workers: 0 };
    while ((await ended()) < RUNS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
      if (kills.sagas + kills.workers >= MIN_KILLS * 3) continue; // enough: let the rest finish
      const role: Role = Math.random() < 0.5 ? 'sagas' : 'workers';
      await kill(procs[role]);
      kills[role]++;
      procs[role] = start(role);
      await procs[role].ready;
    }
    const done = await ended();
    console.log(
      `workflow crash: ${kills.sagas} saga and ${kills.workers} worker kills, ${done}/${RUNS} runs ended`,
    );
    assert.is(done, RUNS, 'every run ended');
    assert.ok(
      kills.sagas + kills.workers >= MIN_KILLS,
      `only ${kills.sagas + kills.workers} kills: too short a load`,
    );

    const effects = new Map(
      (await sql`SELECT task_id, text, runs FROM wf_effects`).map((r) => [
        r.task_id as string,
        { text: r.text as string, runs: Number(r.runs) },
      ]),
    );
    const scheduledIds = new Set<string>();
    for (const [i, { runId }] of runs.entries()) {
      const events = await store.readStream(`wfrun-${runId}`);
      const run = fold(workflowRunDecider, events);
      const failing = inputs[i]!.includes('FAIL');
      assert.is(run.status, failing ? 'failed' : 'completed', `${inputs[i]}: ${JSON.stringify(run)}`);
      if (failing) {
        assert.equal(run.failure, { step: 'ship', reason: 'carrier refused' });
        assert.equal(run.compensated, ['charge', 'reserve'], 'no compensation skipped, latest first');
        assert.equal(run.compensationFailed, []);
      } else assert.is(run.output, `done(notify done(ship ${inputs[i]}))`);
      const scheduled = events
        .filter((e) => e.type === 'WorkflowStepScheduled')
        .map((e) => e.data as { stepId: string; attempt: number; compensation: boolean; taskId: string });
      // No step ran twice without a recorded retry: one task per step (and per compensation), attempt 1.
      const keys = scheduled.map((s) => `${s.stepId}${s.compensation ? '(undo)' : ''}#${s.attempt}`);
      assert.equal(
        keys,
        failing
          ? ['reserve#1', 'charge#1', 'pack#1', 'ship#1', 'charge(undo)#1', 'reserve(undo)#1']
          : ['reserve#1', 'charge#1', 'pack#1', 'ship#1', 'notify#1'],
      );
      for (const s of scheduled) {
        scheduledIds.add(s.taskId);
        const task = await store.readStream(`task-${s.taskId}`);
        assert.is(task.filter((e) => e.type === 'TaskSubmitted').length, 1, 'submitted once');
        const ends = task.filter(
          (e) =>
            e.type === 'TaskStatusUpdated' && /COMPLETED|FAILED/.test((e.data as { state: string }).state),
        );
        assert.is(ends.length, 1, `task ${s.taskId} ended once`);
        assert.ok(effects.has(s.taskId), `step ${s.stepId} of ${inputs[i]} had its effect`);
      }
    }
    assert.equal(
      [...effects.keys()].filter((id) => !scheduledIds.has(id)),
      [],
      'no effect outside a scheduled step',
    );
    const rerun = [...effects.values()].filter((e) => e.runs > 1).length;
    console.log(
      `workflow crash: ${effects.size} step effects, ${rerun} agent runs repeated after a kill (no effect twice)`,
    );
  } finally {
    for (const p of Object.values(procs)) await kill(p).catch(() => {});
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await sql.end();
    await dropNamespace(namespace);
  }
});

test.run();
