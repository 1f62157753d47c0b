/**
 * The read side under a large log (part of `npm run bench`, or alone: `npm run bench:read`): a hub given
 * BENCH_READ_TASKS tasks (100,000) and a 10-step workflow run, then p50/p99 of the dashboards' main queries
 * (tasks filtered, metrics for a day, the lineage of the run, audit pages), how long the read models took to
 * catch up, and webhook delivery throughput and lag (live under SendMessage load, and draining a backlog).
 * Every answer is checked; a wrong one fails the run.
 *
 * Settings: BENCH_READ_RUNTIMES (agentcore-embedded,agentcore-distributed), BENCH_READ_TASKS (100000),
 * BENCH_READ_QUERIES (200 per query), BENCH_READ_WEBHOOK_TASKS (2000). Skipped when BENCH_SCENARIOS is set
 * without `read`.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { children, type SystemName, startSystem } from './a2a/systems.ts';

const scenarios = process.env.BENCH_SCENARIOS;
if (scenarios && !scenarios.split(',').includes('read')) process.exit(0);
// The webhook receiver is on loopback.
process.env.AGENTCORE_ALLOW_PRIVATE_URLS = 'true';

const runtimes = (process.env.BENCH_READ_RUNTIMES ?? 'agentcore-embedded,agentcore-distributed').split(
  ',',
) as SystemName[];
const TASKS = Number(process.env.BENCH_READ_TASKS ?? 100_000);
const QUERIES = Number(process.env.BENCH_READ_QUERIES ?? 200);
const WEBHOOK_TASKS = Number(process.env.BENCH_READ_WEBHOOK_TASKS ?? 2000);
const log = (line: string) => process.stderr.write(`${line}\n`);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0));

class Hub {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}
  async get<T>(path: string): Promise<{ status: number; body: T }> {
    const r = await fetch(`${this.base}${path}`, { headers: { 'x-api-key': this.key } });
    return { status: r.status, body: (await r.json()) as T };
  }
  async post<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
    const r = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': this.key, 'content-type': 'application/json', 'a2a-version': '1.0' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as T };
  }
  /** A blocking SendMessage to the echo agent; fails the run unless the task completed. */
  async send(text: string): Promise<string> {
    const { body } = await this.post<{ result?: { task?: { id: string; status: { state: string } } } }>(
      '/a2a/jsonrpc',
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'SendMessage',
        params: {
          message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
          metadata: { agent: 'echo' },
        },
      },
    );
    const task = body.result?.task;
    if (task?.status.state !== 'TASK_STATE_COMPLETED')
      throw new Error(`SendMessage: ${JSON.stringify(body).slice(0, 300)}`);
    return task.id;
  }
}

/** Runs `count` jobs, `concurrency` at a time. */
const pool = async (count: number, concurrency: number, job: (i: number) => Promise<void>) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await job(next++);
    }),
  );
};

const waitUntil = async (what: string, done: () => Promise<boolean>, timeoutMs = 1_800_000) => {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return Date.now() - started;
};

interface Row {
  runtime: string;
  what: string;
  p50: number;
  p99: number;
  perSecond: number;
}

/** `QUERIES` sequential requests: each answer checked by `check`; p50/p99 and requests/s. */
const measure = async (
  runtime: string,
  what: string,
  paths: () => string,
  hub: Hub,
  check: (body: unknown) => string | null,
) => {
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < QUERIES; i++) {
    const path = paths();
    const t = performance.now();
    const { status, body } = await hub.get(path);
    times.push(performance.now() - t);
    const wrong = status === 200 ? check(body) : `HTTP ${status}: ${JSON.stringify(body).slice(0, 200)}`;
    if (wrong) throw new Error(`${what} ${path}: ${wrong}`);
  }
  times.sort((a, b) => a - b);
  return {
    runtime,
    what,
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    perSecond: QUERIES / ((performance.now() - started) / 1000),
  } satisfies Row;
};

