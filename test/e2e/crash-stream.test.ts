/**
 * Kill -9 in the middle of a stream, on the distributed runtime with separate processes:
 * - the worker running the agent dies: another worker takes the task over and it finishes;
 * - the edge serving the stream dies: the client resubscribes at another edge with Last-Event-ID and
 *   gets exactly the events it had not seen, through to the end.
 * Also shows a task started on one edge process being read and streamed from another.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pino from 'pino';
import postgres from 'postgres';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { hashApiKey } from '../../commands/bootstrap.ts';
import { handle } from '../../commands/handle.ts';
import { tenantDecider } from '../../commands/tenant.ts';
import { tenantStream } from '../../events/tenant.ts';
import { catchUp, migrateProjection } from '../../projections/runner.ts';
import { tenantsProjection } from '../../projections/tenants.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';
import { readSse, rpc } from '../support/sse.ts';

const up = (await requireService('pgvector')) && (await requireService('nats'));
const it = up ? test : test.skip;
const root = new URL('../..', import.meta.url).pathname;
const schema = uniqueName('killstream');
const namespace = `s${Math.random().toString(36).slice(2, 10)}`;
const env = {
  ...process.env,
  DATABASE_URL,
  NATS_URL,
  AGENTCORE_PG_SCHEMA: schema,
  AGENTCORE_NAMESPACE: namespace,
  AGENTCORE_WORKER_ACK_WAIT_MS: '1500',
  PORT: '0',
  LOG_LEVEL: 'warn',
};
const children: ChildProcess[] = [];

const startRole = (...roles: string[]) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/agentcore.ts', ...roles], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = roles.includes('edge')
    ? new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = out.match(/listening on (http:\/\/\S+)/);
          if (m) {
            clearInterval(timer);
            resolve(m[1]!);
          }
        }, 20);
        void exited.then(() => {
          clearInterval(timer);
          reject(new Error(`${roles} exited: ${out}`));
        });
      })
    : Promise.resolve('');
  const ready = roles.includes('edge') ? url : new Promise<string>((r) => setTimeout(() => r(''), 2500));
  return {
    child,
    url,
    ready,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    output: () => out,
  };
};

let apiKey = '';
test.before(async () => {
  if (!up) return;
  const runtime = await createRuntime(loadConfig(env), { log: pino({ level: 'warn' }) });
  apiKey = `ac_test_${Math.random().toString(36).slice(2)}`;
  const ctx = { tenant: 'killer', principal: 'test' };
  await handle(
    runtime.store,
    tenantStream('killer'),
    { type: 'RegisterTenant', tenantId: 'killer', name: 'K' },
    tenantDecider,
    ctx,
  );
  await handle(
    runtime.store,
    tenantStream('killer'),
    { type: 'IssueApiKey', keyId: 'k', keyHash: hashApiKey(apiKey), label: '', actsFor: [] },
    tenantDecider,
    ctx,
  );
  await migrateProjection(runtime.db, tenantsProjection);
  await catchUp(runtime.db, runtime.store, tenantsProjection);
  await runtime.stop();
});

test.after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (!up) return;
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await sql.end();
  await dropNamespace(namespace);
});

/** The parts of a StreamResponse these tests look at. */
interface WireResult {
  task?: { id: string; status: { state: string } };
  statusUpdate?: { taskId: string; status: { state: string } };
  artifactUpdate?: unknown;
}
type Item = { id: number; result: WireResult };
const statesOf = (items: Item[]) =>
  items.map(
    (i) =>
      i.result.statusUpdate?.status.state ??
      (i.result.task ? `task:${i.result.task.status.state}` : 'artifact'),
  );

it('a worker killed mid-run: another worker finishes the task and the stream sees it once', async () => {
  const core = startRole('edge', 'relay', 'projections', 'sagas');
  const url = await core.url;
  const worker = startRole('workers');
  await worker.ready;
  const response = await rpc(url, apiKey, 'SendStreamingMessage', {
    message: {
      messageId: `test-resubscribe-message-id-${Date.now()}`,
      role: 'ROLE_USER',
      parts: [{ text: 'slow' }],
    },
  });
  assert.is(response.status, 200);
  const items: Item[] = [];
  let replacement: ReturnType<typeof startRole> | null = null;
  for await (const e of readSse(response)) {
    const body = e.data as { result: WireResult };
    items.push({ id: Number(e.id), result: body.result });
    if (!replacement && body.result.statusUpdate?.status.state === 'TASK_STATE_WORKING') {
      await worker.kill();
      replacement = startRole('workers');
    }
  }
  assert.ok(replacement, 'the worker was killed while the task was working');
  const ids = items.map((i) => i.id);
  assert.equal(
    ids,
    [...new Set(ids)].sort((a, b) => a - b),
    'no event repeated, all in order',
  );
  assert.is(statesOf(items).at(-1), 'TASK_STATE_COMPLETED');
});

it('an edge killed mid-stream: resubscribing at another edge with Last-Event-ID resumes without gaps', async () => {
  const backend = startRole('relay', 'projections', 'sagas', 'workers');
  const edgeA = startRole('edge');
  const edgeB = startRole('edge');
  const [urlA, urlB] = await Promise.all([edgeA.url, edgeB.url]);
  await backend.ready;
  const response = await rpc(urlA, apiKey, 'SendStreamingMessage', {
    message: {
      messageId: `test-resubscribe-message-id-${Date.now()}`,
      role: 'ROLE_USER',
      parts: [{ text: 'slow' }],
    },
  });
  const seen: Item[] = [];
  let taskId = '';
  try {
    for await (const e of readSse(response)) {
      const body = e.data as { result: WireResult };
      seen.push({ id: Number(e.id), result: body.result });
      taskId ||= body.result.task?.id ?? body.result.statusUpdate?.taskId ?? '';
      if (body.result.statusUpdate?.status.state === 'TASK_STATE_WORKING') await edgeA.kill();
    }
  } catch {
    // the connection died with the edge
  }
  assert.ok(taskId, 'the stream had started');
  const lastSeen = Math.max(...seen.map((s) => s.id));
  // The task started on edge A is visible from edge B, and the stream resumes there.
  const got = (await (await rpc(urlB, apiKey, 'GetTask', { id: taskId })).json()) as {
    result: { id: string };
  };
  assert.is(got.result.id, taskId);
  const resumed = await rpc(
    urlB,
    apiKey,
    'SubscribeToTask',
    { id: taskId },
    { 'Last-Event-ID': String(lastSeen) },
  );
  const rest: Item[] = [];
  for await (const e of readSse(resumed))
    rest.push({ id: Number(e.id), result: (e.data as { result: WireResult }).result });
  const ids = [...seen, ...rest].map((i) => i.id);
  assert.equal(ids, [...Array(ids.length).keys()], 'every revision exactly once, from 0 to the end');
  assert.is(statesOf(rest).at(-1), 'TASK_STATE_COMPLETED');
});

test.run();
