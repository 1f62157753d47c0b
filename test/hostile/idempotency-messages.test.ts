/**
 * A retried message is one task: the same tenant sending the same messageId again (in sequence, at once, on
 * two edge processes) gets the task the first one made and the same answer; a follow-up retried to an
 * input-required task is recorded once; a different message reusing a messageId is refused. Both runtimes.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { taskStream } from '../../events/task.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';

// biome-ignore lint/suspicious/noExplicitAny: wire JSON, checked by the assertions
type Json = Record<string, any>;

const rpc = async (url: string, key: string, method: string, params: Json): Promise<Json> => {
  const res = await fetch(`${url}/a2a/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'a2a-version': '1.0', 'x-api-key': key },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return (await res.json()) as Json;
};

const message = (messageId: string, text = 'hello there', extra: Json = {}) => ({
  message: { messageId, role: 'ROLE_USER', parts: [{ text }], ...extra },
});

for (const kind of await runtimesFor('message idempotency')) {
  const s = suite(`idempotent messages (${kind})`);
  let hub: TestHub;
  let peer: { url: string; stop(): Promise<void> } | undefined;
  s.before(async () => {
    hub = await startHub(kind);
    if (kind === 'distributed') peer = await hub.startPeer();
  });
  s.after(async () => {
    await peer?.stop();
    await hub?.stop();
  });

  s('the same messageId sent 10 times makes one task and the same answer', async () => {
    const id = `tck-complete-task-${randomUUID()}`;
    const answers: Json[] = [];
    for (let i = 0; i < 10; i++) answers.push(await rpc(hub.url, hub.apiKey, 'SendMessage', message(id)));
    const ids = new Set(answers.map((a) => a.result?.task?.id));
    assert.is(ids.size, 1, `one task id, got ${[...ids].join(', ')}`);
    for (const a of answers) assert.is(a.result.task.status.state, 'TASK_STATE_COMPLETED');
    const events = await hub.runtime.store.readStream(taskStream([...ids][0]));
    assert.is(events.filter((e) => e.type === 'TaskSubmitted').length, 1);
    const listed = await rpc(hub.url, hub.apiKey, 'ListTasks', { pageSize: 100 });
    const same = listed.result.tasks.filter(
      (t: Json) => t.history?.[0]?.messageId === id || t.id === [...ids][0],
    );
    assert.is(same.length, 1, 'ListTasks shows one task for the message');
  });

  s('20 concurrent identical sends (over two edge processes when distributed) are one task', async () => {
    const id = `tck-complete-task-${randomUUID()}`;
    const urls = peer ? [hub.url, peer.url] : [hub.url];
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rpc(urls[i % urls.length]!, hub.apiKey, 'SendMessage', message(id)),
      ),
    );
    for (const a of answers) assert.ok(a.result?.task, `an answer with the task: ${JSON.stringify(a)}`);
    const ids = new Set(answers.map((a) => a.result.task.id));
    assert.is(ids.size, 1, `one task id, got ${ids.size}`);
    for (const a of answers) assert.is(a.result.task.status.state, 'TASK_STATE_COMPLETED');
    const events = await hub.runtime.store.readStream(taskStream([...ids][0]));
    assert.is(events.filter((e) => e.type === 'TaskSubmitted').length, 1, 'submitted once');
    assert.is(
      events.filter(
        (e) => e.type === 'TaskStatusUpdated' && (e.data as Json).state === 'TASK_STATE_COMPLETED',
      ).length,
      1,
      'completed once: the agent ran once',
    );
  });

  s('a direct-message answer is the same message on a retry', async () => {
    const id = `tck-message-response-${randomUUID()}`;
    const first = await rpc(hub.url, hub.apiKey, 'SendMessage', message(id));
    const again = await rpc(peer?.url ?? hub.url, hub.apiKey, 'SendMessage', message(id));
    assert.ok(first.result?.message, JSON.stringify(first));
    assert.equal(again.result, first.result);
  });

  s('a different message reusing a messageId is refused and changes nothing', async () => {
    const id = `tck-complete-task-${randomUUID()}`;
    const first = await rpc(hub.url, hub.apiKey, 'SendMessage', message(id, 'one'));
    const taskId = first.result.task.id;
    const before = await hub.runtime.store.readStream(taskStream(taskId));
    const other = await rpc(hub.url, hub.apiKey, 'SendMessage', message(id, 'two'));
    assert.is(other.error?.code, -32602, JSON.stringify(other));
    assert.match(other.error.message, /messageId/);
    const after = await hub.runtime.store.readStream(taskStream(taskId));
    assert.is(after.length, before.length);
  });

  s("another tenant's equal messageId is a task of its own", async () => {
    const otherKey = await hub.addTenant(`t${randomUUID().slice(0, 8)}`);
    const id = `tck-complete-task-${randomUUID()}`;
    const mine = await rpc(hub.url, hub.apiKey, 'SendMessage', message(id));
    const theirs = await rpc(hub.url, otherKey, 'SendMessage', message(id));
    assert.ok(mine.result.task.id && theirs.result.task.id);
    assert.is.not(mine.result.task.id, theirs.result.task.id);
  });

  s('a follow-up retried 4 times at once to an input-required task is recorded once', async () => {
    const started = await rpc(
      hub.url,
      hub.apiKey,
      'SendMessage',
      message(`tck-input-required-${randomUUID()}`),
    );
    const task = started.result.task;
    assert.is(task.status.state, 'TASK_STATE_INPUT_REQUIRED');
    const followUp = message(`answer-${randomUUID()}`, 'here you are', { taskId: task.id });
    const urls = peer ? [hub.url, peer.url] : [hub.url];
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => rpc(urls[i % urls.length]!, hub.apiKey, 'SendMessage', followUp)),
    );
    for (const a of answers)
      assert.is(a.result?.task?.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(a));
    const events = await hub.runtime.store.readStream(taskStream(task.id));
    assert.is(
      events.filter((e) => e.type === 'TaskInputReceived').length,
      1,
      'the follow-up is recorded once',
    );
  });

  s.run();
}
