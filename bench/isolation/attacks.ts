/**
 * What tenant A does to the hub in the isolation benchmark, one attack per item of issue 15 part A, each a
 * loop that runs until its signal aborts and counts the answers it got (by HTTP status or JSON-RPC code).
 * Every loop is bounded in time and in concurrency; every target is on loopback.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Attacker {
  url: string;
  key: string;
  /** A loopback server that accepts connections and never answers (push endpoints that hang). */
  blackHole: string;
}

export type Outcomes = Map<string, number>;
type Attack = (a: Attacker, signal: AbortSignal, out: Outcomes) => Promise<void>;

const count = (out: Outcomes, what: string) => out.set(what, (out.get(what) ?? 0) + 1);

/** One request, its outcome counted: `200`, `413`, `rpc -32602`, `error <cause>`. */
const request = async (a: Attacker, out: Outcomes, path: string, init: RequestInit = {}) => {
  try {
    const res = await fetch(`${a.url}${path}`, {
      signal: AbortSignal.timeout(20_000),
      ...init,
      headers: {
        'content-type': 'application/json',
        'a2a-version': '1.0',
        'x-api-key': a.key,
        ...init.headers,
      },
    });
    const text = await res.text();
    let what = String(res.status);
    if (path.endsWith('jsonrpc') && res.status === 200 && text.includes('"error"')) {
      what = `rpc ${(JSON.parse(text) as { error: { code: number } }).error.code}`;
    }
    count(out, what);
    return text;
  } catch (error) {
    count(out, `error ${(error as Error).cause ?? (error as Error).message}`.slice(0, 60));
    return '';
  }
};

const rpc = (a: Attacker, out: Outcomes, method: string, params: unknown) =>
  request(a, out, '/a2a/jsonrpc', {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });

/** `n` loops of `step` until the signal aborts. */
/**
 * Requests per second of one attack, all its loops together (BENCH_ATTACK_RATE, default 20); 0 floods:
 * every loop sends its next request as soon as the last is answered. A paced attack measures the attack's
 * vector (a pattern, a template, a stream that is not read); a flood measures raw volume as well, which only
 * per-tenant quotas can hold back.
 */
export const ATTACK_RATE = Number(process.env.BENCH_ATTACK_RATE ?? 20);

/**
 * `n` loops of `step` until the signal aborts, paced to ATTACK_RATE requests per second in all, or to
 * `share` of it where an attack runs several `loops` at once (their shares add up to 1).
 */
const loops = (n: number, signal: AbortSignal, step: () => Promise<unknown>, share = 1) =>
  Promise.all(
    Array.from({ length: n }, async () => {
      const interval = ATTACK_RATE > 0 ? (n * 1000) / (ATTACK_RATE * share) : 0;
      while (!signal.aborted) {
        const started = performance.now();
        await step();
        const wait = interval - (performance.now() - started);
        if (wait > 0 && !signal.aborted) await new Promise((r) => setTimeout(r, wait));
      }
    }),
  );

const defineWorkflow = (a: Attacker, out: Outcomes, definition: unknown) =>
  request(a, out, '/api/admin/workflows', { method: 'POST', body: JSON.stringify(definition) });

const startRun = (a: Attacker, out: Outcomes, name: string, input: string) =>
  request(a, out, `/api/admin/workflows/${name}/runs`, { method: 'POST', body: JSON.stringify({ input }) });

const text = (messageId: string, body: string, extra: Record<string, unknown> = {}) => ({
  message: { messageId, role: 'ROLE_USER', parts: [{ text: body }] },
  ...extra,
});

/** A1: a decision on a catastrophic-backtracking pattern, fed the input that makes it backtrack. */
const regex: Attack = async (a, signal, out) => {
  const name = `redos-${randomUUID().slice(0, 8)}`;
  await defineWorkflow(a, out, {
    name,
    start: 'echo',
    nodes: {
      echo: { kind: 'task', agent: 'echo', input: '{{input}}', next: 'check' },
      check: { kind: 'decision', cases: [{ when: { step: 'echo', matches: '^(a+)+$' }, next: 'echo2' }] },
      echo2: { kind: 'task', agent: 'echo', input: 'matched' },
    },
  });
  await loops(2, signal, () => startRun(a, out, name, `${'a'.repeat(31)}!`));
};

/**
 * A2's and A5's setup, before the phase: 90 tasks of A's with a 100 KB message each (9 MB of events), and
 * the hub caught up with them (listed), so the phase measures the attack, not the setup's tail.
 */
const nineMegabytesOfEvents = async (a: Attacker, out: Outcomes) => {
  const total = async () =>
    (
      JSON.parse((await rpc(a, out, 'ListTasks', { pageSize: 1, historyLength: 0 })) || '{}') as {
        result?: { totalSize: number };
      }
    ).result?.totalSize ?? 0;
  const before = await total();
  const chunk = 'x'.repeat(100_000);
  let sent = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (sent++ < 90) await rpc(a, out, 'SendMessage', text(`tck-complete-task-${randomUUID()}`, chunk));
    }),
  );
  const deadline = Date.now() + 60_000;
  while ((await total()) < before + 90 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
};

