/**
 * Hostile input at the edge, on both runtimes: every request below used to answer 500 (some with a stack
 * trace); each now gets a precise 400 / JSON-RPC -32602 or -32600 naming the field. A client may not speak
 * as the agent. And an unexpected failure answers a generic 500 in the binding's shape with a request id,
 * logged under that id.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { A2AService } from '../../a2a-edge/service.ts';
import type { AgentDirectory } from '../../agents/directory.ts';
import { edgeApp } from '../../app/http.ts';
import type { Discovery } from '../../infra/discovery/port.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import {
  type Answer,
  type EdgeClient,
  edgeClient,
  type Json,
  keyVisible,
  userMessage,
} from './edge-client.ts';

/** A JSON-RPC answer that is an error with this code, naming `field` in its message. */
const rpcRefused = (r: Answer, code: number, field: RegExp, what: string) => {
  assert.is(r.status, 200, `${what}: ${r.text.slice(0, 300)}`);
  assert.is(r.body.error?.code, code, `${what}: ${r.text.slice(0, 300)}`);
  assert.match(r.body.error.message, field, what);
  assert.not.match(r.text, /\bat .*\.ts:\d+/, `${what}: no stack trace`);
};
const restRefused = (r: Answer, field: RegExp, what: string) => {
  assert.is(r.status, 400, `${what}: ${r.text.slice(0, 300)}`);
  assert.is(r.body.error.status, 'INVALID_ARGUMENT', what);
  assert.match(r.body.error.message, field, what);
  assert.not.match(r.text, /\bat .*\.ts:\d+/, `${what}: no stack trace`);
};

/** Nested arrays `depth` deep, as JSON text (10,000 levels would blow a recursive walker's stack). */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

