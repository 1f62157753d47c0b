/**
 * The load generator, run as its own process so its CPU is not the system's: reads one job as a JSON line
 * on stdin, writes JSON lines on stdout, the last one `{"phase":"result",...}`. Jobs:
 * - `pool`: creates `count` completed echo tasks (for `get` and `mixed`), returns their ids;
 * - `cannon`: autocannon for `seconds` at `connections` on scenario send | stream | get | mixed, every
 *   response checked (checks.ts); latency percentiles are autocannon's histogram;
 * - `subscribe`: creates `streams` input-required tasks, then (after a `go` line on stdin, so the
 *   orchestrator can read the server's RSS in between) opens one SubscribeToTask stream per task, then
 *   (after another `go`) sends each task its follow-up and reads every stream until it closes.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import {
  checkGet,
  checkSend,
  checkSendState,
  checkStream,
  checkSubscription,
  rpcResult,
  type Verdict,
} from './checks.ts';

export interface Target {
  /** The JSON-RPC endpoint. */
  url: string;
  headers: Record<string, string>;
  /** params.metadata.agent for echo requests (the hub's echo agent); none for the others. */
  agent?: string;
}
export type Scenario = 'send' | 'stream' | 'get' | 'mixed';
export type Job =
  | { kind: 'pool'; target: Target; count: number }
  | {
      kind: 'cannon';
      target: Target;
      scenario: Scenario;
      connections: number;
      seconds: number;
      taskIds: string[];
    }
  | {
      kind: 'subscribe';
      target: Target;
      streams: number;
      /** Stop creating tasks after this long (a slow system then holds fewer streams). */
      createSeconds: number;
      timeoutSeconds: number;
    };

export interface CannonResult {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  samples: string[];
}
export interface SubscribeResult {
  requests: number;
  created: number;
  opened: number;
  /** Streams still open when the orchestrator read the server's memory (the hub closes some early). */
  heldOpen: number;
  completed: number;
  events: number;
  followUpsPerSec: number;
  errors: number;
  samples: string[];
}

const lines = createInterface({ input: process.stdin });
const nextLine = (() => {
  const it = lines[Symbol.asyncIterator]();
  return async () => (await it.next()).value as string;
})();
const emit = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);

let rpcId = 0;
/** A SendMessage-shaped body; `agent` names the hub agent of a new task (none: the default agent). */
const messageBody = (
  method: string,
  messageId: string,
  text: string,
  to: { agent?: string; taskId?: string },
) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: ++rpcId,
    method,
    params: {
      message: {
        messageId,
        role: 'ROLE_USER',
        parts: [{ text }],
        ...(to.taskId ? { taskId: to.taskId } : {}),
      },
      ...(to.agent ? { metadata: { agent: to.agent } } : {}),
    },
  });
const getBody = (id: string) =>
  JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'GetTask', params: { id, historyLength: 0 } });
const subscribeBody = (id: string) =>
  JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'SubscribeToTask', params: { id } });
const token = () => `bench ${randomUUID()}`;

class Errors {
  count = 0;
  samples: string[] = [];
  add(why: Verdict) {
    if (why === null) return;
    this.count++;
    if (this.samples.length < 5 && !this.samples.includes(why)) this.samples.push(why);
  }
}

const pooled = new http.Agent({ keepAlive: true, maxSockets: 64 });
const post = (target: Target, body: string, agent: http.Agent = pooled) =>
  new Promise<{ status: number; body: string; res: http.IncomingMessage }>((resolve, reject) => {
    const req = http.request(
      target.url,
      { method: 'POST', agent, headers: { ...target.headers, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, res }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });

/** Runs `fn` over `items` with at most `limit` in flight. */
const inParallel = async <T>(items: T[], limit: number, fn: (item: T) => Promise<void>) => {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
};

const pool = async (target: Target, count: number) => {
  const taskIds: string[] = [];
  const errors = new Errors();
  await inParallel([...Array(count).keys()], 16, async () => {
    const text = token();
    try {
      const r = await post(target, messageBody('SendMessage', randomUUID(), text, target));
      const why = checkSend(r.status, r.body, text);
      errors.add(why);
      if (!why) taskIds.push((JSON.parse(r.body) as { result: { task: { id: string } } }).result.task.id);
    } catch (error) {
      errors.add(String(error));
    }
  });
  return { requests: count, taskIds, errors: errors.count, samples: errors.samples };
};

const cannon = async (job: Extract<Job, { kind: 'cannon' }>): Promise<CannonResult> => {
  const { target, scenario, taskIds } = job;
  const errors = new Errors();
  let checked = 0;
  type Expect = { kind: 'send' | 'stream'; text: string } | { kind: 'get'; id: string };
  const pick = (): Expect['kind'] => {
    if (scenario !== 'mixed') return scenario;
    const r = Math.random();
    return r < 0.7 ? 'send' : r < 0.9 ? 'get' : 'stream';
  };
  const latencies: number[] = [];
  const instance = autocannon({
    url: target.url,
    method: 'POST',
    connections: job.connections,
    duration: job.seconds,
    headers: { ...target.headers, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        // Called before every request: a fresh messageId and text each time, remembered for the check.
        setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
          const kind = pick();
          let body: string;
          if (kind === 'get') {
            const id = taskIds[Math.floor(Math.random() * taskIds.length)]!;
            context.expect = { kind, id } satisfies Expect;
            body = getBody(id);
          } else {
            const text = token();
            context.expect = { kind, text } satisfies Expect;
            body = messageBody(
              kind === 'send' ? 'SendMessage' : 'SendStreamingMessage',
              randomUUID(),
              text,
              target,
            );
          }
          return { ...req, body };
        },
        onResponse: (status: number, body: string, context: Record<string, unknown>) => {
          const e = context.expect as Expect;
          checked++;
          errors.add(
            e.kind === 'get'
              ? checkGet(status, body, e.id)
              : e.kind === 'send'
                ? checkSend(status, body, e.text)
                : checkStream(status, body, e.text),
          );
        },
      },
    ],
  });
  // autocannon's histogram holds whole milliseconds, too coarse at c=1: percentiles from its per-response times.
  instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  errors.count += result.errors + result.timeouts;
  if (result.errors + result.timeouts > 0)
    errors.samples.push(`${result.errors} socket errors, ${result.timeouts} timeouts`);
  return {
    requests: checked,
    reqPerSec: checked / result.duration,
    p50: pct(0.5),
    p99: pct(0.99),
    errors: errors.count,
    samples: errors.samples,
  };
};