/** A2: 300 event streams from the start of A's 9 MB log, opened one after another, and never read. */
const eventStreams: Attack = async (a, signal, out) => {
  // Every stream is dropped when the phase ends, answered or not.
  const held = new AbortController();
  signal.addEventListener('abort', () => held.abort(), { once: true });
  let opened = 0;
  await loops(4, signal, async () => {
    if (opened++ >= 300) return new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    try {
      const res = await fetch(`${a.url}/api/events?after=0`, {
        headers: { 'x-api-key': a.key },
        signal: held.signal,
      });
      count(out, String(res.status)); // the body is never read: a reader that does not read
      if (res.status !== 200) await res.body?.cancel();
    } catch (error) {
      if (!signal.aborted) count(out, `error ${(error as Error).message}`.slice(0, 60));
    }
  });
};

/** A3: tasks with as many push configs as they take, all pointing at an endpoint that never answers. */
const pushStarvation: Attack = async (a, signal, out) => {
  await loops(2, signal, async () => {
    const sent = await rpc(a, out, 'SendMessage', {
      ...text(`tck-complete-task-${randomUUID()}`, 'push me'),
      configuration: { returnImmediately: true, taskPushNotificationConfig: { url: a.blackHole } },
    });
    const taskId = (JSON.parse(sent || '{}') as { result?: { task?: { id: string } } }).result?.task?.id;
    if (!taskId) return;
    for (let i = 0; i < 12 && !signal.aborted; i++) {
      await rpc(a, out, 'CreateTaskPushNotificationConfig', { taskId, url: `${a.blackHole}/${i}` });
    }
  });
};

/** A4: a 22 KB template of placeholders run with a 60 KB input. */
const templateAmplification: Attack = async (a, signal, out) => {
  const name = `amplify-${randomUUID().slice(0, 8)}`;
  await defineWorkflow(a, out, {
    name,
    start: 'blow',
    nodes: { blow: { kind: 'task', agent: 'echo', input: '{{input}}'.repeat(2_400) } },
  });
  await loops(1, signal, () => startRun(a, out, name, 'y'.repeat(60_000)));
};

/** A5: 9 MB messages, and ListTasks pages over the tenant's large tasks (its setup made 90 more). */
const oversized: Attack = async (a, signal, out) => {
  // Built and encoded once: the hub refuses it by its declared length, so the same bytes serve every send,
  // and the attacker's own work (9 MB stringified per send) stays out of the two cores B shares.
  const huge = Buffer.from(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: text(`tck-complete-task-${randomUUID()}`, 'z'.repeat(9 * 1024 * 1024)),
    }),
  );
  await Promise.all([
    loops(1, signal, () => request(a, out, '/a2a/jsonrpc', { method: 'POST', body: huge }), 0.5),
    loops(2, signal, () => rpc(a, out, 'ListTasks', { pageSize: 100 }), 0.5),
  ]);
};

/** A6: one messageId sent over and over, at once. */
const duplicates: Attack = async (a, signal, out) => {
  const id = `tck-complete-task-${randomUUID()}`;
  await loops(8, signal, () => rpc(a, out, 'SendMessage', text(id, 'again')));
};

/** A7: bodies and parameters built to find a 500. */
const malformed: Attack = async (a, signal, out) => {
  const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  const bodies = [
    `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"n\\u0000ul","role":"ROLE_USER","parts":[{"text":"a"}]}}}`,
    `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"s","role":"ROLE_USER","parts":[{"text":"\\ud800"}]}}}`,
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: text(randomUUID(), 'c', {
        message: {
          messageId: randomUUID(),
          role: 'ROLE_USER',
          parts: [{ text: 'c' }],
          contextId: 'c'.repeat(3000),
        },
      }),
    }),
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'ListTasks',
      params: { statusTimestampAfter: '0000-01-01T00:00:00Z' },
    }),
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ListTasks', params: { pageToken: '!!not-a-token' } }),
    `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"metadata":${deep}}}`,
    '{"jsonrpc":"2.0",',
  ];
  const paths = ['/api/agents?skill=a%00b', '/api/events?after=abc', '/api/events?after=-1'];
  let i = 0;
  await loops(4, signal, () => {
    const n = i++;
    if (n % 3 === 2) return request(a, out, paths[n % paths.length]!);
    return request(a, out, '/a2a/jsonrpc', { method: 'POST', body: bodies[n % bodies.length]! });
  });
};

/** Each attack, with what it needs in place first (`setup`, run before the phase and not timed). */
export const attacks: Array<{
  name: string;
  item: string;
  run: Attack;
  setup?: (a: Attacker, out: Outcomes) => Promise<void>;
}> = [
  { name: 'regex backtracking', item: 'A1', run: regex },
  { name: 'event streams', item: 'A2', run: eventStreams, setup: nineMegabytesOfEvents },
  { name: 'push starvation', item: 'A3', run: pushStarvation },
  { name: 'template amplification', item: 'A4', run: templateAmplification },
  { name: 'oversized + ListTasks', item: 'A5', run: oversized, setup: nineMegabytesOfEvents },
  { name: 'duplicate messages', item: 'A6', run: duplicates },
  { name: 'malformed input', item: 'A7', run: malformed },
];

/** A loopback endpoint that takes connections and requests and never answers any. */
export const startBlackHole = () =>
  new Promise<{ url: string; server: Server }>((resolve) => {
    const server = createServer(() => {});
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server }),
    );
  });
