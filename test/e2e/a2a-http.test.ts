/**
 * The A2A surface over HTTP, with plain fetch, against a whole hub on each runtime (embedded, distributed):
 * both bindings (JSON-RPC and HTTP+JSON), both protocol versions (1.0, 0.3), every error the hub can
 * produce, every scenario of the conformance agent, streams, resubscription and the agent card.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StreamItem } from '../../a2a-edge/service.ts';
import { sseResponse } from '../../a2a-edge/sse.ts';
import { hashApiKey } from '../../commands/bootstrap.ts';
import type { Message, Task } from '../../events/a2a.ts';
import { type RuntimeKind, startHub, type TestHub } from '../support/hub.ts';
import { requireService } from '../support/services.ts';

// biome-ignore lint/suspicious/noExplicitAny: wire JSON, checked by the assertions
type Json = Record<string, any>;
type StreamResponse = Json;

// Decided before any suite is queued: uvu starts running queued suites on the next tick.
const distributed = (await requireService('pgvector')) && (await requireService('nats'));

// ---------------------------------------------------------------------------------------------------------
// Helpers

const TIMEOUT_MS = 15_000;

/** Polls until `check` returns a value (not undefined/false), or fails after `ms`. */
const waitFor = async <T>(what: string, check: () => Promise<T | undefined | false>, ms = TIMEOUT_MS) => {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const msg = (prefix: string, extra: Json = {}): Message => ({
  messageId: `${prefix}-${randomUUID()}`,
  role: 'ROLE_USER',
  parts: [{ text: 'hello there' }],
  ...extra,
});

interface SseEvent {
  id?: string;
  data?: unknown;
  comments: string[];
}

/** Reads SSE events until the server closes the stream; a bounded wait, then the request is aborted. */
const readSse = async (response: Response, abort?: AbortController, ms = TIMEOUT_MS): Promise<SseEvent[]> => {
  const timer = setTimeout(() => abort?.abort(), ms);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    const reader = response.body!.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { comments: [] };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) event.comments.push(line.slice(1).trim());
          else if (line.startsWith('id:')) event.id = line.slice(3).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) event.data = JSON.parse(data.join('\n'));
        events.push(event);
      }
    }
  } catch (error) {
    if (abort?.signal.aborted) throw new Error(`the stream did not close within ${ms} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return events.filter((e) => e.data !== undefined);
};

interface Call {
  status: number;
  contentType: string;
  body: Json;
  headers: Headers;
}

const asCall = async (r: Response): Promise<Call> => {
  const text = await r.text();
  let body: Json = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { raw: text };
  }
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', body, headers: r.headers };
};

interface RpcOptions {
  /** '1.0' by default; null sends no A2A-Version header. */
  version?: string | null;
  key?: string | null;
  headers?: Record<string, string>;
  id?: string | number;
  signal?: AbortSignal;
}

/**
 * Waits until the hub's read model holds the key. hub.addTenant (which startHub uses for the distributed
 * hub's key) catches the tenants projection up, but when the hub's own projection runner holds the batch at
 * that moment (FOR UPDATE SKIP LOCKED), catchUp returns before the key is written; a request then fails
 * with 401 and the authenticator caches the miss for seconds.
 */
const keyVisible = (hub: TestHub, key: string) =>
  waitFor('the API key in the read model', async () => {
    const rows = await hub.runtime.db.query('SELECT 1 FROM rm_api_keys WHERE key_hash = $1', [
      hashApiKey(key),
    ]);
    return rows.length === 1;
  });

const makeClient = (hub: TestHub) => {
  const headersFor = (o: { key?: string | null; headers?: Record<string, string> }) => {
    const h: Record<string, string> = { 'content-type': 'application/json', ...o.headers };
    const key = o.key === undefined ? hub.apiKey : o.key;
    if (key) h['x-api-key'] = key;
    return h;
  };
  const rpcRaw = (body: string, o: RpcOptions = {}) => {
    const headers = headersFor(o);
    const version = o.version === undefined ? '1.0' : o.version;
    if (version !== null) headers['A2A-Version'] = version;
    return fetch(`${hub.url}/a2a/jsonrpc`, { method: 'POST', headers, body, signal: o.signal });
  };
  const rpcFetch = (method: string, params: unknown, o: RpcOptions = {}) =>
    rpcRaw(JSON.stringify({ jsonrpc: '2.0', id: o.id ?? 1, method, params }), o);
  const rpc = async (method: string, params: unknown, o: RpcOptions = {}) =>
    asCall(await rpcFetch(method, params, o));
  /** A JSON-RPC result, failing the test on an error. */
  const result = async (method: string, params: unknown, o: RpcOptions = {}) => {
    const r = await rpc(method, params, o);
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.result !== undefined, `${method}: ${JSON.stringify(r.body)}`);
    return r.body.result as Json;
  };
  const restFetch = (
    method: string,
    path: string,
    body?: unknown,
    o: { key?: string | null; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ) =>
    fetch(`${hub.url}/a2a/rest${path}`, {
      method,
      headers: headersFor(o),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: o.signal,
    });
  const rest = async (...args: Parameters<typeof restFetch>) => asCall(await restFetch(...args));
  return { rpcRaw, rpcFetch, rpc, result, restFetch, rest };
};
type Client = ReturnType<typeof makeClient>;

/** The A2A operations through one binding, returning v1.0 results or throwing {code, http, reason}. */
interface Binding {
  name: 'JSON-RPC' | 'REST';
  send(params: Json): Promise<Json>;
  stream(params: Json): Promise<{ events: StreamResponse[]; ids: number[]; contentType: string }>;
  getTask(id: string, historyLength?: number): Promise<Task>;
  listTasks(query: Record<string, string | number | boolean>): Promise<Json>;
  cancel(id: string): Promise<Task>;
  /** Opens a subscription; the caller reads it. */
  subscribe(id: string, lastEventId?: number, signal?: AbortSignal): Promise<Response>;
  /** Turns the SSE data of this binding into a StreamResponse. */
  unwrap(data: unknown): StreamResponse;
}

class CallFailed extends Error {
  constructor(
    readonly http: number,
    readonly body: Json,
  ) {
    super(`call failed (${http}): ${JSON.stringify(body)}`);
  }
}

const jsonRpcBinding = (client: Client): Binding => {
  const call = async (method: string, params: unknown) => {
    const r = await client.rpc(method, params);
    if (r.body.error) throw new CallFailed(r.status, r.body);
    return r.body.result as Json;
  };
  const unwrap = (data: unknown) => {
    const d = data as Json;
    assert.is(d.jsonrpc, '2.0');
    assert.ok('result' in d, `a result, not ${JSON.stringify(d)}`);
    return d.result as StreamResponse;
  };
  return {
    name: 'JSON-RPC',
    send: (params) => call('SendMessage', params),
    async stream(params) {
      const abort = new AbortController();
      const r = await client.rpcFetch('SendStreamingMessage', params, {
        id: 'stream-1',
        signal: abort.signal,
      });
      const contentType = r.headers.get('content-type') ?? '';
      const events = await readSse(r, abort);
      for (const e of events)
        assert.is((e.data as Json).id, 'stream-1', 'every event carries the request id');
      return { events: events.map((e) => unwrap(e.data)), ids: events.map((e) => Number(e.id)), contentType };
    },
    getTask: async (id, historyLength) =>
      (await call('GetTask', historyLength === undefined ? { id } : { id, historyLength })) as Task,
    listTasks: (query) => call('ListTasks', query),
    cancel: async (id) => (await call('CancelTask', { id })) as Task,
    subscribe: (id, lastEventId, signal) =>
      client.rpcFetch(
        'SubscribeToTask',
        { id },
        { signal, headers: lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) } },
      ),
    unwrap,
  };
};

const restBinding = (client: Client): Binding => {
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await client.rest(method, path, body);
    if (r.status !== 200) throw new CallFailed(r.status, r.body);
    assert.is(r.contentType, 'application/a2a+json');
    return r.body;
  };
  return {
    name: 'REST',
    send: (params) => call('POST', '/message:send', params),
    async stream(params) {
      const abort = new AbortController();
      const r = await client.restFetch('POST', '/message:stream', params, { signal: abort.signal });
      const contentType = r.headers.get('content-type') ?? '';
      const events = await readSse(r, abort);
      return { events: events.map((e) => e.data as Json), ids: events.map((e) => Number(e.id)), contentType };
    },
    getTask: async (id, historyLength) =>
      (await call(
        'GET',
        `/tasks/${encodeURIComponent(id)}${historyLength === undefined ? '' : `?historyLength=${historyLength}`}`,
      )) as Task,
    listTasks: (query) =>
      call('GET', `/tasks?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`),
    cancel: async (id) => (await call('POST', `/tasks/${encodeURIComponent(id)}:cancel`)) as Task,
    subscribe: (id, lastEventId, signal) =>
      client.restFetch('POST', `/tasks/${encodeURIComponent(id)}:subscribe`, undefined, {
        signal,
        headers: lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) },
      }),
    unwrap: (data) => data as StreamResponse,
  };
};

const rejects = async (promise: Promise<unknown>): Promise<CallFailed> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CallFailed) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
};

/** The error of a failed call, checked against the A2A error table for the binding it came through. */
const expectError = (
  b: Binding['name'],
  failure: CallFailed | Call,
  expected: { code: number; http: number; reason: string; status?: string },
) => {
  const [http, body] =
    failure instanceof CallFailed ? [failure.http, failure.body] : [failure.status, failure.body];
  if (b === 'JSON-RPC') {
    assert.is(http, 200, JSON.stringify(body));
    assert.is(body.jsonrpc, '2.0');
    assert.is(body.error?.code, expected.code, JSON.stringify(body));
    assert.type(body.error.message, 'string');
    assert.ok(Array.isArray(body.error.data), 'v1.0: data is an array of ErrorInfo');
    assert.is(body.error.data[0]['@type'], 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.is(body.error.data[0].reason, expected.reason);
    assert.is(body.error.data[0].domain, 'a2a-protocol.org');
  } else {
    assert.is(http, expected.http, JSON.stringify(body));
    assert.is(body.error?.code, expected.http);
    if (expected.status) assert.is(body.error.status, expected.status);
    assert.type(body.error.message, 'string');
    assert.is(body.error.details[0]['@type'], 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.is(body.error.details[0].reason, expected.reason);
  }
};

const textOf = (m?: { parts: Array<{ text?: string }> }) => m?.parts.map((p) => p.text ?? '').join('') ?? '';
const stateOf = (r: StreamResponse) =>
  r.task?.status.state ??
  r.statusUpdate?.status.state ??
  (r.artifactUpdate ? 'artifact' : r.message ? 'message' : '?');
const TERMINAL = ['TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED'];

// ---------------------------------------------------------------------------------------------------------
// The suite, once per runtime

const defineSuite = (kind: RuntimeKind, available: boolean) => {
  const s = suite(`a2a-http (${kind})`);
  const it = available ? s : (s.skip as unknown as typeof s);
  let hub: TestHub;
  let small: TestHub;
  /** Receives push notifications (2xx, nothing checked): push delivery is tested elsewhere. */
  const hooks = { url: '', close: async () => {} };
  const pushDeclared = async () => {
    const card = (await (await fetch(`${hub.url}/.well-known/agent-card.json`)).json()) as Json;
    return card.capabilities.pushNotifications === true;
  };
  let client: Client;
  let bindings: Binding[];
  if (available) {
    s.before(async () => {
      [hub, small] = await Promise.all([
        startHub(kind),
        startHub(kind, { env: { AGENTCORE_BODY_LIMIT_BYTES: '4096' }, roles: ['edge', 'projections'] }),
      ]);
      await Promise.all([keyVisible(hub, hub.apiKey), keyVisible(small, small.apiKey)]);
      client = makeClient(hub);
      bindings = [jsonRpcBinding(client), restBinding(client)];
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      hooks.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      hooks.close = () => new Promise<void>((r) => server.close(() => r()));
    });
    s.after(async () => {
      await Promise.all([hub?.stop(), small?.stop()]);
      await hooks.close();
    });
  }

  /** A new tenant's key, once the hub can see it (see keyVisible). */
  const addTenant = async (tenant: string, actsFor?: string[]) => {
    const key = await hub.addTenant(tenant, actsFor);
    await keyVisible(hub, key);
    return key;
  };

  const completedTask = async () => {
    const r = await bindings[0]!.send({ message: msg('tck-complete-task') });
    assert.is(r.task.status.state, 'TASK_STATE_COMPLETED');
    return r.task as Task;
  };
  /** A task that stays WORKING for about 4 s. */
  const workingTask = async () => {
    const r = await bindings[0]!.send({
      message: msg('test-resubscribe-message-id'),
      configuration: { returnImmediately: true },
    });
    const id = r.task.id as string;
    await waitFor('the task to be working', async () => {
      const t = await bindings[0]!.getTask(id);
      return t.status.state === 'TASK_STATE_WORKING';
    });
    return id;
  };

  // ----- errors (A2A.md §1.6) -----------------------------------------------------------------------------

  it('TaskNotFound: -32001 / 404 on get, cancel and subscribe', async () => {
    for (const b of bindings) {
      const id = `nope-${randomUUID()}`;
      expectError(b.name, await rejects(b.getTask(id)), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
        status: 'NOT_FOUND',
      });
      expectError(b.name, await rejects(b.cancel(id)), { code: -32001, http: 404, reason: 'TASK_NOT_FOUND' });
      const sub = await asCall(await b.subscribe(id));
      assert.not.match(sub.contentType, /event-stream/, 'an error before the stream is a plain response');
      expectError(b.name, sub, { code: -32001, http: 404, reason: 'TASK_NOT_FOUND' });
      // A message naming a task that does not exist never creates one.
      expectError(b.name, await rejects(b.send({ message: msg('hello', { taskId: id }) })), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
      });
    }
  });

  it('TaskNotCancelable: -32002 / 400 when cancelling a completed task', async () => {
    for (const b of bindings) {
      const task = await completedTask();
      expectError(b.name, await rejects(b.cancel(task.id)), {
        code: -32002,
        http: 400,
        reason: 'TASK_NOT_CANCELABLE',
        status: 'FAILED_PRECONDITION',
      });
    }
  });

  it('UnsupportedOperation: -32004 / 400 for a message to a terminal task and a subscription to one', async () => {
    for (const b of bindings) {
      const task = await completedTask();
      expectError(b.name, await rejects(b.send({ message: msg('more', { taskId: task.id }) })), {
        code: -32004,
        http: 400,
        reason: 'UNSUPPORTED_OPERATION',
        status: 'FAILED_PRECONDITION',
      });
      const sub = await asCall(await b.subscribe(task.id));
      assert.not.match(sub.contentType, /event-stream/);
      expectError(b.name, sub, { code: -32004, http: 400, reason: 'UNSUPPORTED_OPERATION' });
    }
  });

  it('push notification configs follow the card: PushNotificationNotSupported -32003 / 400 when not declared', async () => {
    const task = await completedTask();
    const config = { url: hooks.url, id: 'cfg-1', token: 'tok' };
    const rpcCalls: Array<[string, Json]> = [
      ['CreateTaskPushNotificationConfig', { taskId: task.id, ...config }],
      ['GetTaskPushNotificationConfig', { taskId: task.id, id: 'cfg-1' }],
      ['ListTaskPushNotificationConfigs', { taskId: task.id }],
      ['DeleteTaskPushNotificationConfig', { taskId: task.id, id: 'cfg-1' }],
    ];
    const restCalls: Array<[string, string, unknown?]> = [
      ['POST', `/tasks/${task.id}/pushNotificationConfigs`, config],
      ['GET', `/tasks/${task.id}/pushNotificationConfigs/cfg-1`],
      ['GET', `/tasks/${task.id}/pushNotificationConfigs`],
      ['DELETE', `/tasks/${task.id}/pushNotificationConfigs/cfg-1`],
    ];
    if (!(await pushDeclared())) {
      for (const [method, params] of rpcCalls) {
        expectError('JSON-RPC', await client.rpc(method, params), {
          code: -32003,
          http: 400,
          reason: 'PUSH_NOTIFICATION_NOT_SUPPORTED',
        });
      }
      for (const [method, path, body] of restCalls) {
        expectError('REST', await client.rest(method, path, body), {
          code: -32003,
          http: 400,
          reason: 'PUSH_NOTIFICATION_NOT_SUPPORTED',
          status: 'FAILED_PRECONDITION',
        });
      }
      // A config riding along with a message is refused too.
      expectError(
        'JSON-RPC',
        await client.rpc('SendMessage', {
          message: msg('tck-complete-task'),
          configuration: { taskPushNotificationConfig: config },
        }),
        { code: -32003, http: 400, reason: 'PUSH_NOTIFICATION_NOT_SUPPORTED' },
      );
      return;
    }
    // Declared: the four operations work on both bindings.
    const created = await client.result(rpcCalls[0]![0], rpcCalls[0]![1]);
    assert.is(created.url, config.url);
    assert.is((await client.result(rpcCalls[1]![0], rpcCalls[1]![1])).id, 'cfg-1');
    assert.ok((await client.result(rpcCalls[2]![0], rpcCalls[2]![1])).configs.length >= 1);
    assert.equal(await client.result(rpcCalls[3]![0], rpcCalls[3]![1]), {});
    assert.equal(await client.result(rpcCalls[3]![0], rpcCalls[3]![1]), {}, 'delete is idempotent');
    assert.is((await client.rest('POST', restCalls[0]![1], config)).status, 200);
    assert.is((await client.rest('GET', restCalls[1]![1])).status, 200);
    assert.is((await client.rest('GET', restCalls[2]![1])).status, 200);
    assert.is((await client.rest('DELETE', restCalls[3]![1])).status, 200);
  });

  it('VersionNotSupported: -32009 / 400 for versions other than 1.0 and 0.3', async () => {
    for (const version of ['2.0', '0.2']) {
      const r = await client.rpc('GetTask', { id: 'x' }, { version, id: 'v' });
      expectError('JSON-RPC', r, { code: -32009, http: 400, reason: 'VERSION_NOT_SUPPORTED' });
      assert.is(r.body.id, 'v');
      assert.match(r.body.error.message, version);
    }
    const q = await asCall(
      await fetch(`${hub.url}/a2a/jsonrpc?A2A-Version=3.1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': hub.apiKey },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'GetTask', params: { id: 'x' } }),
      }),
    );
    expectError('JSON-RPC', q, { code: -32009, http: 400, reason: 'VERSION_NOT_SUPPORTED' });
    // The query parameter asks for 1.0 as well as the header does.
    const ok = await asCall(
      await fetch(`${hub.url}/a2a/jsonrpc?A2A-Version=1.0`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': hub.apiKey },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'message/send', params: {} }),
      }),
    );
    assert.is(ok.body.error.code, -32601, 'with 1.0 requested, v0.3 names do not exist');
    const rest = await client.rest('GET', '/tasks', undefined, { headers: { 'A2A-Version': '2.0' } });
    expectError('REST', rest, {
      code: -32009,
      http: 400,
      reason: 'VERSION_NOT_SUPPORTED',
      status: 'FAILED_PRECONDITION',
    });
    assert.is(
      (await client.rest('GET', '/tasks', undefined, { headers: { 'A2A-Version': '1.0' } })).status,
      200,
    );
  });

  it('JSON-RPC framing: -32700 bad JSON, -32600 malformed requests, -32601 unknown methods', async () => {
    const parse = await asCall(await client.rpcRaw('{"jsonrpc":"2.0","id":1,"method":'));
    expectError('JSON-RPC', parse, { code: -32700, http: 400, reason: 'PARSE_ERROR' });
    assert.is(parse.body.id, null);
    assert.match(parse.contentType, /application\/json/);

    const invalid: Array<[unknown, string | number | null]> = [
      [{ jsonrpc: '1.0', id: 7, method: 'GetTask', params: { id: 'x' } }, 7],
      [{ jsonrpc: '2.0', id: 'abc', params: {} }, 'abc'],
      [{ jsonrpc: '2.0', id: 8, method: 42 }, 8],
      [{ jsonrpc: '2.0', id: 9, method: 'GetTask', params: ['x'] }, 9],
      [{ jsonrpc: '2.0', id: 10, method: 'GetTask', params: 'x' }, 10],
      [{ jsonrpc: '2.0', method: 'GetTask', params: { id: 'x' } }, null],
      [{ jsonrpc: '2.0', id: { no: 1 }, method: 'GetTask' }, null],
      [[{ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'x' } }], null],
      ['just a string', null],
      [null, null],
    ];
    for (const [request, id] of invalid) {
      const r = await asCall(await client.rpcRaw(JSON.stringify(request)));
      expectError('JSON-RPC', r, { code: -32600, http: 400, reason: 'INVALID_REQUEST' });
      assert.is(r.body.id, id, JSON.stringify(request));
    }
    const batch = await asCall(await client.rpcRaw('[]'));
    assert.match(batch.body.error.message, /batch/i);

    const unknown = await client.rpc('tasks/destroy', {}, { id: 'u' });
    expectError('JSON-RPC', unknown, { code: -32601, http: 404, reason: 'METHOD_NOT_FOUND' });
    assert.is(unknown.body.id, 'u');
    // With A2A-Version 1.0 only the v1.0 names exist.
    for (const method of ['message/send', 'tasks/get', 'tasks/resubscribe']) {
      expectError('JSON-RPC', await client.rpc(method, { id: 'x' }), {
        code: -32601,
        http: 404,
        reason: 'METHOD_NOT_FOUND',
      });
    }
    // Prototype names are not methods.
    expectError('JSON-RPC', await client.rpc('constructor', {}), {
      code: -32601,
      http: 404,
      reason: 'METHOD_NOT_FOUND',
    });
    // Without a header, errors are framed as v0.3 frames them: ErrorInfo as an object.
    const v03 = await client.rpc('toString', {}, { version: null });
    assert.is(v03.body.error.code, -32601);
    assert.is(v03.body.error.data.reason, 'METHOD_NOT_FOUND');
  });

  it('InvalidParams: -32602 / 400 with a readable message', async () => {
    const task = await completedTask();
    const cases: Array<{ rpc: [string, Json]; rest: [string, string, unknown?]; message: RegExp }> = [
      {
        rpc: ['SendMessage', { message: { ...msg('x'), parts: [] } }],
        rest: ['POST', '/message:send', { message: { ...msg('x'), parts: [] } }],
        message: /parts/,
      },
      {
        rpc: ['SendStreamingMessage', { message: { ...msg('x'), parts: [] } }],
        rest: ['POST', '/message:stream', { message: { ...msg('x'), parts: [] } }],
        message: /parts/,
      },
      {
        rpc: ['SendMessage', { message: msg('x'), configuration: { historyLength: -1 } }],
        rest: ['POST', '/message:send', { message: msg('x'), configuration: { historyLength: -1 } }],
        message: /historyLength/,
      },
      {
        rpc: ['SendMessage', { message: { ...msg('x'), role: 'user' } }],
        rest: ['POST', '/message:send', { message: { ...msg('x'), role: 'user' } }],
        message: /role/,
      },
      {
        rpc: ['SendMessage', {}],
        rest: ['POST', '/message:send', {}],
        message: /message/,
      },
      {
        rpc: ['GetTask', { id: task.id, historyLength: -1 }],
        rest: ['GET', `/tasks/${task.id}?historyLength=-1`],
        message: /historyLength/,
      },
      { rpc: ['ListTasks', { pageSize: 0 }], rest: ['GET', '/tasks?pageSize=0'], message: /pageSize/ },
      { rpc: ['ListTasks', { pageSize: 101 }], rest: ['GET', '/tasks?pageSize=101'], message: /pageSize/ },
      {
        rpc: ['ListTasks', { pageToken: 'not-a-token' }],
        rest: ['GET', '/tasks?pageToken=not-a-token'],
        message: /pageToken/,
      },
      { rpc: ['ListTasks', { status: 'done' }], rest: ['GET', '/tasks?status=done'], message: /status/ },
      { rpc: ['GetTask', {}], rest: ['GET', '/tasks?historyLength=-5'], message: /id|historyLength/ },
    ];
    for (const c of cases) {
      const r = await client.rpc(...c.rpc);
      expectError('JSON-RPC', r, { code: -32602, http: 400, reason: 'INVALID_PARAMS' });
      assert.match(r.body.error.message, c.message);
      assert.match(r.contentType, /application\/json/, 'a stream method refused early is a plain response');
      const rr = await client.rest(...c.rest);
      expectError('REST', rr, {
        code: -32602,
        http: 400,
        reason: 'INVALID_PARAMS',
        status: 'INVALID_ARGUMENT',
      });
      assert.match(rr.body.error.message, c.message);
    }
  });

  it('REST framing: bad JSON 400, unknown route 404, wrong method 405, all in google.rpc.Status shape', async () => {
    const bad = await client.rest('POST', '/message:send', '{"message":');
    assert.is(bad.status, 400);
    assert.is(bad.body.error.status, 'INVALID_ARGUMENT');
    assert.is(bad.contentType, 'application/a2a+json');
    const notObject = await client.rest('POST', '/message:send', '[1]');
    assert.is(notObject.status, 400);
    for (const path of [
      '/nothing',
      '/tasks/x/y',
      '/message:destroy',
      '/default/tasks/x/pushNotificationConfigs/a/b',
      '',
    ]) {
      const r = await client.rest('GET', path);
      assert.is(r.status, 404, path);
      assert.is(r.body.error.code, 404);
      assert.is(r.body.error.status, 'NOT_FOUND');
      assert.is(r.contentType, 'application/a2a+json');
    }
    const wrong = await client.rest('GET', '/message:send');
    assert.is(wrong.status, 405);
    assert.is(wrong.headers.get('allow'), 'POST');
  });

  it('413 for a body over the limit, by Content-Length and while reading; JSON-RPC and REST', async () => {
    const c = makeClient(small);
    const big = { message: { ...msg('x'), parts: [{ text: 'x'.repeat(8_000) }] } };
    const r = await asCall(
      await c.rpcRaw(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: big })),
    );
    assert.is(r.status, 413);
    assert.is(r.body.id, null);
    assert.is(r.body.error.code, -32600);
    assert.match(r.body.error.message, /4096/);
    // No Content-Length: a chunked body is counted as it arrives.
    const chunks = [JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: big })];
    const chunked = await asCall(
      await fetch(`${small.url}/a2a/jsonrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': small.apiKey, 'A2A-Version': '1.0' },
        body: new ReadableStream({
          pull(controller) {
            const next = chunks.shift();
            if (next === undefined) controller.close();
            else controller.enqueue(new TextEncoder().encode(next));
          },
        }),
        duplex: 'half',
      } as RequestInit),
    );
    assert.is(chunked.status, 413);
    assert.is(chunked.body.error.code, -32600);
    const rest = await c.rest('POST', '/message:send', big);
    assert.is(rest.status, 413);
    assert.is(rest.body.error.code, 413);
    assert.match(rest.body.error.message, /4096/);
    // Under the limit is fine (the small hub runs no agents: returnImmediately answers at once).
    const fine = await c.rpc('SendMessage', {
      message: msg('x'),
      configuration: { returnImmediately: true },
    });
    assert.is(fine.body.result.task.status.state, 'TASK_STATE_SUBMITTED');
  });

  it('401 without a valid key, 403 acting for another tenant, on both bindings', async () => {
    for (const key of [null, 'ac_not_a_key']) {
      const r = await client.rpc('GetTask', { id: 'x' }, { key, id: 'auth' });
      assert.is(r.status, 401);
      assert.is(r.body.id, 'auth');
      assert.is(r.body.jsonrpc, '2.0');
      assert.ok(r.body.error.code);
      const rr = await client.rest('GET', '/tasks', undefined, { key });
      assert.is(rr.status, 401);
      assert.is(rr.body.error.status, 'UNAUTHENTICATED');
      const card = await client.rpc('GetExtendedAgentCard', {}, { key });
      assert.is(card.status, 401, 'the extended card needs authentication');
      assert.is((await client.rest('GET', '/extendedAgentCard', undefined, { key })).status, 401);
    }
    const other = `other${Math.random().toString(36).slice(2, 8)}`;
    const r = await client.rpc('ListTasks', { tenant: other });
    assert.is(r.status, 403);
    assert.is(r.body.error.code, -32000);
    const rr = await client.rest('GET', `/${other}/tasks`);
    assert.is(rr.status, 403);
    assert.is(rr.body.error.status, 'PERMISSION_DENIED');
    const body = await client.rest('POST', '/message:send', { message: msg('x'), tenant: other });
    assert.is(body.status, 403);
  });

  it("another tenant's task does not exist for it; a key acting for a tenant sees exactly that tenant", async () => {
    const task = await completedTask();
    const tenant = `t${Math.random().toString(36).slice(2, 10)}`;
    const otherKey = await addTenant(tenant);
    const other = makeClient({ ...hub, apiKey: otherKey });
    for (const b of [jsonRpcBinding(other), restBinding(other)]) {
      expectError(b.name, await rejects(b.getTask(task.id)), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
      });
      expectError(b.name, await rejects(b.cancel(task.id)), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
      });
      expectError(b.name, await asCall(await b.subscribe(task.id)), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
      });
      expectError(b.name, await rejects(b.send({ message: msg('x', { taskId: task.id }) })), {
        code: -32001,
        http: 404,
        reason: 'TASK_NOT_FOUND',
      });
      const list = await b.listTasks({});
      assert.not.ok(list.tasks.some((t: Task) => t.id === task.id));
    }
    // An operator key of another tenant that may act for "default".
    const opsKey = await addTenant(`ops${tenant}`, ['default']);
    const ops = makeClient({ ...hub, apiKey: opsKey });
    assert.is((await ops.result('GetTask', { id: task.id, tenant: 'default' })).id, task.id);
    assert.is((await ops.rest('GET', `/default/tasks/${task.id}`)).body.id, task.id);
    assert.is(
      (await ops.rest('GET', `/tasks/${task.id}?tenant=default`)).body.id,
      task.id,
      'or as a query parameter',
    );
    assert.is(
      (await ops.rest('GET', `/tasks/${task.id}`)).status,
      404,
      'without naming the tenant it acts for itself',
    );
    // Only exactly the tenants listed: not a prefix or part of one.
    for (const t of ['def', 'defaul', 'efault']) {
      assert.is((await ops.rpc('GetTask', { id: task.id, tenant: t })).status, 403, t);
      assert.is((await ops.rest('GET', `/${t}/tasks/${task.id}`)).status, 403, t);
    }
  });

  // ----- versions ------------------------------------------------------------------------------------------

  it('v0.3 without a header: kind fields, kebab-case states, lowercase roles; v1.0 with it: ProtoJSON', async () => {
    const r = await client.rpc(
      'message/send',
      {
        message: {
          kind: 'message',
          messageId: `tck-complete-task-${randomUUID()}`,
          role: 'user',
          parts: [{ kind: 'text', text: 'hi' }],
        },
      },
      { version: null },
    );
    const t = r.body.result;
    assert.is(t.kind, 'task');
    assert.is(t.status.state, 'completed');
    assert.is(t.status.message.kind, 'message');
    assert.is(t.status.message.role, 'agent');
    assert.equal(t.status.message.parts, [{ kind: 'text', text: 'Hello from TCK' }]);
    assert.equal(
      t.history.map((m: Json) => m.role),
      ['user', 'agent'],
    );

    const v1 = await client.result('SendMessage', { message: msg('tck-complete-task') });
    assert.is(v1.task.status.state, 'TASK_STATE_COMPLETED');
    assert.is(v1.task.history[0].role, 'ROLE_USER');
    assert.not.match(JSON.stringify(v1), /"kind"/, 'no kind anywhere in v1.0');

    // Lenient: a v1.0 name without the header is served as v1.0.
    const lenient = await client.result(
      'SendMessage',
      { message: msg('tck-complete-task') },
      { version: null },
    );
    assert.is(lenient.task.status.state, 'TASK_STATE_COMPLETED');
    // An explicit 0.3 is v0.3.
    const explicit = await client.rpc('tasks/get', { id: t.id }, { version: '0.3' });
    assert.is(explicit.body.result.kind, 'task');
  });

  it('v0.3 methods: every part kind in, tasks/get, tasks/cancel, non-blocking send, errors with an object data', async () => {
    const PNG =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
    const parts = [
      { kind: 'text', text: 'hi' },
      { kind: 'file', file: { bytes: PNG, mimeType: 'image/png', name: 'p.png' } },
      { kind: 'file', file: { uri: 'https://example.com/a.txt', mimeType: 'text/plain' } },
      { kind: 'data', data: { a: 1 } },
    ];
    const sent = await client.result(
      'message/send',
      { message: { kind: 'message', messageId: `plain-${randomUUID()}`, role: 'user', parts } },
      { version: null },
    );
    assert.equal(sent.history[0].parts, parts, 'parts come back as sent');
    const got = await client.result('tasks/get', { id: sent.id, historyLength: 1 }, { version: null });
    assert.is(got.kind, 'task');
    assert.is(got.history.length, 1);
    assert.is(got.artifacts[0].parts[0].kind, 'text');

    const pending = await client.result(
      'message/send',
      {
        message: {
          kind: 'message',
          messageId: `test-resubscribe-message-id-${randomUUID()}`,
          role: 'user',
          parts,
        },
        configuration: { blocking: false },
      },
      { version: null },
    );
    assert.ok(['submitted', 'working'].includes(pending.status.state), pending.status.state);
    const canceled = await client.result('tasks/cancel', { id: pending.id }, { version: null });
    assert.is(canceled.kind, 'task');
    assert.is(canceled.status.state, 'canceled');

    const missing = await client.rpc('tasks/get', { id: 'nope' }, { version: null });
    assert.is(missing.body.error.code, -32001);
    assert.not.ok(Array.isArray(missing.body.error.data), 'v0.3: data is not the v1.0 array');
    assert.is(missing.body.error.data.reason, 'TASK_NOT_FOUND');
    const push = await client.rpc(
      'tasks/pushNotificationConfig/set',
      {
        taskId: sent.id,
        pushNotificationConfig: {
          id: 'p03',
          url: hooks.url,
          token: 'tok',
          authentication: { schemes: ['Bearer'], credentials: 'secret' },
        },
      },
      { version: null },
    );
    if (!(await pushDeclared())) {
      assert.is(push.body.error.code, -32003);
      assert.is(push.body.error.data.reason, 'PUSH_NOTIFICATION_NOT_SUPPORTED');
    } else {
      const expected = {
        taskId: sent.id,
        pushNotificationConfig: {
          id: 'p03',
          url: hooks.url,
          token: 'tok',
          authentication: { schemes: ['Bearer'], credentials: 'secret' },
        },
      };
      assert.equal(push.body.result, expected);
      const ref = { id: sent.id, pushNotificationConfigId: 'p03' };
      assert.equal(await client.result('tasks/pushNotificationConfig/get', ref, { version: null }), expected);
      assert.equal(
        await client.result('tasks/pushNotificationConfig/list', { id: sent.id }, { version: null }),
        [expected],
      );
      const deleted = await client.rpc('tasks/pushNotificationConfig/delete', ref, { version: null });
      assert.is(deleted.body.result, null);
      assert.equal(
        await client.result('tasks/pushNotificationConfig/list', { id: sent.id }, { version: null }),
        [],
      );
    }
    const card = await client.result('agent/getAuthenticatedExtendedCard', {}, { version: null });
    assert.is(card.name, 'AgentCore hub');
  });

  it('v0.3 streams: message/stream and tasks/resubscribe with kind, final on the last status update', async () => {
    const abort = new AbortController();
    const r = await client.rpcFetch(
      'message/stream',
      {
        message: {
          kind: 'message',
          messageId: `tck-stream-artifact-chunked-${randomUUID()}`,
          role: 'user',
          parts: [{ kind: 'text', text: 'go' }],
        },
      },
      { version: null, signal: abort.signal, id: 's03' },
    );
    const events = (await readSse(r, abort)).map((e) => (e.data as Json).result as Json);
    assert.equal(
      events.map((e) => e.kind),
      ['task', 'status-update', 'artifact-update', 'artifact-update', 'artifact-update', 'status-update'],
    );
    assert.equal(
      events.filter((e) => e.kind === 'status-update').map((e) => [e.status.state, e.final]),
      [
        ['working', false],
        ['completed', true],
      ],
    );
    const chunks = events.filter((e) => e.kind === 'artifact-update');
    assert.equal(
      chunks.map((e) => [e.append, e.lastChunk, e.artifact.parts[0].kind]),
      [
        [false, false, 'text'],
        [true, false, 'text'],
        [true, true, 'text'],
      ],
    );
    // Resuming in v0.3 from the first event.
    const abort2 = new AbortController();
    const resumed = await client.rpcFetch(
      'tasks/resubscribe',
      { id: events[0]!.id },
      { version: null, signal: abort2.signal, headers: { 'Last-Event-ID': '0' } },
    );
    const again = (await readSse(resumed, abort2)).map((e) => (e.data as Json).result as Json);
    assert.equal(again, events.slice(1));
  });

  // ----- scenarios of the conformance agent (A2A.md §2), both bindings ------------------------------------

  it('blocking SendMessage: completed, rejected, input-required then completed by a follow-up', async () => {
    for (const b of bindings) {
      const done = (await b.send({ message: msg('tck-complete-task') })).task as Task;
      assert.is(done.status.state, 'TASK_STATE_COMPLETED', b.name);
      assert.is(textOf(done.status.message), 'Hello from TCK');
      assert.is(done.status.message?.role, 'ROLE_AGENT');
      assert.is(done.status.message?.taskId, done.id);
      assert.is(done.status.message?.contextId, done.contextId);

      const rejected = (await b.send({ message: msg('tck-reject-task') })).task as Task;
      assert.is(rejected.status.state, 'TASK_STATE_REJECTED', b.name);

      const first = (await b.send({ message: msg('tck-input-required') })).task as Task;
      assert.is(first.status.state, 'TASK_STATE_INPUT_REQUIRED', b.name);
      const followUp = msg('follow-up', { taskId: first.id, parts: [{ text: 'more input' }] });
      const second = (await b.send({ message: followUp })).task as Task;
      assert.is(second.id, first.id);
      assert.is(second.contextId, first.contextId, 'contextId inferred from the task');
      assert.is(second.status.state, 'TASK_STATE_COMPLETED', b.name);
      assert.is(textOf(second.status.message), 'Received: more input');
      // contextId disagreeing with the task is refused.
      const third = (await b.send({ message: msg('tck-input-required') })).task as Task;
      const mismatch = await rejects(
        b.send({ message: msg('x', { taskId: third.id, contextId: randomUUID() }) }),
      );
      expectError(b.name, mismatch, { code: -32602, http: 400, reason: 'INVALID_PARAMS' });
    }
  });

  it('artifacts of every part kind, the echo agent, and a direct message reply', async () => {
    for (const b of bindings) {
      const kinds: Array<[string, (p: Json) => boolean]> = [
        ['tck-artifact-text', (p) => p.text === 'Generated text content'],
        [
          'tck-artifact-file-url',
          (p) => p.url === 'https://example.com/output.txt' && p.filename === 'output.txt',
        ],
        [
          'tck-artifact-file',
          (p) => p.raw === 'dGNr' && p.mediaType === 'text/plain' && p.filename === 'output.txt',
        ],
        ['tck-artifact-data', (p) => p.data?.count === 42],
      ];
      for (const [prefix, check] of kinds) {
        const t = (await b.send({ message: msg(prefix) })).task as Task;
        assert.is(t.status.state, 'TASK_STATE_COMPLETED');
        assert.is(t.artifacts?.length, 1, prefix);
        assert.ok(
          check(t.artifacts![0]!.parts[0] as Json),
          `${b.name} ${prefix}: ${JSON.stringify(t.artifacts)}`,
        );
      }
      const echo = (await b.send({ message: msg('anything', { parts: [{ text: 'echo me' }] }) }))
        .task as Task;
      assert.is(textOf(echo.artifacts?.[0]), 'echo me');

      const reply = await b.send({ message: msg('tck-message-response') });
      assert.not.ok('task' in reply, b.name);
      assert.is(reply.message.role, 'ROLE_AGENT');
      assert.is(textOf(reply.message), 'Direct message response');
      assert.type(reply.message.contextId, 'string');
    }
  });

  it('returnImmediately answers at once with a task that is not terminal', async () => {
    for (const b of bindings) {
      const started = Date.now();
      const r = await b.send({
        message: msg('test-resubscribe-message-id'),
        configuration: { returnImmediately: true },
      });
      assert.ok(Date.now() - started < 3_000, 'did not wait for the agent');
      assert.not.ok(TERMINAL.includes(r.task.status.state), r.task.status.state);
      await b.cancel(r.task.id);
    }
  });

  it('streaming: task first, then status and artifact updates in order, then the stream closes', async () => {
    for (const b of bindings) {
      for (const prefix of [
        'tck-stream-001',
        'tck-stream-ordering-001',
        'tck-stream-artifact-text',
        'tck-stream-artifact-file',
      ]) {
        const { events, ids, contentType } = await b.stream({ message: msg(prefix) });
        assert.match(contentType, /^text\/event-stream/);
        assert.equal(
          events.map(stateOf),
          ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', 'artifact', 'TASK_STATE_COMPLETED'],
          `${b.name} ${prefix}`,
        );
        assert.not.match(JSON.stringify(events), /"kind"|"final"/);
        const taskId = events[0]!.task.id;
        for (const e of events.slice(1)) {
          const u = e.statusUpdate ?? e.artifactUpdate;
          assert.is(u.taskId, taskId);
          assert.is(u.contextId, events[0]!.task.contextId);
        }
        assert.equal(
          ids,
          [...ids].sort((x, y) => x - y),
          'SSE ids increase',
        );
        assert.is(new Set(ids).size, ids.length);
        const artifact = events[2]!.artifactUpdate;
        assert.is(artifact.lastChunk, true);
        if (prefix.endsWith('file')) assert.type(artifact.artifact.parts[0].raw, 'string');
      }
      const chunked = await b.stream({ message: msg('tck-stream-artifact-chunked') });
      const chunks = chunked.events.filter((e) => e.artifactUpdate).map((e) => e.artifactUpdate);
      assert.equal(
        chunks.map((c) => [textOf(c.artifact), c.append ?? false, c.lastChunk ?? false]),
        [
          ['chunk-1 ', false, false],
          ['chunk-2 ', true, false],
          ['chunk-3', true, true],
        ],
      );
      assert.is(stateOf(chunked.events.at(-1)!), 'TASK_STATE_COMPLETED');
      const task = await b.getTask(chunked.events[0]!.task.id);
      assert.is(textOf(task.artifacts?.[0]), 'chunk-1 chunk-2 chunk-3', 'chunks appended');

      // Interrupted: the stream ends at input-required; a direct reply is a stream of exactly one message.
      const ir = await b.stream({ message: msg('tck-input-required') });
      assert.is(stateOf(ir.events.at(-1)!), 'TASK_STATE_INPUT_REQUIRED');
      const reply = await b.stream({ message: msg('tck-message-response') });
      assert.is(reply.events.length, 1, JSON.stringify(reply.events));
      assert.is(textOf(reply.events[0]!.message), 'Direct message response');
    }
  });

  it('GetTask historyLength: unset is everything, 0 omits history, 1 keeps the latest message', async () => {
    const task = await completedTask();
    for (const b of bindings) {
      const all = await b.getTask(task.id);
      assert.is(all.history?.length, 2);
      const none = await b.getTask(task.id, 0);
      assert.not.ok('history' in none, b.name);
      const one = await b.getTask(task.id, 1);
      assert.equal(one.history, [all.history![1]]);
      assert.is(one.history![0]!.role, 'ROLE_AGENT');
      // SendMessage applies it to the task it returns.
      const sent = (await b.send({ message: msg('tck-complete-task'), configuration: { historyLength: 0 } }))
        .task;
      assert.not.ok('history' in sent);
    }
  });

  it('ListTasks: newest first, cursor pages ending with "", status filter, includeArtifacts', async () => {
    for (const b of bindings) {
      const contextId = randomUUID();
      const created: string[] = [];
      for (const prefix of [
        'tck-complete-task',
        'tck-reject-task',
        'tck-artifact-text',
        'tck-reject-task',
        'echo',
      ]) {
        const r = await b.send({ message: msg(prefix, { contextId }) });
        assert.is(r.task.contextId, contextId, 'a client-supplied contextId is kept');
        created.push(r.task.id);
      }
      // The list is a read model: wait until it has caught up with all five settled tasks.
      const full = await waitFor(`${b.name}: five settled tasks listed`, async () => {
        const l = await b.listTasks({ contextId, includeArtifacts: true });
        return l.tasks.length === 5 && l.tasks.every((t: Task) => TERMINAL.includes(t.status.state)) && l;
      });
      assert.equal(
        full.tasks.map((t: Task) => t.id),
        [...created].reverse(),
        'newest first',
      );
      assert.is(full.totalSize, 5);
      assert.is(full.nextPageToken, '');
      assert.is(full.pageSize, 50, 'the default page size');
      const withArtifacts = full.tasks.find((t: Task) => t.id === created[2]);
      assert.is(textOf(withArtifacts.artifacts[0]), 'Generated text content');
      const timestamps = full.tasks.map((t: Task) => Date.parse(t.status.timestamp));
      assert.equal(
        timestamps,
        [...timestamps].sort((x, y) => y - x),
      );

      const bare = await b.listTasks({ contextId });
      assert.ok(
        bare.tasks.every((t: Task) => !('artifacts' in t)),
        'artifacts omitted by default',
      );
      const noHistory = await b.listTasks({ contextId, historyLength: 0 });
      assert.ok(noHistory.tasks.every((t: Task) => !('history' in t)));

      const seen: string[] = [];
      let token = '';
      const tokens: string[] = [];
      for (let page = 0; page < 5; page++) {
        const l = await b.listTasks({ contextId, pageSize: 2, ...(token ? { pageToken: token } : {}) });
        assert.is(l.pageSize, 2);
        assert.is(l.totalSize, 5);
        seen.push(...l.tasks.map((t: Task) => t.id));
        token = l.nextPageToken;
        tokens.push(token);
        if (token === '') break;
      }
      assert.equal(seen, [...created].reverse(), 'pages in order, nothing skipped or repeated');
      assert.is(tokens.length, 3);
      assert.ok(tokens[0] !== '' && tokens[1] !== '');
      assert.is(tokens[2], '');

      const rejected = await b.listTasks({ contextId, status: 'TASK_STATE_REJECTED' });
      assert.equal(
        rejected.tasks.map((t: Task) => t.id),
        [created[3], created[1]],
      );
      assert.is(rejected.totalSize, 2);
      const after = await b.listTasks({ contextId, statusTimestampAfter: full.tasks[2].status.timestamp });
      assert.equal(
        after.tasks.map((t: Task) => t.id),
        [created[4], created[3]],
      );
    }
  });

  it('CancelTask on a working task cancels it; a second cancel returns the canceled task', async () => {
    for (const b of bindings) {
      const id = await workingTask();
      const canceled = await b.cancel(id);
      assert.is(canceled.id, id);
      assert.is(canceled.status.state, 'TASK_STATE_CANCELED', b.name);
      const again = await b.cancel(id);
      assert.is(again.status.state, 'TASK_STATE_CANCELED', 'idempotent');
      assert.is((await b.getTask(id)).status.state, 'TASK_STATE_CANCELED');
    }
  });

  it('SubscribeToTask on a working task: the task first, then the same events for every subscriber', async () => {
    const id = await workingTask();
    const [rpc, rest] = bindings as [Binding, Binding];
    const aborts = Array.from({ length: 5 }, () => new AbortController());
    const opened = await Promise.all([
      rpc.subscribe(id, undefined, aborts[0]!.signal),
      rpc.subscribe(id, undefined, aborts[1]!.signal),
      rest.subscribe(id, undefined, aborts[2]!.signal),
      client.restFetch('GET', `/tasks/${id}:subscribe`, undefined, { signal: aborts[3]!.signal }),
      // A fifth subscriber leaves early: closing one stream does not affect the others.
      rest.subscribe(id, undefined, aborts[4]!.signal),
    ]);
    for (const r of opened) assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    const quitter = opened[4]!.body!.getReader();
    await quitter.read();
    aborts[4]!.abort();
    const streams = await Promise.all(
      opened.slice(0, 4).map(async (r, i) => {
        const events = await readSse(r, aborts[i]);
        return events.map((e) => ({ id: e.id, response: (i < 2 ? rpc : rest).unwrap(e.data) }));
      }),
    );
    for (const events of streams) {
      assert.is(events[0]!.response.task?.id, id, 'the current task first');
      assert.is(events[0]!.response.task.status.state, 'TASK_STATE_WORKING');
      assert.is(stateOf(events.at(-1)!.response), 'TASK_STATE_COMPLETED');
      assert.equal(events, streams[0], 'every subscriber sees the same events with the same ids');
    }
  });

  it('SubscribeToTask on an input-required task: both bindings stay open through the follow-up', async () => {
    for (const b of bindings) {
      const task = (await bindings[0]!.send({ message: msg('tck-input-required') })).task as Task;
      assert.is(task.status.state, 'TASK_STATE_INPUT_REQUIRED');
      const abort = new AbortController();
      const opened = await b.subscribe(task.id, undefined, abort.signal);
      const reading = readSse(opened, abort);
      // The answer comes from another request; the subscriber sees the task go on to its end.
      await b.send({ message: msg('follow-up', { taskId: task.id, parts: [{ text: 'more input' }] }) });
      const states = (await reading).map((e) => stateOf(b.unwrap(e.data)));
      assert.is(states[0], 'TASK_STATE_INPUT_REQUIRED', `${b.name}: the current task first`);
      assert.is(states.at(-1), 'TASK_STATE_COMPLETED', `${b.name}: then events until the task ends`);
    }
  });

  it('Last-Event-ID resumes with exactly the events after that id', async () => {
    for (const b of bindings) {
      const original = await b.stream({ message: msg('tck-stream-artifact-chunked') });
      const taskId = original.events[0]!.task.id;
      for (const from of [0, 2, original.ids.at(-2)!]) {
        const abort = new AbortController();
        const resumed = await readSse(await b.subscribe(taskId, from, abort.signal), abort);
        const expected = original.ids
          .map((id, i) => [id, original.events[i]])
          .filter(([id]) => (id as number) > from);
        assert.equal(
          resumed.map((e) => [Number(e.id), b.unwrap(e.data)]),
          expected,
          `${b.name} after ${from}`,
        );
      }
    }
  });

  // ----- agent card ----------------------------------------------------------------------------------------

  it('agent card: interfaces, skills, security, cache validators and 304; the extended card', async () => {
    const r = await fetch(`${hub.url}/.well-known/agent-card.json`);
    assert.is(r.status, 200);
    const card = (await r.json()) as Json;
    assert.equal(
      card.supportedInterfaces.map((i: Json) => [i.protocolBinding, i.protocolVersion]),
      [
        ['JSONRPC', '1.0'],
        ['HTTP+JSON', '1.0'],
      ],
    );
    assert.is(card.supportedInterfaces[0].url, `${hub.url}/a2a/jsonrpc`);
    assert.is(card.supportedInterfaces[1].url, `${hub.url}/a2a/rest`);
    assert.ok(card.skills.length > 0);
    assert.ok(card.skills.every((s: Json) => s.id && s.name && s.description && Array.isArray(s.tags)));
    assert.ok(card.securitySchemes.apiKey.apiKeySecurityScheme);
    assert.is(card.capabilities.streaming, true);
    const etag = r.headers.get('etag');
    assert.ok(etag);
    assert.match(r.headers.get('cache-control') ?? '', /max-age=\d+/);
    assert.ok(r.headers.get('last-modified'));
    const again = await fetch(`${hub.url}/.well-known/agent-card.json`, {
      headers: { 'If-None-Match': etag! },
    });
    assert.is(again.status, 304);
    assert.is(await again.text(), '');
    const changed = await fetch(`${hub.url}/.well-known/agent-card.json`, {
      headers: { 'If-None-Match': '"other"' },
    });
    assert.is(changed.status, 200);
    await changed.arrayBuffer();
    // The card's interfaces really are the bindings: the JSON-RPC URL answers GetExtendedAgentCard.
    const extended = await client.result('GetExtendedAgentCard', {});
    assert.is(extended.name, card.name);
    assert.ok(extended.supportedInterfaces);
    const viaRest = await client.rest('GET', '/extendedAgentCard');
    assert.is(viaRest.status, 200);
    assert.is(viaRest.body.name, card.name);
  });

  s.run();
};

// ---------------------------------------------------------------------------------------------------------
// The SSE writer itself: heartbeats on idle streams, and a closed client stops the service iteration.

const writer = suite('sse writer');

writer('sends a ": ping" comment while idle and aborts the iteration when the client cancels', async () => {
  const abort = new AbortController();
  let release: () => void = () => {};
  const items = (async function* (): AsyncGenerator<StreamItem> {
    yield {
      revision: 0,
      response: { message: { messageId: 'm', role: 'ROLE_AGENT', parts: [{ text: 'x' }] } },
    };
    await new Promise<void>((r) => {
      release = r;
      abort.signal.addEventListener('abort', () => r(), { once: true });
    });
  })();
  const response = sseResponse({
    items,
    abort,
    heartbeatMs: 20,
    frame: (i) => i.response,
    frameError: (e) => ({ error: String(e) }),
  });
  assert.is(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes(': ping\n\n')) {
    const { value, done } = await reader.read();
    assert.not.ok(done);
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /^id: 0\ndata: \{"message":/);
  assert.not.ok(abort.signal.aborted);
  await reader.cancel();
  assert.ok(abort.signal.aborted, 'the client going away aborts the service iteration');
  release();
});

writer('an error mid-stream is sent as a last event, then the stream closes', async () => {
  const abort = new AbortController();
  const items = (async function* (): AsyncGenerator<StreamItem> {
    yield {
      revision: 3,
      response: { message: { messageId: 'm', role: 'ROLE_AGENT', parts: [{ text: 'x' }] } },
    };
    throw new Error('boom');
  })();
  const response = sseResponse({
    items,
    abort,
    frame: (i) => i.response,
    frameError: (e) => ({ error: (e as Error).message }),
  });
  const text = await response.text();
  assert.is(
    text,
    `id: 3\ndata: {"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"x"}]}}\n\ndata: {"error":"boom"}\n\n`,
  );
  assert.ok(abort.signal.aborted, 'the iteration is released when the stream ends');
});

writer.run();

defineSuite('embedded', true);
defineSuite('distributed', distributed);
