/** The benchmark's response checks (bench/a2a/checks.ts): a fast wrong answer must never count as a good one. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkGet, checkSend, checkStream, checkSubscription } from '../../bench/a2a/checks.ts';

const task = (state: string, text: string) => ({
  id: 't1',
  contextId: 'c1',
  status: { state },
  artifacts: [{ artifactId: 'a1', parts: [{ text }] }],
});
const rpc = (result: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 1, result });
const frame = (result: unknown) => `data: ${rpc(result)}\n\n`;
const goodStream = [
  frame({ task: task('TASK_STATE_SUBMITTED', '') }),
  frame({ artifactUpdate: { taskId: 't1', artifact: { artifactId: 'a1', parts: [{ text: 'hi ' }] } } }),
  frame({
    artifactUpdate: { taskId: 't1', append: true, artifact: { artifactId: 'a1', parts: [{ text: 'x1' }] } },
  }),
  frame({ statusUpdate: { taskId: 't1', status: { state: 'TASK_STATE_COMPLETED' } } }),
].join('');

test('send: accepts a completed task echoing the text', () => {
  assert.is(checkSend(200, rpc({ task: task('TASK_STATE_COMPLETED', 'hi x1') }), 'hi x1'), null);
});

test('send: rejects a wrong echo', () => {
  assert.match(checkSend(200, rpc({ task: task('TASK_STATE_COMPLETED', 'hi x2') }), 'hi x1') ?? '', /echo/);
});

test('send: rejects a state other than COMPLETED', () => {
  assert.match(checkSend(200, rpc({ task: task('TASK_STATE_WORKING', 'hi x1') }), 'hi x1') ?? '', /WORKING/);
});

test('send: rejects a JSON-RPC error, a non-200 and a body that is not JSON', () => {
  const error = JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32001, message: 'nope' } });
  assert.match(checkSend(200, error, 'hi') ?? '', /-32001/);
  assert.match(checkSend(503, rpc({ task: task('TASK_STATE_COMPLETED', 'hi') }), 'hi') ?? '', /HTTP 503/);
  assert.match(checkSend(200, '{"jsonrpc"', 'hi') ?? '', /not JSON/);
});

test('get: accepts the task asked for, rejects another', () => {
  assert.is(checkGet(200, rpc(task('TASK_STATE_COMPLETED', 'x')), 't1'), null);
  assert.ok(checkGet(200, rpc(task('TASK_STATE_COMPLETED', 'x')), 't2'));
});

test('stream: accepts a stream closed after COMPLETED with the echo (appends joined)', () => {
  assert.is(checkStream(200, goodStream, 'hi x1'), null);
});

test('stream: rejects a truncated stream', () => {
  const cutBeforeEnd = goodStream.slice(0, goodStream.lastIndexOf('data:'));
  assert.match(checkStream(200, cutBeforeEnd, 'hi x1') ?? '', /not TASK_STATE_COMPLETED/);
  assert.match(checkStream(200, goodStream.slice(0, -5), 'hi x1') ?? '', /cut/);
});

test('stream: rejects a wrong echo and an error frame', () => {
  assert.match(checkStream(200, goodStream, 'hi x2') ?? '', /echoed text/);
  const error = `data: ${JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'boom' } })}\n\n`;
  assert.match(
    checkStream(200, frame({ task: task('TASK_STATE_SUBMITTED', '') }) + error, 'hi x1') ?? '',
    /-32603/,
  );
});

test('subscribe: the task first, closed after COMPLETED; a stream that stops at INPUT_REQUIRED fails', () => {
  const first = frame({ task: task('TASK_STATE_INPUT_REQUIRED', '') });
  const done = frame({ statusUpdate: { taskId: 't1', status: { state: 'TASK_STATE_COMPLETED' } } });
  assert.equal(checkSubscription(first + done), { verdict: null, events: 2 });
  assert.match(checkSubscription(first).verdict ?? '', /INPUT_REQUIRED/);
});

test.run();