const subscribe = async (job: Extract<Job, { kind: 'subscribe' }>): Promise<SubscribeResult> => {
  const { target } = job;
  const errors = new Errors();
  const taskIds: string[] = [];
  const started = Date.now();
  const createUntil = started + job.createSeconds * 1000;
  await inParallel([...Array(job.streams).keys()], 64, async () => {
    if (Date.now() > createUntil) return;
    try {
      // No agent named: the hub's default (scenario) agent parks `tck-input-required` tasks.
      const r = await post(
        target,
        messageBody('SendMessage', `tck-input-required-${randomUUID()}`, 'hold', {}),
      );
      const { result, error } = rpcResult(r.status, r.body);
      const task = (result as { task?: { id: string; status?: { state?: string } } } | undefined)?.task;
      if (error || task?.status?.state !== 'TASK_STATE_INPUT_REQUIRED')
        errors.add(error ?? `created in ${task?.status?.state}`);
      else taskIds.push(task.id);
    } catch (error) {
      errors.add(String(error));
    }
  });
  emit({ phase: 'created', created: taskIds.length, seconds: (Date.now() - started) / 1000 });
  await nextLine();

  // One socket per stream, no pooling: these are meant to stay open side by side.
  const streamAgent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const streams = new Map<string, { body: string; done: Promise<void> }>();
  let live = 0;
  await inParallel(taskIds, 256, async (id) => {
    await new Promise<void>((opened) => {
      const s = { body: '', done: Promise.resolve() };
      s.done = new Promise<void>((closed) => {
        const req = http.request(
          target.url,
          {
            method: 'POST',
            agent: streamAgent,
            headers: { ...target.headers, 'content-type': 'application/json' },
          },
          (res) => {
            res.setEncoding('utf8');
            if (res.statusCode !== 200) errors.add(`subscribe HTTP ${res.statusCode}`);
            res.on('data', (d: string) => {
              if (!s.body) {
                live++;
                streams.set(id, s);
                opened(); // open = the first event (the task) arrived
              }
              s.body += d;
            });
            res.on('end', () => {
              live--;
              closed();
            });
            res.on('error', () => {
              live--;
              closed();
            });
          },
        );
        req.on('error', (error) => {
          errors.add(`subscribe: ${error.message}`);
          opened();
          closed();
        });
        req.end(subscribeBody(id));
      });
      s.done.then(() => opened()); // a stream that closes before any data still frees its slot
    });
  });
  const heldOpen = live;
  emit({ phase: 'opened', opened: streams.size, heldOpen });
  await nextLine();

  const followStart = Date.now();
  // A fresh pool: the server may have closed the creation phase's idle keep-alive sockets meanwhile.
  const followAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  await inParallel([...streams.keys()], 64, async (id) => {
    try {
      const text = token();
      const r = await post(
        target,
        messageBody('SendMessage', randomUUID(), text, { taskId: id }),
        followAgent,
      );
      // Only the state: the hub's scenario agent answers a follow-up in a status message, not an artifact.
      errors.add(checkSendState(r.status, r.body, 'TASK_STATE_COMPLETED'));
    } catch (error) {
      errors.add(String(error));
    }
  });
  const followUpsPerSec = streams.size / ((Date.now() - followStart) / 1000);
  const timeout = new Promise<void>((r) => setTimeout(r, job.timeoutSeconds * 1000).unref());
  await Promise.race([Promise.all([...streams.values()].map((s) => s.done)), timeout]);
  let completed = 0;
  let events = 0;
  for (const s of streams.values()) {
    const c = checkSubscription(s.body);
    events += c.events;
    if (c.verdict === null) completed++;
    else errors.add(c.verdict);
  }
  return {
    requests: taskIds.length * 2 + streams.size,
    created: taskIds.length,
    opened: streams.size,
    heldOpen,
    completed,
    events,
    followUpsPerSec,
    errors: errors.count,
    samples: errors.samples,
  };
};

const main = async () => {
  const job = JSON.parse(await nextLine()) as Job;
  const result =
    job.kind === 'pool'
      ? await pool(job.target, job.count)
      : job.kind === 'cannon'
        ? await cannon(job)
        : await subscribe(job);
  emit({ phase: 'result', ...result });
  process.exit(0); // open streams / keep-alive sockets would otherwise keep the process up
};

main().catch((error) => {
  emit({ phase: 'result', fatal: String(error?.stack ?? error) });
  process.exit(1);
});