for (const kind of await runtimesFor('hostile input at the edge')) {
  const s = suite(`edge input (${kind})`);
  let hub: TestHub;
  let client: EdgeClient;
  s.before(async () => {
    hub = await startHub(kind);
    await keyVisible(hub, hub.apiKey);
    client = edgeClient(hub);
  });
  s.after(async () => hub?.stop());

  const send = (message: Json) => client.rpc('SendMessage', { message });
  const sendRest = (message: Json) => client.rest('POST', '/message:send', { message });

  s('NUL bytes and lone surrogates in any string are refused naming the field', async () => {
    const nul = userMessage('x', { parts: [{ text: 'a\u0000b' }] });
    rpcRefused(await send(nul), -32602, /message\.parts\[0\]\.text: must not contain NUL/, 'NUL in text');
    restRefused(await sendRest(nul), /message\.parts\[0\]\.text: must not contain NUL/, 'NUL in text (REST)');
    const inMetadata = userMessage('x', { metadata: { 'k\u0000': 1 } });
    rpcRefused(await send(inMetadata), -32602, /message\.metadata\.k/, 'NUL in a metadata key');
    // "\ud800" as JSON text: a lone high surrogate.
    const raw = `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m-${randomUUID()}","role":"ROLE_USER","parts":[{"text":"a\\ud800b"}]}}}`;
    rpcRefused(
      await client.rpc('', {}, { raw }),
      -32602,
      /message\.parts\[0\]\.text: must be well-formed Unicode/,
      'lone surrogate',
    );
    const restRaw = `{"message":{"messageId":"m-${randomUUID()}","role":"ROLE_USER","parts":[{"text":"\\udc00"}]}}`;
    restRefused(
      await client.rest('POST', '/message:send', undefined, { raw: restRaw }),
      /well-formed Unicode/,
      'lone surrogate (REST)',
    );
    // In a path segment and a query parameter of the REST binding.
    restRefused(await client.rest('GET', '/tasks/a%00b'), /id: must not contain NUL/, 'NUL in a path id');
    restRefused(
      await client.rest('GET', '/tasks?contextId=a%00b'),
      /contextId: must not contain NUL/,
      'NUL in a query',
    );
  });

  s('ids longer than 256 characters are refused naming the field', async () => {
    const long = 'c'.repeat(3000);
    rpcRefused(
      await send(userMessage('x', { contextId: long })),
      -32602,
      /message\.contextId: must be at most 256 characters/,
      'contextId',
    );
    restRefused(
      await sendRest(userMessage('x', { contextId: long })),
      /message\.contextId/,
      'contextId (REST)',
    );
    rpcRefused(await send(userMessage('x', { messageId: long })), -32602, /message\.messageId/, 'messageId');
    rpcRefused(await client.rpc('GetTask', { id: long }), -32602, /id: must be at most 256/, 'GetTask id');
    rpcRefused(
      await client.rpc('ListTasks', { contextId: long }),
      -32602,
      /contextId/,
      'ListTasks contextId',
    );
    restRefused(await client.rest('GET', `/tasks/${long}`), /id: must be at most 256/, 'a path id');
    // Free-form maps are the client's: a long metadata value is fine.
    const ok = await client.result('SendMessage', {
      message: userMessage('tck-complete-task', { metadata: { id: long } }),
    });
    assert.is(ok.task.status.state, 'TASK_STATE_COMPLETED');
  });

  s('a year-0000 timestamp and bad page tokens are refused naming the field', async () => {
    rpcRefused(
      await client.rpc('ListTasks', { statusTimestampAfter: '0000-01-01T00:00:00Z' }),
      -32602,
      /statusTimestampAfter: must be a timestamp between the years 0001 and 9999/,
      'year 0000',
    );
    restRefused(
      await client.rest('GET', '/tasks?statusTimestampAfter=0000-06-01T00:00:00.000Z'),
      /statusTimestampAfter/,
      'year 0000 (REST)',
    );
    const token = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const pageToken of [
      'not a token!',
      token(['0000-01-01T00:00:00.000Z', 'x']),
      token(['2020-01-01', 'x']),
      token(['2020-13-45T00:00:00.000Z', 'x']),
      token(['2020-01-01T00:00:00.000Z', 'i'.repeat(300)]),
      token({ at: 1 }),
      'A'.repeat(5000),
    ]) {
      rpcRefused(
        await client.rpc('ListTasks', { pageToken }),
        -32602,
        /pageToken/,
        `pageToken ${pageToken.slice(0, 40)}`,
      );
      restRefused(
        await client.rest('GET', `/tasks?pageToken=${encodeURIComponent(pageToken)}`),
        /pageToken/,
        'pageToken (REST)',
      );
    }
  });

  s(
    'nesting deeper than 64 levels is refused naming where; 10,000 levels do not crash anything',
    async () => {
      const deep = (depth: number) =>
        `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m-${randomUUID()}","role":"ROLE_USER","parts":[{"text":"x"}],"metadata":{"a":${nested(depth)}}}}}`;
      rpcRefused(
        await client.rpc('', {}, { raw: deep(10_000) }),
        -32602,
        /message\.metadata\.a\[0\].*nested deeper than 64 levels/,
        '10,000 levels',
      );
      const restDeep = `{"message":{"messageId":"m-${randomUUID()}","role":"ROLE_USER","parts":[{"data":${nested(10_000)}}]}}`;
      restRefused(
        await client.rest('POST', '/message:send', undefined, { raw: restDeep }),
        /nested deeper than 64 levels/,
        '10,000 levels (REST)',
      );
      const fine = await client.rpc('', {}, { raw: deep(40) });
      assert.ok(fine.body.result?.task, fine.text.slice(0, 200));
    },
  );

  s('a body that is not JSON: -32700 / 400, never a 500', async () => {
    for (const raw of ['{"jsonrpc":', 'hello', '\u0000\u0001', '']) {
      const r = await client.rpc('', {}, { raw });
      assert.is(r.body.error?.code, -32700, `${JSON.stringify(raw)}: ${r.text}`);
    }
    const rest = await client.rest('POST', '/message:send', undefined, { raw: '{"message":' });
    assert.is(rest.status, 400);
    const notUtf8 = await fetch(`${hub.url}/a2a/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': hub.apiKey },
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    });
    assert.is(((await notUtf8.json()) as Json).error.code, -32700);
  });

  s('a client may not send ROLE_AGENT messages (nor v0.3 role "agent")', async () => {
    rpcRefused(await send(userMessage('x', { role: 'ROLE_AGENT' })), -32602, /message\.role/, 'ROLE_AGENT');
    restRefused(
      await sendRest(userMessage('x', { role: 'ROLE_AGENT' })),
      /message\.role/,
      'ROLE_AGENT (REST)',
    );
    const stream = await client.rpc('SendStreamingMessage', {
      message: userMessage('x', { role: 'ROLE_AGENT' }),
    });
    rpcRefused(stream, -32602, /message\.role/, 'ROLE_AGENT (stream)');
    const v03 = await client.rpc(
      'message/send',
      {
        message: {
          kind: 'message',
          messageId: `m-${randomUUID()}`,
          role: 'agent',
          parts: [{ kind: 'text', text: 'hi' }],
        },
      },
      { headers: { 'A2A-Version': '' } },
    );
    assert.is(v03.body.error?.code, -32602, v03.text.slice(0, 300));
    assert.match(v03.body.error.message, /message\.role/);
  });

  s('every answer carries a request id: the client’s when sane, else a new one', async () => {
    const mine = await client.rpc(
      'GetTask',
      { id: randomUUID() },
      { headers: { 'X-Request-Id': 'trace-abc_123' } },
    );
    assert.is(mine.headers.get('x-request-id'), 'trace-abc_123');
    const insane = await client.rpc(
      'GetTask',
      { id: randomUUID() },
      { headers: { 'X-Request-Id': 'bad id; drop table' } },
    );
    const generated = insane.headers.get('x-request-id') ?? '';
    assert.ok(generated && generated !== 'bad id; drop table', generated);
    assert.ok((await fetch(`${hub.url}/.well-known/agent-card.json`)).headers.get('x-request-id'));
  });

  s.run();
}

// An unexpected failure (here a service that throws) answers a generic 500 in the binding's shape, with the
// request id and no detail of the error; the log line carries the error and the same request id.
const failure = suite('edge onError');
failure(
  'a thrown error is a generic 500 with a request id, JSON-RPC and REST alike, and is logged with it',
  async () => {
    const lines: Json[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const boom = async () => {
      throw new Error('secret detail of the failure');
    };
    const service = new Proxy({}, { get: () => boom }) as unknown as A2AService;
    const app = edgeApp({
      service,
      auth: { authenticate: async () => ({ tenant: 'default', principal: 'p', actsFor: [] }) },
      agents: { list: () => [] } as unknown as AgentDirectory,
      version: 'test',
      capabilities: { streaming: true, pushNotifications: false },
      checks: [],
      store: {} as EventStore,
      discovery: {} as Discovery,
      readModels: {} as SqlDatabase,
      log: pino({ level: 'error' }, sink),
    });
    const call = (path: string, body: string) =>
      app.request(path, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': 'k',
          'A2A-Version': '1.0',
          'X-Request-Id': `req-${path.length}`,
        },
        body,
      });
    const rpc = await call(
      '/a2a/jsonrpc',
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'GetTask', params: { id: 'x' } }),
    );
    const rpcBody = (await rpc.json()) as Json;
    assert.is(rpcBody.error.code, -32603);
    assert.is(rpcBody.error.message, `Internal error (request id req-12)`);
    assert.is(rpcBody.error.data[0].metadata.requestId, 'req-12');
    assert.is(rpc.headers.get('x-request-id'), 'req-12');
    const rest = await call('/a2a/rest/message:send', JSON.stringify({ message: userMessage('x') }));
    assert.is(rest.status, 500);
    const restBody = (await rest.json()) as Json;
    assert.is(restBody.error.status, 'INTERNAL');
    assert.match(restBody.error.message, /request id req-22/);
    for (const text of [JSON.stringify(rpcBody), JSON.stringify(restBody)]) {
      assert.not.match(text, /secret detail|at .*\.ts/, 'no detail, no stack on the wire');
    }
    const logged = lines.filter((l) => l.err?.message === 'secret detail of the failure');
    assert.equal(
      logged.map((l) => l.requestId),
      ['req-12', 'req-22'],
    );
    assert.ok(
      logged.every((l) => typeof l.err.stack === 'string'),
      'the log has the stack',
    );
  },
);
failure.run();
