import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mergeArtifact, taskDecider } from '../../commands/task.ts';
import type { Message, TaskState } from '../../events/a2a.ts';
import type { TaskEvent } from '../../events/task.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(taskDecider);
const at = '2026-11-25T10:00:00.000Z';
const userMessage: Message = { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }] };
const submitted: TaskEvent = {
  type: 'TaskSubmitted',
  data: {
    taskId: 't1',
    contextId: 'c1',
    message: { ...userMessage, taskId: 't1', contextId: 'c1' },
    agent: null,
    at,
  },
};
const status = (state: TaskState): TaskEvent => ({
  type: 'TaskStatusUpdated',
  data: { state, at },
});
const working = status('TASK_STATE_WORKING');

test('submitting stamps the message with the task and context ids', () =>
  spec([])
    .when({ type: 'SubmitTask', taskId: 't1', contextId: 'c1', message: userMessage, agent: null, at })
    .thenEvents([submitted]));

test('a task id is never reused', () =>
  spec([submitted])
    .when({ type: 'SubmitTask', taskId: 't1', contextId: 'c1', message: userMessage, agent: null, at })
    .thenFails('rule_violated'));

test('commands on an unknown task are not found', () => {
  spec([]).when({ type: 'CancelTask', at }).thenFails('not_found');
  spec([]).when({ type: 'ReceiveInput', message: userMessage, at }).thenFails('not_found');
});

test('starting work moves submitted to working, once', () => {
  spec([submitted]).when({ type: 'StartWork', at }).thenEvents([working]);
  spec([submitted, working]).when({ type: 'StartWork', at }).thenEvents([]);
});

test('the agent moves the task on; never back to submitted', () => {
  for (const s of [
    'TASK_STATE_INPUT_REQUIRED',
    'TASK_STATE_AUTH_REQUIRED',
    'TASK_STATE_COMPLETED',
    'TASK_STATE_FAILED',
    'TASK_STATE_REJECTED',
  ] as const) {
    spec([submitted, working])
      .when({ type: 'UpdateStatus', state: s, at })
      .thenEvents([status(s)]);
  }
  spec([submitted, working])
    .when({ type: 'UpdateStatus', state: 'TASK_STATE_SUBMITTED', at })
    .thenFails('rule_violated');
});

test('cancel: from any live state, idempotent on canceled, refused on other terminal states', () => {
  spec([submitted])
    .when({ type: 'CancelTask', at })
    .thenEvents([status('TASK_STATE_CANCELED')]);
  spec([submitted, working, status('TASK_STATE_INPUT_REQUIRED')])
    .when({ type: 'CancelTask', at })
    .thenEvents([status('TASK_STATE_CANCELED')]);
  spec([submitted, status('TASK_STATE_CANCELED')])
    .when({ type: 'CancelTask', at })
    .thenEvents([]);
  for (const s of ['TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_REJECTED'] as const) {
    spec([submitted, status(s)])
      .when({ type: 'CancelTask', at })
      .thenFails('rule_violated', /cannot be canceled/);
  }
});

test('terminal tasks take no messages or updates', () => {
  const done = [submitted, working, status('TASK_STATE_COMPLETED')];
  spec(done)
    .when({ type: 'ReceiveInput', message: { ...userMessage, messageId: 'm2' }, at })
    .thenFails('rule_violated');
  spec(done).when({ type: 'UpdateStatus', state: 'TASK_STATE_WORKING', at }).thenFails('rule_violated');
  spec(done)
    .when({
      type: 'UpdateArtifact',
      artifact: { artifactId: 'a', parts: [{ text: 'x' }] },
      append: false,
      lastChunk: true,
      at,
    })
    .thenFails('rule_violated');
});

test('a follow-up on an interrupted task joins it; a mismatched contextId is refused', () => {
  const interrupted = [submitted, working, status('TASK_STATE_INPUT_REQUIRED')];
  const followUp = { ...userMessage, messageId: 'm2' };
  spec(interrupted)
    .when({ type: 'ReceiveInput', message: followUp, at })
    .thenEvents([
      { type: 'TaskInputReceived', data: { message: { ...followUp, taskId: 't1', contextId: 'c1' }, at } },
    ]);
  spec(interrupted)
    .when({ type: 'ReceiveInput', message: { ...followUp, contextId: 'other' }, at })
    .thenFails('rule_violated', /does not match/);
});

test('evolve builds the A2A task: history, status message, artifacts appended in chunks', () => {
  const agentMessage: Message = {
    messageId: 'a1',
    role: 'ROLE_AGENT',
    parts: [{ text: 'done' }],
    taskId: 't1',
    contextId: 'c1',
  };
  const events: TaskEvent[] = [
    submitted,
    working,
    {
      type: 'TaskArtifactUpdated',
      data: { artifact: { artifactId: 'x', parts: [{ text: 'a' }] }, append: false, lastChunk: false, at },
    },
    {
      type: 'TaskArtifactUpdated',
      data: { artifact: { artifactId: 'x', parts: [{ text: 'b' }] }, append: true, lastChunk: true, at },
    },
    { type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_COMPLETED', message: agentMessage, at } },
  ];
  const { task } = events.reduce(taskDecider.evolve, taskDecider.initialState());
  assert.is(task!.status.state, 'TASK_STATE_COMPLETED');
  assert.equal(task!.artifacts, [{ artifactId: 'x', parts: [{ text: 'a' }, { text: 'b' }] }]);
  assert.equal(
    task!.history!.map((m) => m.messageId),
    ['m1', 'a1'],
  );
});

test('a non-append update replaces the artifact with the same id', () => {
  const merged = mergeArtifact(
    [{ artifactId: 'x', parts: [{ text: 'old' }] }],
    { artifactId: 'x', parts: [{ text: 'new' }] },
    false,
  );
  assert.equal(merged, [{ artifactId: 'x', parts: [{ text: 'new' }] }]);
});

test('an appended chunk adds its parts and its metadata (a streamed reply ends with its usage)', () => {
  const merged = mergeArtifact(
    [{ artifactId: 'x', parts: [{ text: 'a' }], metadata: { model: 'm' } }],
    { artifactId: 'x', parts: [{ text: 'b' }], metadata: { usage: { promptTokens: 1 } } },
    true,
  );
  assert.equal(merged, [
    {
      artifactId: 'x',
      parts: [{ text: 'a' }, { text: 'b' }],
      metadata: { model: 'm', usage: { promptTokens: 1 } },
    },
  ]);
});

test.run();
