/**
 * Push notifications end to end, on both runtimes: configs set over A2A JSON-RPC, the delivery saga
 * POSTing to a real webhook receiver (node:http on 127.0.0.1), retries, a restart, and the SSRF guard.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { A2AError } from '../../a2a-edge/errors.ts';
import { pushConfigs } from '../../a2a-edge/push-configs.ts';
import type { PushConfig } from '../../a2a-edge/service.ts';
import { handle } from '../../commands/handle.ts';
import { pushConfigDecider } from '../../commands/push-config.ts';
import { taskDecider } from '../../commands/task.ts';
import type { Task } from '../../events/a2a.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import { pushStream } from '../../events/push.ts';
import { taskStream } from '../../events/task.ts';
import type { Delivery } from '../../infra/bus/port.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import type { Lookup } from '../../infra/ssrf.ts';
import { type PushDeliveryDeps, pushDelivery } from '../../sagas/push-delivery.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';

/** A push payload (a StreamResponse), as far as these tests look into it. */
interface Body {
  task?: Task;
  statusUpdate?: { taskId: string; status: { state: string } };
  artifactUpdate?: {
    taskId: string;
    artifact: { parts: Array<{ text?: string }> };
    append?: boolean;
    lastChunk?: boolean;
  };
}
interface Received {
  headers: http.IncomingHttpHeaders;
  body: Body;
  status: number;
}
type RpcReply<T> = { result?: T; error?: { code: number; message: string } };
type ConfigList = { configs: PushConfig[]; nextPageToken: string };

