/**
 * What an independent A2A v1.0 conformance suite checks at the edge, on both runtimes: the card's URL with
 * a trailing slash, Content-Type handling, the scenario agent's texts (the kit's core_operations.feature),
 * proto field names in params and queries, and SubscribeToTask alike on both bindings.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';
import { type EdgeClient, edgeClient, type Json, keyVisible, sseData, userMessage } from './edge-client.ts';

const textOf = (m?: { parts?: Array<{ text?: string }> }) =>
  m?.parts?.map((p) => p.text ?? '').join('') ?? '';

for (const kind of await runtimesFor('conformance at the edge')) {
  const s = suite(`conformance edge (${kind})`);
  let hub: TestHub;
  let client: EdgeClient;
  s.before(async () => {
    hub = await startHub(kind);
    await keyVisible(hub, hub.apiKey);
    client = edgeClient(hub);
  });
  s.after(async () => hub?.stop());

  s('B1: the JSON-RPC endpoint answers at the card URL with and without a trailing slash', async () => {
    const card = (await (
      await fetch(`${hub.url}/.well-known/agent-card.json`, { headers: { 'A2A-Version': '1.0' } })
    ).json()) as Json;
    const url = card.supportedInterfaces.find((i: Json) => i.protocolBinding === 'JSONRPC').url as string;
    for (const path of [new URL(url).pathname, `${new URL(url).pathname}/`]) {
      const sent = await client.rpc('SendMessage', { message: userMessage('tck-complete-task') }, { path });
      assert.is(sent.status, 200, `${path}: ${sent.text.slice(0, 200)}`);
      assert.is(sent.body.result.task.status.state, 'TASK_STATE_COMPLETED', path);
    }
    // A workflow's endpoint too (an unknown task id: the answer is JSON-RPC, not a 404 page).
    for (const path of ['/a2a/workflows/some-flow/jsonrpc', '/a2a/workflows/some-flow/jsonrpc/']) {
      const r = await client.rpc('GetTask', { id: randomUUID() }, { path });
      assert.is(r.status, 200, path);
      assert.is(r.body.error?.code, -32001, path);
    }
    // The REST base with a trailing slash on a route.
    const listed = await client.rest('GET', '/tasks/');
    assert.is(listed.status, 200, listed.text.slice(0, 200));
    assert.ok(Array.isArray(listed.body.tasks));
  });

  s(
    'B6: an unsupported Content-Type is -32005; application/json and application/a2a+json, with charset, are read',
    async () => {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'SendMessage',
        params: { message: userMessage('tck-complete-task') },
      });
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        const r = await client.rpc('', {}, { raw: body, headers: { 'content-type': type } });
        assert.is(r.status, 200, type);
        assert.is(r.body.error?.code, -32005, `${type}: ${r.text}`);
        assert.is(r.body.error.data[0].reason, 'CONTENT_TYPE_NOT_SUPPORTED');
        const rest = await client.rest('POST', '/message:send', undefined, {
          raw: JSON.stringify({ message: userMessage('tck-complete-task') }),
          headers: { 'content-type': type },
        });
        assert.is(rest.status, 400, type);
        assert.is(rest.body.error.details[0].reason, 'CONTENT_TYPE_NOT_SUPPORTED');
      }
      for (const type of [
        'application/json',
        'application/a2a+json',
        'application/json; charset=utf-8',
        'Application/A2A+JSON;charset=UTF-8',
      ]) {
        const r = await client.rpc('', {}, { raw: body, headers: { 'content-type': type } });
        assert.is(
          r.body.result?.task?.status.state,
          'TASK_STATE_COMPLETED',
          `${type}: ${r.text.slice(0, 200)}`,
        );
      }
    },
  );

  s('B3: the scenario agent follows core_operations.feature', async () => {
    const send = (prefix: string, configuration: Json = {}) =>
      client.result('SendMessage', { message: userMessage(prefix), configuration });
    const part = async (prefix: string) => {
      const r = await send(prefix);
      assert.is(r.task.status.state, 'TASK_STATE_COMPLETED', prefix);
      assert.is(r.task.artifacts.length, 1, prefix);
      return r.task.artifacts[0].parts[0] as Json;
    };
    assert.is((await part('tck-artifact-text')).text, 'Generated text content');
    const file = await part('tck-artifact-file');
    assert.is(Buffer.from(file.raw, 'base64').toString(), 'tck');
    assert.is(file.filename, 'output.txt');
    assert.is(file.mediaType, 'text/plain');
    const url = await part('tck-artifact-file-url');
    assert.equal(
      [url.url, url.filename, url.mediaType],
      ['https://example.com/output.txt', 'output.txt', 'text/plain'],
    );
    assert.equal((await part('tck-artifact-data')).data, { key: 'value', count: 42 });
    const reply = await send('tck-message-response');
    assert.not.ok(reply.task, 'a Message, not a task');
    assert.is(textOf(reply.message), 'Direct message response');
    assert.is(reply.message.role, 'ROLE_AGENT');
    const rejected = await send('tck-reject-task');
    assert.is(rejected.task.status.state, 'TASK_STATE_REJECTED');
    assert.is(textOf(rejected.task.status.message), 'rejected');
    // tck-delayed-complete: a returnImmediately send answers while it works, a blocking one once it is done.
    const started = Date.now();
    const quick = await send('tck-delayed-complete', { returnImmediately: true });
    assert.ok(
      ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'].includes(quick.task.status.state),
      quick.task.status.state,
    );
    assert.ok(Date.now() - started < 1500, 'returnImmediately does not wait for the delay');
    const blocking = await send('tck-delayed-complete', { returnImmediately: false });
    assert.is(blocking.task.status.state, 'TASK_STATE_COMPLETED');
    assert.is(textOf(blocking.task.status.message), 'Done after delay');
    assert.ok(Date.now() - started >= 1900, 'the blocking send waited about one streaming timeout (2 s)');
    const done = await waitFor('the non-blocking delayed task to complete', async () => {
      const t = await client.result('GetTask', { id: quick.task.id });
      return t.status.state === 'TASK_STATE_COMPLETED' && t;
    });
    assert.ok(done.history.length >= 1);
  });

  s(
    'B4: proto field names (snake_case) are read as lowerCamelCase on both bindings; free-form maps keep theirs',
    async () => {
      const contextId = randomUUID();
      const sent = await client.result('SendMessage', {
        message: {
          message_id: `tck-complete-task-${randomUUID()}`,
          role: 'ROLE_USER',
          context_id: contextId,
          parts: [{ text: 'snake', media_type: 'text/plain', metadata: { keep_me: 1 } }],
          metadata: { snake_key: { inner_key: true } },
        },
        configuration: {
          history_length: 1,
          return_immediately: false,
          accepted_output_modes: ['text/plain'],
        },
      });
      assert.is(sent.task.contextId, contextId, 'context_id was read');
      assert.is(sent.task.history.length, 1, 'history_length was read');
      const got = await client.result('GetTask', { id: sent.task.id, history_length: 5 });
      const first = got.history[0];
      assert.equal(first.metadata, { snake_key: { inner_key: true } }, 'metadata keys are the client’s');
      assert.is(first.parts[0].mediaType, 'text/plain');
      assert.equal(first.parts[0].metadata, { keep_me: 1 });
      const viaRest = await client.rest('POST', '/message:send', {
        message: {
          message_id: `tck-complete-task-${randomUUID()}`,
          role: 'ROLE_USER',
          context_id: contextId,
          parts: [{ text: 'x' }],
        },
      });
      assert.is(viaRest.status, 200, viaRest.text.slice(0, 300));
      assert.is(viaRest.body.task.contextId, contextId);
      // ListTasks honours contextId and pageSize in either spelling, JSON-RPC params and REST query alike.
      for (const params of [
        { context_id: contextId, page_size: 1 },
        { contextId, pageSize: 1 },
      ]) {
        const l = await client.result('ListTasks', params);
        assert.is(l.pageSize, 1, JSON.stringify(params));
        assert.is(l.tasks.length, 1);
        assert.is(l.totalSize, 2, 'only this context');
        assert.ok(l.nextPageToken);
        const next = await client.result('ListTasks', { ...params, page_token: l.nextPageToken });
        assert.is(next.tasks.length, 1);
        assert.is(next.nextPageToken, '');
      }
      for (const query of [
        `context_id=${contextId}&page_size=1&include_artifacts=true`,
        `contextId=${contextId}&pageSize=1`,
      ]) {
        const l = await client.rest('GET', `/tasks?${query}`);
        assert.is(l.status, 200, l.text.slice(0, 200));
        assert.is(l.body.pageSize, 1, query);
        assert.is(l.body.totalSize, 2, query);
      }
    },
  );

  s('B4: push configs in proto spelling, flat or nested as v1.0.0 drafts sent them', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const sent = await client.result('SendMessage', {
        message: userMessage('tck-input-required'),
        configuration: { push_notification_config: { url, token: 'a' } },
      });
      const taskId = sent.task.id as string;
      const listed = await client.result('ListTaskPushNotificationConfigs', { task_id: taskId });
      assert.equal(
        listed.configs.map((c: Json) => c.url),
        [url],
        'configuration.push_notification_config was read',
      );
      const created = await client.result('CreateTaskPushNotificationConfig', {
        task_id: taskId,
        id: 'snake',
        url,
      });
      assert.is(created.taskId, taskId);
      const nested = await client.rest('POST', `/tasks/${taskId}/pushNotificationConfigs`, {
        push_notification_config: { id: 'nested', url },
      });
      assert.is(nested.status, 200, nested.text.slice(0, 200));
      const all = await client.result('ListTaskPushNotificationConfigs', { task_id: taskId, page_size: 10 });
      assert.is(all.configs.length, 3);
      await client.result('CancelTask', { id: taskId });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  s(
    'B5: REST SubscribeToTask as JSON-RPC: the task first, open through input-required, refused on a terminal task',
    async () => {
      const task = (await client.result('SendMessage', { message: userMessage('tck-input-required') }))
        .task as Json;
      assert.is(task.status.state, 'TASK_STATE_INPUT_REQUIRED');
      const abort = new AbortController();
      const opened = await client.restFetch('POST', `/tasks/${task.id}:subscribe`, undefined, {
        signal: abort.signal,
      });
      assert.match(opened.headers.get('content-type') ?? '', /text\/event-stream/);
      const reading = sseData(opened, abort);
      await new Promise((r) => setTimeout(r, 300));
      await client.result('SendMessage', { message: userMessage('follow-up', { taskId: task.id }) });
      const events = await reading;
      assert.is(events[0]!.task?.id, task.id, 'the task first');
      assert.is(events[0]!.task.status.state, 'TASK_STATE_INPUT_REQUIRED');
      assert.is(
        events.at(-1)!.statusUpdate?.status.state,
        'TASK_STATE_COMPLETED',
        'open until the task ends',
      );
      const terminal = await client.rest('POST', `/tasks/${task.id}:subscribe`);
      assert.is(terminal.status, 400);
      assert.is(terminal.body.error.details[0].reason, 'UNSUPPORTED_OPERATION');
      const rpc = await client.rpc('SubscribeToTask', { id: task.id });
      assert.is(rpc.body.error?.code, -32004);
    },
  );

  s.run();
}