/** A webhook receiver that checks every delivery's signature and records when each event arrived. */
const startReceiver = async (secret: () => string) => {
  const arrivals: Array<{ id: string; lagMs: number; at: number }> = [];
  let bad = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        new Webhook(secret()).verify(body, req.headers as Record<string, string>);
        const event = JSON.parse(body) as { id: string; time: string };
        arrivals.push({ id: event.id, lagMs: Date.now() - Date.parse(event.time), at: Date.now() });
      } catch {
        bad++;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    bad: () => bad,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
};

const benchRuntime = async (name: SystemName): Promise<{ rows: Row[]; notes: string[] }> => {
  const system = await startSystem(name);
  const hub = new Hub(system.target.url.replace(/\/a2a\/jsonrpc$/, ''), system.target.headers['x-api-key']!);
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const since = new Date(Date.now() - 60_000).toISOString();
    log(`${name}: sending ${TASKS} tasks (c=64)`);
    let t = Date.now();
    let lastTask = '';
    await pool(TASKS, 64, async (i) => {
      lastTask = await hub.send(`order ${i}${i % 100 === 0 ? ' needle' : ''}`);
      if (i % 10_000 === 0) log(`  ${i}`);
    });
    notes.push(`${TASKS} tasks sent in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    const steps = Object.fromEntries(
      Array.from({ length: 10 }, (_, k) => [
        `s${k}`,
        {
          kind: 'task',
          agent: 'echo',
          input: `step ${k} {{input}}`,
          ...(k < 9 ? { next: `s${k + 1}` } : {}),
        },
      ]),
    );
    await hub.post('/api/admin/workflows', { name: 'ten', start: 's0', nodes: steps });
    const run = await hub.post<{ runId: string }>('/api/admin/workflows/ten/runs', { input: 'x' });
    const runId = run.body.runId;
    t = Date.now();
    const caughtUp = await waitUntil('the read models to catch up', async () => {
      const m = await hub.get<{ series: Array<{ total: { counts: { total: number } } }> }>(
        `/api/metrics?step=1d&from=${since}`,
      );
      const counted = m.body.series?.reduce((n, s) => n + s.total.counts.total, 0) ?? 0;
      const lineage = await hub.get<{ nodes?: Array<{ kind: string }> }>(`/api/lineage/runs/${runId}`);
      const task = await hub.get(`/api/lineage/tasks/${lastTask}`);
      const steps = lineage.body.nodes?.filter((n) => n.kind === 'workflow-step').length ?? 0;
      return counted >= TASKS && steps >= 10 && task.status === 200;
    });
    notes.push(
      `read models caught up ${(caughtUp / 1000).toFixed(0)} s after the last task (${((Date.now() - t) / 1000).toFixed(0)} s with the run)`,
    );

    const now = () => new Date().toISOString();
    const agent = (await hub.get<{ tasks: Array<{ agent: string }> }>('/api/tasks?limit=1')).body.tasks[0]!
      .agent;
    const taskQueries = [
      () => '/api/tasks?state=completed&limit=50',
      () => '/api/tasks?text=needle&limit=50',
      () => `/api/tasks?from=${since}&to=${now()}&agent=${encodeURIComponent(agent)}&limit=50`,
    ];
    let q = 0;
    const isTasks = (b: unknown) =>
      Array.isArray((b as { tasks?: unknown }).tasks) && (b as { tasks: unknown[] }).tasks.length > 0
        ? null
        : 'no tasks';
    rows.push(
      await measure(
        name,
        'tasks, filtered (state / text / time+agent), 50 a page',
        () => taskQueries[q++ % 3]!(),
        hub,
        isTasks,
      ),
    );
    rows.push(
      await measure(
        name,
        'metrics for a day, by agent, hourly',
        () => `/api/metrics?step=1h&from=${new Date(Date.now() - 86_400_000).toISOString()}`,
        hub,
        (b) => ((b as { series: unknown[] }).series.length > 0 ? null : 'no series'),
      ),
    );
    rows.push(
      await measure(
        name,
        'lineage of a 10-step run',
        () => `/api/lineage/runs/${runId}`,
        hub,
        (b) => ((b as { nodes: unknown[] }).nodes.length >= 21 ? null : 'fewer nodes than a 10-step run has'),
      ),
    );
    let cursor: string | null = null;
    rows.push(
      await measure(
        name,
        'audit page (50), following the cursor',
        () => `/api/audit?limit=50${cursor ? `&cursor=${cursor}` : ''}`,
        hub,
        (b) => {
          const page = b as { entries: unknown[]; nextCursor: string | null };
          cursor = page.nextCursor;
          return page.entries.length === 50 ? null : `a page of ${page.entries.length}`;
        },
      ),
    );

    // Webhooks: live, under SendMessage load; then a backlog of the last tasks' events.
    let secret = '';
    const receiver = await startReceiver(() => secret);
    const sub = await hub.post<{ id: string; secret: string }>('/api/admin/webhooks', {
      url: `${receiver.url}/live`,
      filter: { streamPrefix: 'task-', types: ['TaskStatusUpdated'] },
    });
    if (sub.status !== 201) throw new Error(`webhook: ${JSON.stringify(sub.body)}`);
    secret = sub.body.secret;
    t = Date.now();
    await pool(WEBHOOK_TASKS, 16, async (i) => void (await hub.send(`hook ${i}`)));
    const sent = Date.now() - t;
    // Each echo task goes working then completed: two status updates.
    await waitUntil(
      'every webhook delivered',
      async () => receiver.arrivals.length >= WEBHOOK_TASKS * 2,
      600_000,
    );
    const lags = receiver.arrivals.map((a) => a.lagMs).sort((a, b) => a - b);
    const span = (receiver.arrivals.at(-1)!.at - receiver.arrivals[0]!.at) / 1000;
    if (receiver.bad() > 0) throw new Error(`${receiver.bad()} deliveries failed their signature`);
    rows.push({
      runtime: name,
      what: `webhook live: lag event → receiver (${WEBHOOK_TASKS} tasks at c=16, ${((WEBHOOK_TASKS * 1000) / sent).toFixed(0)} tasks/s)`,
      p50: percentile(lags, 0.5),
      p99: percentile(lags, 0.99),
      perSecond: receiver.arrivals.length / span,
    });
    await receiver.close();
    log(`${name}: webhook backlog`);
    const backlog = await startReceiver(() => secret);
    const replay = await hub.post<{ id: string; secret: string }>('/api/admin/webhooks', {
      url: `${backlog.url}/backlog`,
      filter: { streamPrefix: 'task-' },
      after: 0,
    });
    secret = replay.body.secret;
    t = Date.now();
    // Every echo task wrote at least 4 events (submitted, working, artifact, completed).
    const target = Math.min(20_000, TASKS * 4);
    await waitUntil(
      'a 20,000-event backlog delivered',
      async () => backlog.arrivals.length >= target,
      900_000,
    );
    const drained = (Date.now() - t) / 1000;
    if (backlog.bad() > 0) throw new Error(`${backlog.bad()} backlog deliveries failed their signature`);
    rows.push({
      runtime: name,
      what: `webhook backlog: the first ${target} task events of the log`,
      p50: Number.NaN,
      p99: Number.NaN,
      perSecond: target / drained,
    });
    await backlog.close();
  } finally {
    await system.stop();
  }
  return { rows, notes };
};

const main = async () => {
  const all: Row[] = [];
  const notes: string[] = [];
  for (const name of runtimes) {
    const { rows, notes: n } = await benchRuntime(name);
    all.push(...rows);
    notes.push(...n.map((x) => `${name}: ${x}`));
  }
  const lines = [
    `### Read side, ${TASKS} tasks in the log, ${QUERIES} sequential requests per query (c=1)`,
    '',
    '| runtime | what | p50 ms | p99 ms | per second |',
    '|---|---|---|---|---|',
    ...all.map(
      (r) =>
        `| ${r.runtime} | ${r.what} | ${Number.isNaN(r.p50) ? '' : ms(r.p50)} | ${Number.isNaN(r.p99) ? '' : ms(r.p99)} | ${r.perSecond.toFixed(0)} |`,
    ),
    '',
    ...notes.map((n) => `- ${n}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
};

main().then(
  () => process.exit(0),
  (error) => {
    log(`bench:read failed: ${error instanceof Error ? error.stack : String(error)}`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  },
);
