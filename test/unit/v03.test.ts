import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SendMessageRequest } from '../../a2a-edge/schemas.ts';
import {
  artifactToV1,
  artifactToV03,
  listPushConfigsParamsToV1,
  messageToV1,
  messageToV03,
  partToV1,
  partToV03,
  pushConfigRefToV1,
  pushConfigToV03,
  STATE_TO_V03,
  sendParamsToV1,
  sendResultToV03,
  setPushConfigParamsToV1,
  stateToV1,
  stateToV03,
  streamEventToV1,
  streamResponseToV03,
  taskToV1,
  taskToV03,
  type V03Message,
  type V03Part,
  type V03Task,
} from '../../a2a-edge/v03.ts';
import { type Message, Message as MessageSchema, Part, TASK_STATES, type Task } from '../../events/a2a.ts';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

// Every part kind of v0.3, and what it is in v1.0.
const PARTS: Array<[V03Part, Part]> = [
  [{ kind: 'text', text: 'hello' }, { text: 'hello' }],
  [
    { kind: 'text', text: 'with metadata', metadata: { lang: 'en' } },
    { text: 'with metadata', metadata: { lang: 'en' } },
  ],
  [
    { kind: 'file', file: { bytes: PNG, mimeType: 'image/png', name: 'pixel.png' } },
    { raw: PNG, mediaType: 'image/png', filename: 'pixel.png' },
  ],
  [{ kind: 'file', file: { bytes: PNG } }, { raw: PNG }],
  [
    { kind: 'file', file: { uri: 'https://example.com/f.txt', mimeType: 'text/plain', name: 'f.txt' } },
    { url: 'https://example.com/f.txt', mediaType: 'text/plain', filename: 'f.txt' },
  ],
  [
    { kind: 'data', data: { key: 'value', count: 42 }, metadata: { m: 1 } },
    { data: { key: 'value', count: 42 }, metadata: { m: 1 } },
  ],
];

test('every v0.3 part kind translates to v1.0 and back unchanged', () => {
  for (const [v03, v1] of PARTS) {
    assert.equal(partToV1(v03), v1, JSON.stringify(v03));
    assert.ok(Part.safeParse(partToV1(v03)).success, `valid v1.0: ${JSON.stringify(v03)}`);
    assert.equal(partToV03(v1), v03, JSON.stringify(v1));
  }
});

test('v1.0 parts without a v0.3 home: mediaType on text and data parts is dropped', () => {
  assert.equal(partToV03({ text: 'x', mediaType: 'text/plain' }), { kind: 'text', text: 'x' });
  assert.equal(partToV03({ data: [1, 2], mediaType: 'application/json' }), { kind: 'data', data: [1, 2] });
});

test('malformed v0.3 parts reach validation instead of being invented', () => {
  // An unknown kind, a file with both bytes and uri, a text part with no text: all fail v1.0 validation.
  for (const bad of [
    { kind: 'video', url: 'x' },
    { kind: 'file', file: { bytes: PNG, uri: 'https://example.com/x' } },
    { kind: 'text' },
    { kind: 'file', file: 'nope' },
  ]) {
    assert.not.ok(Part.safeParse(partToV1(bad)).success, JSON.stringify(bad));
  }
  assert.is(partToV1('text'), 'text');
  // A part already in v1.0 shape passes through.
  assert.equal(partToV1({ text: 'v1' }), { text: 'v1' });
});

const v03Message: V03Message = {
  kind: 'message',
  messageId: 'm1',
  role: 'user',
  parts: PARTS.map(([p]) => p),
  contextId: 'ctx',
  taskId: 't1',
  metadata: { a: 1 },
  extensions: ['https://example.com/ext'],
  referenceTaskIds: ['t0'],
};

test('messages: roles and kind both ways, every field kept', () => {
  const v1 = messageToV1(v03Message) as Message;
  assert.ok(MessageSchema.safeParse(v1).success);
  assert.is(v1.role, 'ROLE_USER');
  assert.not.ok('kind' in v1);
  assert.equal(
    v1.parts,
    PARTS.map(([, p]) => p),
  );
  assert.equal(v1.referenceTaskIds, ['t0']);
  assert.equal(messageToV03(v1), v03Message);
  const agent = messageToV1({ ...v03Message, role: 'agent' }) as Message;
  assert.is(agent.role, 'ROLE_AGENT');
  assert.is(messageToV03(agent).role, 'agent');
  // An unknown role is left for validation to name.
  assert.is((messageToV1({ ...v03Message, role: 'robot' }) as { role: string }).role, 'robot');
});