/** A webhook receiver: answers with `answer(n)` (n = 0-based request count); 'down' drops the connection. */
const receiver = async (answer: (n: number) => number | 'down' = () => 200) => {
  const received: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => {
      const status = answer(n++);
      if (status === 'down') {
        req.socket.destroy();
        return;
      }
      received.push({ headers: req.headers, body: JSON.parse(raw), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    delivered: () => received.filter((r) => r.status >= 200 && r.status < 300),
    requests: () => n,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
};

const waitFor = async <T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * On the distributed runtime a new key reaches the tenants read model only once the event log's visibility
 * horizon passes it (concurrent transactions of other test files hold it back), and the edge caches an
 * unknown key for a few seconds: wait until the key is accepted.
 */
const keyAccepted = (url: string, key: string) =>
  waitFor(`API key accepted by ${url}`, async () => {
    const res = await fetch(`${url}/a2a/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'probe' } }),
    });
    await res.body?.cancel();
    return res.status !== 401;
  });

/**
 * The saga and the config operations on their own, over an in-memory PGlite store, with a fake DNS and a
 * fake HTTP transport: the paths a live hub does not reach on demand (final failures, a dangling attempt
 * of another process, DNS changing between set and delivery, paging). Nothing leaves the process.
 */
const direct = suite('push delivery saga and configs (direct, in-memory)');
let store: EventStore;
let pglite: PGlite;
const caller = { tenant: 'acme', principal: 'apikey:acme/k1' };
const at = () => new Date().toISOString();
let dns: Record<string, string> = {};
const lookup: Lookup = async (host) => {
  const address = dns[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};
const posts: Array<{ url: string; headers: Headers; body: unknown }> = [];
let answer = 200;
const fakeFetch = async (url: URL, init: RequestInit) => {
  posts.push({ url: url.href, headers: new Headers(init.headers), body: JSON.parse(String(init.body)) });
  return new Response(null, { status: answer });
};
const configs = () => pushConfigs({ store, allowPrivateUrls: false, lookup });
const saga = (extra: Partial<PushDeliveryDeps> = {}) =>
  pushDelivery({
    store,
    log: pino({ level: 'silent' }),
    allowPrivateUrls: false,
    lookup,
    fetch: fakeFetch,
    maxDeliver: 3,
    ...extra,
  });
const deliveryOf = async (taskId: string, deliveryCount: number): Promise<Delivery> => {
  const events = await store.readStream(taskStream(taskId));
  return { event: events[events.length - 1]!, subject: 'test', deliveryCount, working: () => {} };
};
/** A completed task: submitted, working, completed (revisions 0..2). */
const completedTask = async () => {
  const taskId = randomUUID();
  const run = (command: Parameters<typeof taskDecider.decide>[0]) =>
    handle(store, taskStream(taskId), command, taskDecider, caller);
  await run({
    type: 'SubmitTask',
    taskId,
    contextId: 'ctx',
    message: { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }] },
    agent: null,
    at: at(),
  });
  await run({ type: 'StartWork', at: at() });
  await run({ type: 'UpdateStatus', state: 'TASK_STATE_COMPLETED', at: at() });
  return taskId;
};
const recorded = async (taskId: string, type: string) =>
  (await store.readStream(pushStream(taskId)))
    .filter((e) => e.type === type)
    .map((e) => e.data as Record<string, unknown>);
const rejects = async (p: Promise<unknown>, check: (e: unknown) => void) => {
  try {
    await p;
  } catch (error) {
    check(error);
    return;
  }
  assert.unreachable('expected a rejection');
};

direct.before(async () => {
  pglite = await PGlite.create();
  store = await createPgliteEventStore({ db: pglite });
});
direct.after(async () => {
  await store.close();
  await pglite.close();
});
direct.before.each(() => {
  dns = { 'hooks.example': '93.184.216.34' };
  posts.length = 0;
  answer = 200;
});

direct('delivers every event in order with the auth headers, once; a redelivery POSTs nothing', async () => {
  const taskId = await completedTask();
  const config = await configs().create(caller, taskId, {
    url: 'https://hooks.example/a2a',
    token: 'tok',
    authentication: { scheme: 'Basic', credentials: 'dXNlcjpwdw==' },
  });
  await saga().handler(await deliveryOf(taskId, 1));
  assert.equal(
    posts.map((p) => Object.keys(p.body as object)[0]),
    ['task', 'statusUpdate', 'statusUpdate'],
  );
  for (const p of posts) {
    assert.is(p.url, 'https://hooks.example/a2a');
    assert.is(p.headers.get('content-type'), 'application/a2a+json');
    assert.is(p.headers.get('authorization'), 'Basic dXNlcjpwdw==');
    assert.is(p.headers.get('x-a2a-notification-token'), 'tok');
  }
  await saga().handler(await deliveryOf(taskId, 2));
  assert.is(posts.length, 3, 'nothing again');
  assert.equal(
    (await recorded(taskId, 'PushDeliverySucceeded')).map((d) => [d.configId, d.revision, d.status]),
    [
      [config.id, 0, 200],
      [config.id, 1, 200],
      [config.id, 2, 200],
    ],
  );
});

direct('the last bus delivery records its failure as final', async () => {
  const taskId = await completedTask();
  await configs().create(caller, taskId, { url: 'https://hooks.example/a2a' });
  answer = 503;
  await rejects(saga().handler(await deliveryOf(taskId, 1)), (e) => assert.match(String(e), /HTTP 503/));
  await rejects(saga().handler(await deliveryOf(taskId, 3)), (e) => assert.match(String(e), /HTTP 503/));
  assert.equal(
    (await recorded(taskId, 'PushDeliveryFailed')).map((d) => [d.revision, d.attempt, d.final]),
    [
      [0, 1, false],
      [0, 2, true],
    ],
  );
  assert.is(posts.length, 2, 'nothing after the first failure: delivery is in order');
});

direct(
  "another process's fresh open attempt is left alone; a stale one is made again as the next attempt",
  async () => {
    const taskId = await completedTask();
    const config = await configs().create(caller, taskId, { url: 'https://hooks.example/a2a' });
    // Another copy of the saga recorded its intent and (as far as we know) is POSTing now.
    await handle(
      store,
      pushStream(taskId),
      { type: 'RecordDeliveryAttempt', configId: config.id, revision: 0, attempt: 1, at: at() },
      pushConfigDecider,
      { tenant: caller.tenant, principal: 'saga:push-delivery:elsewhere' },
    );
    await rejects(saga().handler(await deliveryOf(taskId, 1)), (e) =>
      assert.match(String(e), /in flight elsewhere/),
    );
    assert.is(posts.length, 0);
    // It never recorded an outcome: once the attempt is stale, it was a crash; the retry is attempt 2.
    await saga({ staleAttemptMs: 0 }).handler(await deliveryOf(taskId, 2));
    assert.is(posts.length, 3);
    assert.equal(
      (await recorded(taskId, 'PushDeliveryAttempted')).map((d) => [d.revision, d.attempt]),
      [
        [0, 1],
        [0, 2],
        [1, 1],
        [2, 1],
      ],
    );
  },
);

direct(
  'the URL is checked again at delivery: a name now resolving to a private address is not called',
  async () => {
    const taskId = await completedTask();
    await configs().create(caller, taskId, { url: 'https://hooks.example/a2a' });
    dns = { 'hooks.example': '10.0.0.8' };
    await rejects(saga().handler(await deliveryOf(taskId, 1)), (e) => assert.match(String(e), /private/));
    assert.is(posts.length, 0);
    const [failure] = await recorded(taskId, 'PushDeliveryFailed');
    assert.match(String(failure?.error), /hooks\.example resolves to 10\.0\.0\.8/);
  },
);

direct('a deleted config gets nothing more', async () => {
  const taskId = await completedTask();
  const config = await configs().create(caller, taskId, { url: 'https://hooks.example/a2a' });
  await configs().delete(caller, taskId, config.id);
  await configs().delete(caller, taskId, config.id);
  await saga().handler(await deliveryOf(taskId, 1));
  assert.is(posts.length, 0);
});

direct('configs: refused URLs, not found, tenant scoping, paging that survives deletes', async () => {
  const taskId = await completedTask();
  const c = configs();
  await rejects(c.create(caller, taskId, { url: 'http://127.0.0.1:8080/hook' }), (e) => {
    assert.instance(e, A2AError);
    assert.is((e as A2AError).code, -32602);
    assert.match((e as A2AError).message, /push notification URL refused: .*loopback/);
  });
  await rejects(c.create(caller, taskId, { url: 'https://nowhere.example/' }), (e) =>
    assert.match((e as A2AError).message, /cannot resolve nowhere\.example/),
  );
  await rejects(c.get(caller, taskId, 'nope'), (e) => {
    assert.is((e as A2AError).reason, 'TASK_NOT_FOUND');
    assert.match((e as A2AError).message, /Push notification config with id 'nope' not found/);
  });
  const a = await c.create(caller, taskId, { id: 'a', url: 'https://hooks.example/1' });
  const b = await c.create(caller, taskId, { id: 'b', url: 'https://hooks.example/2', tenant: 'acme' });
  await c.create(caller, taskId, { id: 'c', url: 'https://hooks.example/3' });
  assert.equal(b, { id: 'b', taskId, url: 'https://hooks.example/2', tenant: 'acme' });
  const stranger = { tenant: 'other', principal: 'apikey:other/k' };
  await rejects(c.get(stranger, taskId, 'a'), (e) => assert.is((e as A2AError).reason, 'TASK_NOT_FOUND'));
  await rejects(c.list(stranger, taskId, 10), (e) => assert.is((e as A2AError).reason, 'TASK_NOT_FOUND'));
  await rejects(c.create(stranger, taskId, { url: 'https://hooks.example/x' }), (e) =>
    assert.is((e as A2AError).reason, 'TASK_NOT_FOUND'),
  );

  const first = await c.list(caller, taskId, 2);
  assert.equal(
    first.configs.map((x) => x.id),
    ['a', 'b'],
  );
  assert.ok(first.nextPageToken);
  await c.delete(caller, taskId, 'b');
  const second = await c.list(caller, taskId, 2, first.nextPageToken);
  assert.equal(
    second.configs.map((x) => x.id),
    ['c'],
  );
  assert.is(second.nextPageToken, '');
  await rejects(c.list(caller, taskId, 2, 'garbage'), (e) => assert.is((e as A2AError).code, -32602));
  // Replacing keeps the place; the same config again writes nothing.
  const before = (await store.readStream(pushStream(taskId))).length;
  await c.create(caller, taskId, { id: 'a', url: 'https://hooks.example/1' });
  assert.is((await store.readStream(pushStream(taskId))).length, before);
  await c.create(caller, taskId, { id: 'a', url: 'https://hooks.example/1b' });
  assert.equal(
    (await c.list(caller, taskId, 10)).configs.map((x) => [x.id, x.url]),
    [
      ['a', 'https://hooks.example/1b'],
      ['c', 'https://hooks.example/3'],
    ],
  );
  assert.equal(await c.get(caller, taskId, 'a'), { ...a, url: 'https://hooks.example/1b' });
});

const kinds = await runtimesFor('push delivery');

const TERMINAL = ['TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED'];

for (const kind of kinds) {
  const s = suite(`push delivery (${kind})`);
  let hub: TestHub;

  const rpc = async <T = unknown>(
    method: string,
    params: unknown,
    key = hub.apiKey,
  ): Promise<RpcReply<T>> => {
    const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
      body: JSON.stringify({ jsonrpc: '2.0', id: randomUUID(), method, params }),
    });
    assert.is(res.status, 200);
    return (await res.json()) as RpcReply<T>;
  };
  const ok = async <T = unknown>(method: string, params: unknown, key?: string): Promise<T> => {
    const r = await rpc<T>(method, params, key);
    if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  };
  const message = (prefix: string, extra: Record<string, unknown> = {}) => ({
    messageId: `${prefix}-${randomUUID()}`,
    role: 'ROLE_USER',
    parts: [{ text: 'push me' }],
    ...extra,
  });
  const taskEvents = (taskId: string) => hub.runtime.store.readStream(`task-${taskId}`);
  const pushEvents = (taskId: string) => hub.runtime.store.readStream(`push-${taskId}`);
  const ofType = (events: RecordedEvent[], type: string) =>
    events.filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);

  /** Every event of the (terminal) task recorded as delivered to the config; returns the task's events. */
  const allDelivered = (taskId: string, configId: string) =>
    waitFor(`every event of task ${taskId} delivered`, async () => {
      const events = await taskEvents(taskId);
      const last = events[events.length - 1];
      if (last?.type !== 'TaskStatusUpdated') return false;
      if (!TERMINAL.includes((last.data as { state: string }).state)) return false;
      const done = ofType(await pushEvents(taskId), 'PushDeliverySucceeded').filter(
        (d) => d.configId === configId,
      );
      return done.some((d) => d.revision === last.revision) ? events : false;
    });

  /** Each task revision succeeded exactly once, after an attempt recorded before it. */
  const assertRecordedOncePerRevision = async (taskId: string, configId: string, revisions: number) => {
    const push = (await pushEvents(taskId)).filter(
      (e) => (e.data as { configId?: string }).configId === configId,
    );
    const succeeded = ofType(push, 'PushDeliverySucceeded').map((d) => d.revision);
    assert.equal(succeeded, [...Array(revisions).keys()], 'one success per task revision, in order');
    for (const e of push.filter((x) => x.type === 'PushDeliverySucceeded')) {
      const { revision } = e.data as { revision: number };
      const intent = push.find(
        (x) =>
          x.type === 'PushDeliveryAttempted' &&
          (x.data as { revision: number }).revision === revision &&
          x.revision < e.revision,
      );
      assert.ok(intent, `an attempt of revision ${revision} is recorded before its success`);
    }
    return push;
  };

  const assertHeaders = (r: Received) => {
    assert.is(r.headers['content-type'], 'application/a2a+json');
    assert.is(r.headers.authorization, 'Bearer s3cret');
  };

  s.before(async () => {
    hub = await startHub(kind);
    await keyAccepted(hub.url, hub.apiKey);
  });
  s.after(async () => hub?.stop());

  s(
    'CreateTaskPushNotificationConfig over JSON-RPC: the backlog, then every new event, in order; get/list/delete',
    async () => {
      const r = await receiver();
      try {
        const task = await ok<{ task: Task }>('SendMessage', { message: message('tck-input-required') });
        assert.is(task.task.status.state, 'TASK_STATE_INPUT_REQUIRED');
        const taskId: string = task.task.id;
        const config = await ok<PushConfig>('CreateTaskPushNotificationConfig', {
          taskId,
          url: r.url,
          token: 'tok-1',
          authentication: { scheme: 'Bearer', credentials: 's3cret' },
        });
        assert.match(config.id, /^[0-9a-f-]{36}$/);
        assert.equal(config, {
          id: config.id,
          taskId,
          url: r.url,
          token: 'tok-1',
          authentication: { scheme: 'Bearer', credentials: 's3cret' },
        });
        assert.equal(await ok('GetTaskPushNotificationConfig', { taskId, id: config.id }), config);
        assert.equal(await ok('ListTaskPushNotificationConfigs', { taskId }), {
          configs: [config],
          nextPageToken: '',
        });
        // Another tenant: the task (and so its configs) does not exist for it.
        const other = await hub.addTenant(`other${Math.random().toString(36).slice(2, 8)}`);
        await keyAccepted(hub.url, other);
        const foreign = await rpc('GetTaskPushNotificationConfig', { taskId, id: config.id }, other);
        assert.is(foreign.error?.code, -32001);

        // The config came after the task's events: they are delivered anyway, snapshot first.
        const backlog = (await taskEvents(taskId)).length;
        await waitFor('the backlog', async () => r.delivered().length >= backlog);
        await ok('SendMessage', { message: message('follow-up', { taskId }) });
        const events = await allDelivered(taskId, config.id);
        const got = r.delivered();
        assert.is(got.length, events.length, 'one POST per task event');
        assert.ok(got[0]!.body.task, 'the task first');
        assert.is(got[0]!.body.task?.id, taskId);
        const states = got.slice(1).map((x) => x.body.statusUpdate?.status?.state);
        assert.is(states[states.length - 1], 'TASK_STATE_COMPLETED');
        assert.ok(states.includes('TASK_STATE_INPUT_REQUIRED'));
        for (const x of got) {
          assertHeaders(x);
          assert.is(x.headers['x-a2a-notification-token'], 'tok-1');
        }
        await assertRecordedOncePerRevision(taskId, config.id, events.length);

        assert.equal(await ok('DeleteTaskPushNotificationConfig', { taskId, id: config.id }), {});
        assert.equal(
          await ok('DeleteTaskPushNotificationConfig', { taskId, id: config.id }),
          {},
          'idempotent',
        );
        const gone = await rpc('GetTaskPushNotificationConfig', { taskId, id: config.id });
        assert.is(gone.error?.code, -32001);
        assert.match(gone.error!.message, /config .* not found/);
        assert.equal(await ok('ListTaskPushNotificationConfigs', { taskId }), {
          configs: [],
          nextPageToken: '',
        });
        assert.is(r.received.length, events.length, 'nothing was POSTed twice');
      } finally {
        await r.close();
      }
    },
  );

  s(
    'SendMessage with taskPushNotificationConfig (returnImmediately, chunked stream): task, updates, completed',
    async () => {
      const r = await receiver();
      try {
        const sent = await ok<{ task: Task }>('SendMessage', {
          message: message('tck-stream-artifact-chunked'),
          configuration: {
            returnImmediately: true,
            taskPushNotificationConfig: {
              url: r.url,
              authentication: { scheme: 'Bearer', credentials: 's3cret' },
            },
          },
        });
        const taskId: string = sent.task.id;
        assert.not.ok(TERMINAL.includes(sent.task.status.state), 'returned before the task finished');
        const { configs } = await ok<ConfigList>('ListTaskPushNotificationConfigs', { taskId });
        assert.is(configs.length, 1);
        const configId = configs[0]!.id;
        assert.match(configId, /^[0-9a-f-]{36}$/, 'a server-generated id');

        const events = await allDelivered(taskId, configId);
        const got = r.delivered();
        assert.is(got.length, events.length);
        for (const x of got) assertHeaders(x);
        const kindsSeen = got.map((x) => Object.keys(x.body)[0]);
        assert.is(kindsSeen[0], 'task');
        assert.ok(kindsSeen.slice(1).every((k) => k === 'statusUpdate' || k === 'artifactUpdate'));
        const chunks = got
          .filter((x) => x.body.artifactUpdate)
          .map((x) => x.body.artifactUpdate!.artifact!.parts[0]!.text);
        assert.equal(chunks, ['chunk-1 ', 'chunk-2 ', 'chunk-3']);
        const artifactUpdates = got.filter((x) => x.body.artifactUpdate).map((x) => x.body.artifactUpdate!);
        assert.equal(
          artifactUpdates.map((a) => [a.append, a.lastChunk, a.taskId]),
          [
            [false, false, taskId],
            [true, false, taskId],
            [true, true, taskId],
          ],
        );
        assert.is(got[got.length - 1]!.body.statusUpdate?.status?.state, 'TASK_STATE_COMPLETED');
        assert.ok(
          kindsSeen.indexOf('artifactUpdate') > kindsSeen.indexOf('statusUpdate'),
          'working before the first chunk',
        );
        const push = await assertRecordedOncePerRevision(taskId, configId, events.length);
        assert.is(ofType(push, 'PushDeliveryAttempted').length, events.length);
        assert.is(ofType(push, 'PushDeliveryFailed').length, 0);
      } finally {
        await r.close();
      }
    },
  );

  s(
    'a receiver answering 500 twice then 200: delivered, failures recorded, nothing delivered twice',
    async () => {
      const r = await receiver((n) => (n < 2 ? 500 : 200));
      try {
        const sent = await ok<{ task: Task }>('SendMessage', {
          message: message('tck-complete-task'),
          configuration: {
            returnImmediately: true,
            taskPushNotificationConfig: {
              id: 'flaky',
              url: r.url,
              authentication: { scheme: 'Bearer', credentials: 's3cret' },
            },
          },
        });
        const taskId: string = sent.task.id;
        const events = await allDelivered(taskId, 'flaky');
        // Let redeliveries of the task's other events come and go: none may POST again.
        await new Promise((res) => setTimeout(res, 1500));
        assert.equal(
          r.received.slice(0, 3).map((x) => [x.status, Object.keys(x.body)[0]]),
          [
            [500, 'task'],
            [500, 'task'],
            [200, 'task'],
          ],
        );
        assert.is(r.delivered().length, events.length, 'each event answered 2xx once');
        assert.is(r.received.length, events.length + 2);
        const push = await assertRecordedOncePerRevision(taskId, 'flaky', events.length);
        const failures = ofType(push, 'PushDeliveryFailed');
        assert.equal(
          failures.map((f) => [f.revision, f.attempt, f.final]),
          [
            [0, 1, false],
            [0, 2, false],
          ],
        );
        assert.ok(failures.every((f) => /HTTP 500/.test(String(f.error))));
        assert.equal(
          ofType(push, 'PushDeliveryAttempted')
            .filter((a) => a.revision === 0)
            .map((a) => a.attempt),
          [1, 2, 3],
        );
      } finally {
        await r.close();
      }
    },
  );

  s(
    'a restart while the receiver is down: once it is back, every event is delivered, in order, once',
    async () => {
      let up = false;
      const r = await receiver(() => (up ? 200 : 'down'));
      try {
        const done = await ok<{ task: Task }>('SendMessage', {
          message: message('tck-stream-001'),
          configuration: {
            taskPushNotificationConfig: {
              id: 'restart',
              url: r.url,
              authentication: { scheme: 'Bearer', credentials: 's3cret' },
            },
          },
        });
        const taskId: string = done.task.id;
        assert.is(done.task.status.state, 'TASK_STATE_COMPLETED');
        await waitFor('a failed delivery', async () =>
          ofType(await pushEvents(taskId), 'PushDeliveryFailed').length > 0 ? true : undefined,
        );
        await hub.restart();
        const failedBefore = ofType(await pushEvents(taskId), 'PushDeliveryFailed').length;
        up = true;
        const events = await allDelivered(taskId, 'restart');
        await new Promise((res) => setTimeout(res, 500));
        const got = r.delivered();
        assert.is(got.length, events.length);
        assert.ok(got[0]!.body.task);
        assert.is(got[got.length - 1]!.body.statusUpdate?.status?.state, 'TASK_STATE_COMPLETED');
        for (const x of got) assertHeaders(x);
        const push = await assertRecordedOncePerRevision(taskId, 'restart', events.length);
        const failures = ofType(push, 'PushDeliveryFailed');
        assert.ok(failures.length >= failedBefore && failedBefore > 0);
        assert.ok(failures.every((f) => f.revision === 0 && !f.final));
        // Attempts of revision 0 are numbered on across the restart: 1..n with no gap or repeat.
        const attempts = ofType(push, 'PushDeliveryAttempted')
          .filter((a) => a.revision === 0)
          .map((a) => a.attempt);
        assert.equal(
          attempts,
          attempts.map((_, i) => i + 1),
        );
        assert.is(attempts.length, failures.length + 1);
        // The hub still works after the restart.
        assert.ok((await ok<Task>('GetTask', { id: taskId })).id);
      } finally {
        await r.close();
      }
    },
  );

  s(
    'with AGENTCORE_ALLOW_PRIVATE_URLS=false, a loopback or link-local webhook is refused with -32602',
    async () => {
      const strict = await startHub(kind, { env: { AGENTCORE_ALLOW_PRIVATE_URLS: 'false' } });
      await keyAccepted(strict.url, strict.apiKey);
      const call = async (method: string, params: unknown) => {
        const res = await fetch(`${strict.url}/a2a/jsonrpc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': strict.apiKey },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
        });
        return (await res.json()) as RpcReply<{ task: Task }>;
      };
      try {
        const sent = await call('SendMessage', { message: message('tck-complete-task') });
        const taskId = sent.result!.task.id;
        for (const [url, why] of [
          ['http://127.0.0.1:9/hook', /loopback/],
          ['http://localhost:9/hook', /loopback/],
          ['http://169.254.169.254/latest/meta-data/', /link-local/],
          ['http://[::ffff:10.0.0.1]/hook', /private/],
        ] as const) {
          const refused = await call('CreateTaskPushNotificationConfig', { taskId, url });
          assert.is(refused.error?.code, -32602, url);
          assert.match(refused.error!.message, why);
        }
        const ftp = await call('CreateTaskPushNotificationConfig', { taskId, url: 'ftp://8.8.8.8/x' });
        assert.is(ftp.error?.code, -32602);
        assert.equal(await strict.runtime.store.readStream(`push-${taskId}`), [], 'nothing was written');
      } finally {
        await strict.stop();
      }
    },
  );

  s.run();
}

// Every suite is queued after the top-level await above: uvu starts one run for all of them.
direct.run();