test('every task state has a kebab-case v0.3 name, and back', () => {
  const expected: Record<string, string> = {
    TASK_STATE_SUBMITTED: 'submitted',
    TASK_STATE_WORKING: 'working',
    TASK_STATE_INPUT_REQUIRED: 'input-required',
    TASK_STATE_AUTH_REQUIRED: 'auth-required',
    TASK_STATE_COMPLETED: 'completed',
    TASK_STATE_FAILED: 'failed',
    TASK_STATE_CANCELED: 'canceled',
    TASK_STATE_REJECTED: 'rejected',
  };
  for (const state of TASK_STATES) {
    assert.is(stateToV03(state), expected[state]);
    assert.is(stateToV1(stateToV03(state)), state);
  }
  assert.is(STATE_TO_V03.TASK_STATE_UNSPECIFIED, 'unknown');
  assert.is(stateToV1('unknown'), 'TASK_STATE_UNSPECIFIED');
  assert.is(stateToV1('bogus'), 'bogus');
});

const task = (state: Task['status']['state']): Task => ({
  id: 't1',
  contextId: 'ctx',
  status: {
    state,
    timestamp: '2026-01-01T00:00:00.000Z',
    message: {
      messageId: 'a1',
      role: 'ROLE_AGENT',
      parts: [{ text: 'status' }],
      taskId: 't1',
      contextId: 'ctx',
    },
  },
  artifacts: [
    {
      artifactId: 'art',
      name: 'result',
      description: 'all part kinds',
      parts: PARTS.map(([, p]) => p),
      metadata: { x: 1 },
    },
  ],
  history: [
    { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }], taskId: 't1', contextId: 'ctx' },
    { messageId: 'a1', role: 'ROLE_AGENT', parts: [{ text: 'status' }], taskId: 't1', contextId: 'ctx' },
  ],
  metadata: { k: 'v' },
});

test('tasks in every state: v1.0 -> v0.3 -> v1.0 is the identity', () => {
  for (const state of TASK_STATES) {
    const v1 = task(state);
    const v03 = taskToV03(v1);
    assert.is(v03.kind, 'task');
    assert.is(v03.status.state, stateToV03(state));
    assert.is(v03.status.message?.kind, 'message');
    assert.is(v03.status.message?.role, 'agent');
    assert.equal(
      v03.artifacts?.[0]?.parts.map((p) => p.kind),
      ['text', 'text', 'file', 'file', 'file', 'data'],
    );
    assert.equal(
      v03.history?.map((m) => m.role),
      ['user', 'agent'],
    );
    assert.equal(taskToV1(v03), v1);
    assert.equal(taskToV1(JSON.parse(JSON.stringify(v03))), v1, 'survives the wire');
  }
});

test('a v0.3 task -> v1.0 -> v0.3 is the identity; absent fields stay absent', () => {
  const v03: V03Task = {
    kind: 'task',
    id: 't2',
    contextId: 'c2',
    status: { state: 'input-required', timestamp: '2026-01-01T00:00:00.000Z' },
  };
  const v1 = taskToV1(v03) as Task;
  assert.equal(v1, {
    id: 't2',
    contextId: 'c2',
    status: { state: 'TASK_STATE_INPUT_REQUIRED', timestamp: '2026-01-01T00:00:00.000Z' },
  });
  assert.equal(taskToV03(v1), v03);
  const artifact = { artifactId: 'a', parts: [{ kind: 'data' as const, data: { n: 1 } }] };
  assert.equal(artifactToV03(artifactToV1(artifact) as never), artifact);
});

test('stream responses: task, message, status (final on terminal and interrupted states), artifact chunks', () => {
  const finals = new Set([
    'TASK_STATE_COMPLETED',
    'TASK_STATE_FAILED',
    'TASK_STATE_CANCELED',
    'TASK_STATE_REJECTED',
    'TASK_STATE_INPUT_REQUIRED',
    'TASK_STATE_AUTH_REQUIRED',
  ]);
  for (const state of TASK_STATES) {
    const status = { state, timestamp: '2026-01-01T00:00:00.000Z' };
    const v03 = streamResponseToV03({ statusUpdate: { taskId: 't', contextId: 'c', status } });
    assert.equal(v03, {
      kind: 'status-update',
      taskId: 't',
      contextId: 'c',
      status: { state: stateToV03(state), timestamp: status.timestamp },
      final: finals.has(state),
    });
    assert.equal(streamEventToV1(v03), { statusUpdate: { taskId: 't', contextId: 'c', status } });
  }
  const chunk = {
    artifactUpdate: {
      taskId: 't',
      contextId: 'c',
      artifact: { artifactId: 'a', parts: [{ text: 'chunk-2' }] },
      append: true,
      lastChunk: false,
    },
  };
  const v03Chunk = streamResponseToV03(chunk);
  assert.equal(v03Chunk, {
    kind: 'artifact-update',
    taskId: 't',
    contextId: 'c',
    artifact: { artifactId: 'a', parts: [{ kind: 'text', text: 'chunk-2' }] },
    append: true,
    lastChunk: false,
  });
  assert.equal(streamEventToV1(v03Chunk), chunk);
  const t = task('TASK_STATE_WORKING');
  assert.equal(streamResponseToV03({ task: t }), taskToV03(t));
  assert.equal(streamEventToV1(taskToV03(t)), { task: t });
  const m = t.history![0]!;
  assert.equal(streamResponseToV03({ message: m }), messageToV03(m));
  assert.equal(streamEventToV1(messageToV03(m)), { message: m });
  assert.equal(sendResultToV03({ task: t }), taskToV03(t));
  assert.equal(sendResultToV03({ message: m }), messageToV03(m));
});

test('message/send params: blocking false becomes returnImmediately, push config reshaped, result valid v1.0', () => {
  const v1 = sendParamsToV1({
    message: { kind: 'message', messageId: 'm', role: 'user', parts: [{ kind: 'text', text: 'hi' }] },
    configuration: {
      blocking: false,
      historyLength: 2,
      acceptedOutputModes: ['text/plain'],
      pushNotificationConfig: {
        id: 'p1',
        url: 'https://example.com/hook',
        token: 'tok',
        authentication: { schemes: ['Bearer', 'Basic'], credentials: 'secret' },
      },
    },
    metadata: { agent: 'scenario' },
  });
  assert.equal(v1, {
    message: { messageId: 'm', role: 'ROLE_USER', parts: [{ text: 'hi' }] },
    configuration: {
      historyLength: 2,
      acceptedOutputModes: ['text/plain'],
      returnImmediately: true,
      taskPushNotificationConfig: {
        id: 'p1',
        url: 'https://example.com/hook',
        token: 'tok',
        authentication: { scheme: 'Bearer', credentials: 'secret' },
      },
    },
    metadata: { agent: 'scenario' },
  });
  assert.ok(SendMessageRequest.safeParse(v1).success);
  const blocking = sendParamsToV1({
    message: { kind: 'message', messageId: 'm', role: 'user', parts: [{ kind: 'text', text: 'hi' }] },
    configuration: { blocking: true },
  }) as { configuration: Record<string, unknown> };
  assert.equal(blocking.configuration, {});
  // Not an object: left for validation.
  assert.is(sendParamsToV1(null), null);
});

test('push-config params and results in v0.3 shapes', () => {
  assert.equal(
    setPushConfigParamsToV1({
      taskId: 't1',
      pushNotificationConfig: { url: 'https://example.com/h', authentication: { schemes: ['Bearer'] } },
    }),
    { taskId: 't1', url: 'https://example.com/h', authentication: { scheme: 'Bearer' } },
  );
  assert.equal(pushConfigRefToV1({ id: 't1', pushNotificationConfigId: 'p1' }), { taskId: 't1', id: 'p1' });
  assert.equal(pushConfigRefToV1({ id: 't1' }), { taskId: 't1', id: 't1' }, 'the default config');
  assert.equal(listPushConfigsParamsToV1({ id: 't1' }), { taskId: 't1' });
  assert.equal(
    pushConfigToV03({
      id: 'p1',
      taskId: 't1',
      url: 'https://example.com/h',
      token: 'tok',
      authentication: { scheme: 'Bearer', credentials: 'c' },
    }),
    {
      taskId: 't1',
      pushNotificationConfig: {
        id: 'p1',
        url: 'https://example.com/h',
        token: 'tok',
        authentication: { schemes: ['Bearer'], credentials: 'c' },
      },
    },
  );
});

test.run();
