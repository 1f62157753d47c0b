/**
 * Interoperability with the official A2A JS SDK (`@a2a-js/sdk` 1.3), a peer nobody here wrote, against a
 * running hub on both runtimes: the v1.0 client over JSON-RPC and over HTTP+JSON, and the SDK's v0.3 legacy
 * JSON-RPC client. Every scenario of the scenario agent (A2A.md §2) is driven through the SDK.
 *
 * Where the SDK and the specification disagree, these tests assert what the specification says (A2A.md §1,
 * §3) and say so in a comment.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DeleteTaskPushNotificationConfigRequest,
  GetTaskPushNotificationConfigRequest,
  ListTaskPushNotificationConfigsRequest,
  ListTasksRequest,
  Role,
  type StreamResponse,
  type Task,
  TaskPushNotificationConfig,
  TaskState,
} from '@a2a-js/sdk';
import { isLegacyAgentCard, parseLegacyAgentCard } from '@a2a-js/sdk/compat/v0_3/client';
import {
  A2AError,
  isJsonRpcError,
  isRestError,
  PushNotificationNotSupportedError,
  RequestMalformedError,
  TaskNotCancelableError,
  TaskNotFoundError,
  UnsupportedOperationError,
} from '@a2a-js/sdk/errors';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type RuntimeKind, startHub, type TestHub } from '../support/hub.ts';
import {
  a2aCause,
  asTask,
  type Binding,
  connect,
  connectV03,
  describeEvent,
  drain,
  isMessage,
  type Peer,
  send,
  stateName,
  textOf,
  type WireCall,
} from '../support/sdk.ts';
import { requireService } from '../support/services.ts';

const PNG_1x1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const STREAM_PREFIXES = [
  'tck-stream-001',
  'tck-stream-002',
  'tck-stream-003',
  'tck-stream-ordering-001',
  'tck-stream-artifact-text',
  'tck-stream-artifact-file',
  'tck-stream-artifact-chunked',
];
const { TASK_STATE_COMPLETED, TASK_STATE_CANCELED, TASK_STATE_INPUT_REQUIRED, TASK_STATE_REJECTED } =
  TaskState;
const TERMINAL = new Set<TaskState>([
  TASK_STATE_COMPLETED,
  TaskState.TASK_STATE_FAILED,
  TASK_STATE_CANCELED,
  TASK_STATE_REJECTED,
]);

/** A messageId the scenario agent reads by its prefix, unique per call. */
const mid = (prefix: string) => `${prefix}-${randomUUID()}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it stops throwing (read models are eventually consistent). */
const eventually = async <T>(fn: () => Promise<T>, ms = 5000): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
};

/** The call must fail with the SDK error class `expected` (matched through the SDK's own error mapping). */
const rejects = async (
  call: () => unknown,
  expected: abstract new (...args: never[]) => A2AError,
  what: string,
): Promise<A2AError> => {
  let error: unknown;
  try {
    await call();
  } catch (e) {
    error = a2aCause(e);
  }
  if (error === undefined) assert.unreachable(`${what}: expected ${expected.name}, but the call succeeded`);
  assert.ok(
    error instanceof expected,
    `${what}: expected ${expected.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
  return error as A2AError;
};

const assertState = (task: Task, state: TaskState, what: string) =>
  assert.is(
    stateName(task.status?.state),
    stateName(state),
    `${what}: task ${task.id} is ${stateName(task.status?.state)}, expected ${stateName(state)}`,
  );

/** The JSON the hub put on the wire for a call: the JSON-RPC `result`, or the REST body. */
const wireResult = (call: WireCall | undefined, binding: Binding | 'v0.3'): Record<string, unknown> => {
  assert.ok(call?.body, 'the response body was recorded');
  const body = JSON.parse(call!.body!) as Record<string, unknown>;
  return (binding === 'HTTP+JSON' ? body : body.result) as Record<string, unknown>;
};
const lastA2ACall = (calls: WireCall[]) => calls.filter((c) => c.url.includes('/a2a/')).at(-1);

/** A deadline for a stream: the SDK call gets the signal, `drain` reports what arrived if it fires. */
const deadline = (ms = 15_000) => AbortSignal.timeout(ms);

// ---------------------------------------------------------------------------------------------------------
// Hubs and suites

const hubs = new Map<RuntimeKind, Promise<TestHub>>();
const hubFor = (kind: RuntimeKind) => {
  let hub = hubs.get(kind);
  if (!hub) {
    hub = startHub(kind);
    hubs.set(kind, hub);
  }
  return hub;
};
const stopHub = async (kind: RuntimeKind) => {
  const hub = hubs.get(kind);
  hubs.delete(kind);
  await (await hub?.catch(() => undefined))?.stop();
};

const timeLimit = async (work: Promise<void>, ms: number, what: string) => {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms / 1000}s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * A uvu suite whose context comes from `setup` (run once, before the tests). A failed setup fails every test
 * with its error instead of crashing the file; `skip` registers every test as skipped.
 */
const makeSuite = <C>(
  title: string,
  skip: boolean,
  setup: () => Promise<C>,
  teardown: () => Promise<void> = async () => {},
) => {
  const s = suite(title);
  let ctx: C | undefined;
  let setupError: unknown;
  s.before(async () => {
    if (skip) return;
    try {
      ctx = await setup();
    } catch (error) {
      setupError = error;
    }
  });
  s.after(async () => {
    if (!skip) await teardown();
  });
  const it = (name: string, fn: (c: C) => Promise<void>, timeoutMs = 45_000) => {
    if (skip) return s.skip(name);
    s(name, async () => {
      if (!ctx) {
        throw new Error(
          `setup failed: ${setupError instanceof Error ? (setupError.stack ?? setupError.message) : String(setupError)}`,
        );
      }
      await timeLimit(fn(ctx), timeoutMs, name);
    });
  };
  return { it, run: () => s.run() };
};

// ---------------------------------------------------------------------------------------------------------
// The v1.0 client, over one binding

interface V1Ctx {
  hub: TestHub;
  peer: Peer;
  binding: Binding;
  /** The public card, as served. */
  card: Record<string, unknown>;
  /** A task this suite canceled while it was working (checked again later). */
  canceledId?: string;
  /** The key of another tenant, registered at setup (isolation checks). */
  otherKey: string;
}

const v1Suite = (kind: RuntimeKind, binding: Binding, skip: boolean) => {
  const authHeader = binding === 'JSONRPC' ? 'x-api-key' : 'authorization';
  const { it, run } = makeSuite<V1Ctx>(
    `sdk interop: ${kind} hub, v1.0 client over ${binding}`,
    skip,
    async () => {
      const hub = await hubFor(kind);
      const card = (await (await fetch(`${hub.url}/.well-known/agent-card.json`)).json()) as Record<
        string,
        unknown
      >;
      // Registered now, used much later: the key's read model has caught up by then.
      const otherKey = await hub.addTenant(`other${randomUUID().slice(0, 8)}`);
      return { hub, card, binding, otherKey, peer: await connect(hub.url, hub.apiKey, binding) };
    },
  );

  it('createFromUrl reads the card and picks the interface of the binding', async ({ hub, peer }) => {
    assert.is(peer.client.transport.protocolName, binding);
    assert.is(peer.client.protocolVersion, '1.0');
    const cardCall = peer.calls[0];
    assert.ok(cardCall, 'the factory fetched the card');
    assert.is(new URL(cardCall!.url).pathname, '/.well-known/agent-card.json');
    assert.is(cardCall!.status, 200);
    await peer.client.sendMessage(send(mid('hello'), 'hello'));
    const path = binding === 'JSONRPC' ? '/a2a/jsonrpc' : '/a2a/rest/message:send';
    assert.is(lastA2ACall(peer.calls)?.url, `${hub.url}${path}`);
  });

  it('every request carries A2A-Version: 1.0 (no header would mean v0.3) and the API key', async ({
    peer,
  }) => {
    await peer.client.sendMessage(send(mid('version'), 'which version?'));
    const a2a = peer.calls.filter((c) => c.url.includes('/a2a/'));
    assert.ok(a2a.length > 0);
    for (const c of peer.calls) assert.is(c.headers.get('a2a-version'), '1.0', `${c.method} ${c.url}`);
    for (const c of a2a) assert.ok(c.headers.get(authHeader), `${c.method} ${c.url} carries ${authHeader}`);
  });

  it('getAgentCard fetches the authenticated extended card', async ({ peer }) => {
    const card = await peer.client.getAgentCard();
    assert.match(card.description, /Extended card/);
    assert.equal(
      card.supportedInterfaces.map((i) => i.protocolBinding),
      ['JSONRPC', 'HTTP+JSON'],
    );
  });

  it('tck-complete-task: completed, status message "Hello from TCK", v1.0 ProtoJSON on the wire', async ({
    peer,
  }) => {
    const messageId = mid('tck-complete-task');
    const task = asTask(await peer.client.sendMessage(send(messageId, 'complete me')), 'tck-complete-task');
    assertState(task, TASK_STATE_COMPLETED, 'tck-complete-task');
    assert.ok(task.id && task.contextId, 'the server generated ids');
    assert.is(textOf(task.status?.message?.parts), 'Hello from TCK');
    assert.is(task.status?.message?.role, Role.ROLE_AGENT);
    assert.is(task.status?.message?.contextId, task.contextId, 'a server message carries the contextId');
    assert.ok(
      task.history.some((m) => m.messageId === messageId && m.role === Role.ROLE_USER),
      'history holds the user message',
    );
    const wire = lastA2ACall(peer.calls);
    const result = wireResult(wire, binding) as { task: { status: { state: string; timestamp: string } } };
    assert.is(result.task.status.state, 'TASK_STATE_COMPLETED', 'enums are proto names on the wire');
    assert.match(result.task.status.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.not.match(wire!.body!, /"kind"/, 'no v0.3 `kind` member anywhere');
  });

  it('tck-artifact-text / -file / -file-url / -data: completed with one artifact of each part kind', async ({
    peer,
  }) => {
    const run = async (prefix: string) => {
      const task = asTask(await peer.client.sendMessage(send(mid(prefix), 'artifact please')), prefix);
      assertState(task, TASK_STATE_COMPLETED, prefix);
      assert.is(task.artifacts.length, 1, `${prefix}: one artifact`);
      const artifact = task.artifacts[0]!;
      assert.ok(artifact.artifactId, `${prefix}: artifactId`);
      assert.is(artifact.parts.length, 1, `${prefix}: one part`);
      return artifact.parts[0]!;
    };
    const text = await run('tck-artifact-text');
    assert.equal(text.content, { $case: 'text', value: 'Generated text content' });

    const file = await run('tck-artifact-file');
    assert.is(file.content?.$case, 'raw');
    assert.is(Buffer.from(file.content?.value as Buffer).toString(), 'tck', 'raw bytes round-trip');
    assert.is(file.mediaType, 'text/plain');
    assert.is(file.filename, 'output.txt');

    const url = await run('tck-artifact-file-url');
    assert.equal(url.content, { $case: 'url', value: 'https://example.com/output.txt' });
    assert.is(url.mediaType, 'text/plain');
    assert.is(url.filename, 'output.txt');

    const data = await run('tck-artifact-data');
    assert.equal(data.content, { $case: 'data', value: { key: 'value', count: 42 } });
    assert.is(data.mediaType, 'application/json');
  });

  it('anything else is echoed back as an artifact and completed', async ({ peer }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('plain'), 'echo this back')), 'echo');
    assertState(task, TASK_STATE_COMPLETED, 'echo');
    assert.is(textOf(task.artifacts[0]?.parts), 'echo this back');
    assert.is(textOf(task.status?.message?.parts), 'echo this back');
  });

  it('tck-message-response: answered with a Message, no Task', async ({ peer }) => {
    const result = await peer.client.sendMessage(send(mid('tck-message-response'), 'just answer'));
    assert.ok(isMessage(result), `expected a Message, got ${JSON.stringify(result)}`);
    if (!isMessage(result)) return;
    assert.is(result.role, Role.ROLE_AGENT);
    assert.is(textOf(result.parts), 'Direct message response');
    assert.ok(result.contextId, 'a message sent by the server carries contextId');
    assert.ok('message' in wireResult(lastA2ACall(peer.calls), binding), 'the wire result is {message}');
  });

  it('tck-input-required: INPUT_REQUIRED, then a follow-up with the same taskId completes', async ({
    peer,
  }) => {
    const first = mid('tck-input-required');
    const task = asTask(await peer.client.sendMessage(send(first, 'start')), 'input-required');
    assertState(task, TASK_STATE_INPUT_REQUIRED, 'the blocking send returns at the interrupted state');
    assert.is(textOf(task.status?.message?.parts), 'Please provide more input');

    const second = randomUUID();
    const done = asTask(
      await peer.client.sendMessage(
        send(second, 'here you go', { taskId: task.id, contextId: task.contextId, historyLength: 1 }),
      ),
      'follow-up',
    );
    assert.is(done.id, task.id, 'the same task');
    assert.is(done.contextId, task.contextId);
    assertState(done, TASK_STATE_COMPLETED, 'follow-up');
    assert.is(textOf(done.status?.message?.parts), 'Received: here you go');
    assert.ok(done.history.length <= 1, `historyLength 1 on send: got ${done.history.length} messages`);
  });

  it('a follow-up naming only the taskId is accepted (the server infers the contextId)', async ({ peer }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-input-required'), 'start')), 'start');
    const done = asTask(
      await peer.client.sendMessage(send(randomUUID(), 'no context', { taskId: task.id })),
      'follow-up',
    );
    assertState(done, TASK_STATE_COMPLETED, 'follow-up without contextId');
    assert.is(done.contextId, task.contextId);
  });

  it('getTask honours historyLength (unset: all, N: the N most recent, 0: none)', async ({ peer }) => {
    const first = mid('tck-input-required');
    const task = asTask(await peer.client.sendMessage(send(first, 'start')), 'start');
    const second = randomUUID();
    await peer.client.sendMessage(send(second, 'more', { taskId: task.id, contextId: task.contextId }));

    const full = await peer.client.getTask({ tenant: '', id: task.id });
    assertState(full, TASK_STATE_COMPLETED, 'getTask');
    const ids = full.history.map((m) => m.messageId);
    assert.ok(ids.includes(first) && ids.includes(second), `both user messages in history: ${ids}`);
    assert.ok(ids.indexOf(first) < ids.indexOf(second), 'oldest first');

    const one = await peer.client.getTask({ tenant: '', id: task.id, historyLength: 1 });
    assert.is(one.history.length, 1);
    assert.is(one.history[0]!.messageId, ids.at(-1), 'the most recent message');

    const none = await peer.client.getTask({ tenant: '', id: task.id, historyLength: 0 });
    assert.is(none.history.length, 0);
    assert.not.ok('history' in wireResult(lastA2ACall(peer.calls), binding), '0 means no history field');
    assertState(none, TASK_STATE_COMPLETED, 'getTask historyLength 0');
  });

  it('tck-reject-task: REJECTED', async ({ peer }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-reject-task'), 'reject me')), 'reject');
    assertState(task, TASK_STATE_REJECTED, 'tck-reject-task');
    assert.is(textOf(task.status?.message?.parts), 'rejected');
  });

  it('a message to a task in a terminal state fails with UnsupportedOperationError', async ({ peer }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-complete-task'), 'done')), 'complete');
    await rejects(
      () => peer.client.sendMessage(send(randomUUID(), 'too late', { taskId: task.id })),
      UnsupportedOperationError,
      'follow-up to a completed task',
    );
  });

  it('a message naming a taskId that does not exist fails with TaskNotFoundError', async ({ peer }) => {
    await rejects(
      () => peer.client.sendMessage(send(randomUUID(), 'who?', { taskId: randomUUID() })),
      TaskNotFoundError,
      'client-supplied taskId',
    );
  });

  it('the hub rejects what the SDK lets through: a message with no parts, a negative historyLength', async ({
    peer,
  }) => {
    // A2A.md §3: the SDK accepts `parts: []` and a negative historyLength; the spec requires at least one
    // part (required arrays hold at least one element) and historyLength >= 0. The SDK's ts-proto encoder
    // drops the empty array, so the hub sees a message without parts. Invalid params: -32602 / HTTP 400,
    // which the SDK reads as RequestMalformedError.
    const empty = send(mid('tck-complete-task'), 'x');
    empty.message!.parts = [];
    await rejects(() => peer.client.sendMessage(empty), RequestMalformedError, 'parts: []');
    const task = asTask(await peer.client.sendMessage(send(mid('tck-complete-task'), 'ok')), 'complete');
    await rejects(
      () => peer.client.getTask({ tenant: '', id: task.id, historyLength: -1 }),
      RequestMalformedError,
      'getTask historyLength -1',
    );
    await rejects(
      () => peer.client.sendMessage(send(mid('tck-complete-task'), 'x', { historyLength: -1 })),
      RequestMalformedError,
      'send historyLength -1',
    );
  });

  it('blocking send of every stream scenario and of test-resubscribe-message-id: completed', async ({
    peer,
  }) => {
    for (const prefix of STREAM_PREFIXES) {
      const task = asTask(await peer.client.sendMessage(send(mid(prefix), 'blocking')), prefix);
      assertState(task, TASK_STATE_COMPLETED, prefix);
      assert.is(textOf(task.status?.message?.parts), 'Stream completed', prefix);
      assert.is(task.artifacts.length, 1, `${prefix}: one artifact (chunks are appended to it)`);
      const parts = task.artifacts[0]!.parts;
      if (prefix === 'tck-stream-artifact-chunked') assert.is(textOf(parts), 'chunk-1 chunk-2 chunk-3');
      else if (prefix === 'tck-stream-artifact-file') {
        assert.is(Buffer.from(parts[0]?.content?.value as Buffer).toString('base64'), PNG_1x1);
      } else assert.is(textOf(parts), 'Stream artifact', prefix);
    }
    const started = Date.now();
    const slow = asTask(
      await peer.client.sendMessage(send(mid('test-resubscribe-message-id'), 'take your time')),
      'resubscribe scenario',
    );
    assertState(slow, TASK_STATE_COMPLETED, 'test-resubscribe-message-id (blocking waits ~4 s)');
    assert.is(textOf(slow.status?.message?.parts), 'Done after waiting');
    assert.ok(Date.now() - started >= 3000, 'the blocking call waited for the end');
  });

  for (const prefix of STREAM_PREFIXES) {
    it(`sendMessageStream ${prefix}: task, working, artifact(s), completed, then the stream ends`, async ({
      peer,
    }) => {
      const signal = deadline();
      const events = await drain(
        peer.client.sendMessageStream(send(mid(prefix), 'stream please'), { signal }),
        signal,
        prefix,
      );
      const shape = events.map(describeEvent);
      const first = events[0]?.payload;
      assert.is(first?.$case, 'task', `the first event is the task: [${shape}]`);
      const task = first!.value as Task;
      assert.ok(task.id && task.contextId);
      assert.not.ok(TERMINAL.has(task.status!.state), 'the first event shows the task before it ends');
      for (const e of events.slice(1)) {
        const p = e.payload;
        assert.ok(
          p?.$case === 'statusUpdate' || p?.$case === 'artifactUpdate',
          `only updates after the task: [${shape}]`,
        );
        if (p?.$case === 'statusUpdate' || p?.$case === 'artifactUpdate') {
          assert.is(p.value.taskId, task.id);
          assert.is(p.value.contextId, task.contextId);
        }
      }
      const working = shape.indexOf('statusUpdate(TASK_STATE_WORKING)');
      const firstArtifact = shape.findIndex((s) => s.startsWith('artifactUpdate'));
      assert.ok(working > 0 && firstArtifact > working, `working before the artifacts: [${shape}]`);
      assert.is(shape.at(-1), 'statusUpdate(TASK_STATE_COMPLETED)', `the last event completes: [${shape}]`);
      const last = events.at(-1)!.payload;
      if (last?.$case === 'statusUpdate')
        assert.is(textOf(last.value.status?.message?.parts), 'Stream completed');

      const updates = events.flatMap((e) => (e.payload?.$case === 'artifactUpdate' ? [e.payload.value] : []));
      if (prefix === 'tck-stream-artifact-chunked') {
        assert.is(updates.length, 3, `three chunks: [${shape}]`);
        assert.is(new Set(updates.map((u) => u.artifact?.artifactId)).size, 1, 'one artifact id');
        assert.equal(
          updates.map((u) => u.append),
          [false, true, true],
          'the later chunks append',
        );
        assert.equal(
          updates.map((u) => u.lastChunk),
          [false, false, true],
          'the last chunk says so',
        );
        assert.is(updates.map((u) => textOf(u.artifact?.parts)).join(''), 'chunk-1 chunk-2 chunk-3');
      } else {
        assert.is(updates.length, 1, `one artifact update: [${shape}]`);
        assert.ok(updates[0]!.lastChunk, 'a single chunk is the last chunk');
        const part = updates[0]!.artifact?.parts[0];
        if (prefix === 'tck-stream-artifact-file') {
          assert.is(part?.content?.$case, 'raw');
          assert.is(Buffer.from(part?.content?.value as Buffer).toString('base64'), PNG_1x1);
          assert.is(part?.mediaType, 'image/png');
        } else assert.is(textOf(updates[0]!.artifact?.parts), 'Stream artifact');
      }
    });
  }

  it('sendMessageStream tck-message-response: exactly one Message, then the stream closes', async ({
    peer,
  }) => {
    // Spec §3.1.2: "Message-only stream: ... the stream MUST contain exactly one Message object and then
    // close immediately."
    const signal = deadline();
    const events = await drain(
      peer.client.sendMessageStream(send(mid('tck-message-response'), 'just answer'), { signal }),
      signal,
      'message stream',
    );
    assert.equal(events.map(describeEvent), ['message']);
    const p = events[0]!.payload;
    if (p?.$case === 'message') assert.is(textOf(p.value.parts), 'Direct message response');
  });

  it('sendMessageStream tck-input-required ends at INPUT_REQUIRED; a streamed follow-up completes', async ({
    peer,
  }) => {
    let signal = deadline();
    const events = await drain(
      peer.client.sendMessageStream(send(mid('tck-input-required'), 'start'), { signal }),
      signal,
      'input-required stream',
    );
    const shape = events.map(describeEvent);
    assert.is(shape[0]?.startsWith('task('), true, `[${shape}]`);
    assert.is(shape.at(-1), 'statusUpdate(TASK_STATE_INPUT_REQUIRED)', `[${shape}]`);
    const task = events[0]!.payload!.value as Task;

    signal = deadline();
    const more = await drain(
      peer.client.sendMessageStream(send(randomUUID(), 'streamed answer', { taskId: task.id }), { signal }),
      signal,
      'follow-up stream',
    );
    const moreShape = more.map(describeEvent);
    assert.is(more[0]?.payload?.$case, 'task', `a follow-up stream starts with the task: [${moreShape}]`);
    assert.is((more[0]!.payload!.value as Task).id, task.id);
    assert.is(moreShape.at(-1), 'statusUpdate(TASK_STATE_COMPLETED)', `[${moreShape}]`);
    const last = more.at(-1)!.payload;
    if (last?.$case === 'statusUpdate') {
      assert.is(textOf(last.value.status?.message?.parts), 'Received: streamed answer');
    }
  });

  it('listTasks: only our tasks, newest first, cursor pages, artifacts omitted unless asked', async ({
    hub,
    peer,
    otherKey,
  }) => {
    const contextId = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const task = asTask(
        await peer.client.sendMessage(send(mid('list'), `list ${i}`, { contextId })),
        'list',
      );
      assert.is(task.contextId, contextId, 'a client-supplied contextId is kept');
      ids.push(task.id);
    }
    const page = await eventually(async () => {
      const r = await peer.client.listTasks(ListTasksRequest.fromJSON({ contextId }));
      if (
        r.totalSize !== 3 ||
        r.tasks.length !== 3 ||
        r.tasks.some((t) => t.status?.state !== TASK_STATE_COMPLETED)
      ) {
        throw new Error(`the list has not caught up: ${JSON.stringify(r)}`);
      }
      return r;
    });
    assert.equal(
      page.tasks.map((t) => t.id),
      [...ids].reverse(),
      'newest first',
    );
    assert.is(page.nextPageToken, '');
    const wire = wireResult(lastA2ACall(peer.calls), binding) as { tasks: object[]; nextPageToken?: string };
    assert.is(wire.nextPageToken, '', 'nextPageToken is always present, "" on the last page');
    for (const t of wire.tasks) assert.not.ok('artifacts' in t, 'includeArtifacts defaults to false');

    const p1 = await peer.client.listTasks(ListTasksRequest.fromJSON({ contextId, pageSize: 2 }));
    assert.equal(
      p1.tasks.map((t) => t.id),
      [ids[2], ids[1]],
    );
    assert.ok(p1.nextPageToken, 'a cursor to the next page');
    assert.is(p1.totalSize, 3);
    const p2 = await peer.client.listTasks(
      ListTasksRequest.fromJSON({ contextId, pageSize: 2, pageToken: p1.nextPageToken }),
    );
    assert.equal(
      p2.tasks.map((t) => t.id),
      [ids[0]],
    );
    assert.is(p2.nextPageToken, '');

    const withArtifacts = await peer.client.listTasks(
      ListTasksRequest.fromJSON({ contextId, includeArtifacts: true }),
    );
    assert.is(textOf(withArtifacts.tasks[0]?.artifacts[0]?.parts), 'list 2');

    const all = await peer.client.listTasks(ListTasksRequest.fromJSON({ pageSize: 100 }));
    const times = all.tasks.map((t) => Date.parse(t.status?.timestamp ?? ''));
    assert.ok(
      times.every((t, i) => i === 0 || t <= times[i - 1]!),
      'sorted by status timestamp, newest first',
    );

    // Another tenant sees none of it (§13.1: not found rather than forbidden).
    const other = await connect(hub.url, otherKey, binding);
    // eventually: addTenant can return before the key is projected (test/support/hub.ts), and the hub
    // remembers an unknown key for 5 s.
    const theirs = await eventually(
      () => other.client.listTasks(ListTasksRequest.fromJSON({ contextId })),
      12_000,
    );
    assert.is(theirs.tasks.length, 0);
    await rejects(
      () => other.client.getTask({ tenant: '', id: ids[0]! }),
      TaskNotFoundError,
      'cross-tenant get',
    );
  });

  it('cancelTask on a working task (test-resubscribe-message-id): CANCELED; cancelling again is idempotent', async (ctx) => {
    const { peer } = ctx;
    const task = asTask(
      await peer.client.sendMessage(
        send(mid('test-resubscribe-message-id'), 'cancel me', { returnImmediately: true }),
      ),
      'returnImmediately',
    );
    assert.not.ok(TERMINAL.has(task.status!.state), 'returnImmediately answers before the task ends');
    const canceled = await peer.client.cancelTask({ tenant: '', id: task.id, metadata: undefined });
    assert.is(canceled.id, task.id);
    assertState(canceled, TASK_STATE_CANCELED, 'cancelTask');
    const again = await peer.client.cancelTask({ tenant: '', id: task.id, metadata: undefined });
    assertState(again, TASK_STATE_CANCELED, 'a second cancel');
    assertState(await peer.client.getTask({ tenant: '', id: task.id }), TASK_STATE_CANCELED, 'getTask');
    ctx.canceledId = task.id;
  });

  it('cancelTask on a completed task fails with TaskNotCancelableError, on an unknown one with TaskNotFoundError', async ({
    peer,
  }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-complete-task'), 'done')), 'complete');
    const error = await rejects(
      () => peer.client.cancelTask({ tenant: '', id: task.id, metadata: undefined }),
      TaskNotCancelableError,
      'cancel a completed task',
    );
    // The binding's error shape (§1.6, v1.0.1): JSON-RPC -32002 with an ErrorInfo array in `data`; REST 400
    // with ErrorInfo in `details` (the SDK picked the class from its reason).
    if (isJsonRpcError(error)) {
      assert.is(error.envelopeCode, -32002);
      assert.ok(Array.isArray(error.data), 'v1.0 error.data is an array');
      assert.is((error.data as Array<{ reason?: string }>)[0]?.reason, 'TASK_NOT_CANCELABLE');
    } else {
      assert.ok(isRestError(error), `a REST error: ${error}`);
      if (isRestError(error)) assert.is(error.statusCode, 400);
    }
    await rejects(
      () => peer.client.cancelTask({ tenant: '', id: randomUUID(), metadata: undefined }),
      TaskNotFoundError,
      'cancel an unknown task',
    );
    await rejects(() => peer.client.getTask({ tenant: '', id: randomUUID() }), TaskNotFoundError, 'getTask');
  });

  it('resubscribeTask on a working task: the task first, then events to completion, and the stream ends (two subscribers)', async ({
    peer,
  }) => {
    const task = asTask(
      await peer.client.sendMessage(
        send(mid('test-resubscribe-message-id'), 'subscribe to me', { returnImmediately: true }),
      ),
      'returnImmediately',
    );
    const subscribe = async () => {
      const signal = deadline(20_000);
      return drain(
        peer.client.resubscribeTask({ tenant: '', id: task.id }, { signal }),
        signal,
        'resubscribe',
      );
    };
    const [a, b] = await Promise.all([subscribe(), subscribe()]);
    for (const events of [a, b]) {
      const shape = events.map(describeEvent);
      assert.is(events[0]?.payload?.$case, 'task', `SubscribeToTask sends the task first: [${shape}]`);
      assert.is((events[0]!.payload!.value as Task).id, task.id);
      assert.is(shape.at(-1), 'statusUpdate(TASK_STATE_COMPLETED)', `[${shape}]`);
      assert.is(shape.filter((s) => s.includes('COMPLETED')).length, 1, `nothing after the end: [${shape}]`);
    }
    const done = await peer.client.getTask({ tenant: '', id: task.id });
    assertState(done, TASK_STATE_COMPLETED, 'after the subscription ended');
    assert.is(textOf(done.status?.message?.parts), 'Done after waiting');
  });

  it('resubscribeTask on a task in a terminal state fails with UnsupportedOperationError', async ({
    peer,
  }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-complete-task'), 'done')), 'complete');
    const signal = deadline();
    await rejects(
      () =>
        drain(peer.client.resubscribeTask({ tenant: '', id: task.id }, { signal }), signal, 'resubscribe'),
      UnsupportedOperationError,
      'subscribe to a completed task',
    );
  });

  it('a canceled task stays canceled after the agent would have finished', async ({ peer, canceledId }) => {
    assert.ok(canceledId, 'the cancel test ran first');
    const task = await peer.client.getTask({ tenant: '', id: canceledId! });
    assertState(task, TASK_STATE_CANCELED, 'more than 4 s after the cancel');
  });

  it('push notification configs: create/get/list/delete when the card offers them, else PushNotificationNotSupported', async ({
    peer,
    card,
  }) => {
    const offered = (card.capabilities as { pushNotifications?: boolean }).pushNotifications === true;
    const task = asTask(await peer.client.sendMessage(send(mid('tck-input-required'), 'hold')), 'push');
    const ref = { tenant: '', taskId: task.id, id: 'cfg-1' };
    if (!offered) {
      const config = TaskPushNotificationConfig.fromJSON({
        taskId: task.id,
        url: 'https://example.com/hook',
      });
      // The SDK itself refuses create/get/list when the card does not offer push...
      await rejects(
        () => peer.client.createTaskPushNotificationConfig(config),
        PushNotificationNotSupportedError,
        'SDK: create',
      );
      await rejects(
        () => peer.client.getTaskPushNotificationConfig(GetTaskPushNotificationConfigRequest.fromJSON(ref)),
        PushNotificationNotSupportedError,
        'SDK: get',
      );
      await rejects(
        () =>
          peer.client.listTaskPushNotificationConfig(ListTaskPushNotificationConfigsRequest.fromJSON(ref)),
        PushNotificationNotSupportedError,
        'SDK: list',
      );
      // ...but not delete: that one reaches the hub, which must answer PushNotificationNotSupportedError.
      await rejects(
        () =>
          peer.client.deleteTaskPushNotificationConfig(DeleteTaskPushNotificationConfigRequest.fromJSON(ref)),
        PushNotificationNotSupportedError,
        'hub: delete',
      );
      // The hub answers all four methods so, whatever the client believes (§3.3.4).
      const v1 = { serviceParameters: { 'A2A-Version': '1.0' } };
      const t = peer.client.transport;
      await rejects(
        () => t.createTaskPushNotificationConfig(config, v1),
        PushNotificationNotSupportedError,
        'hub: create',
      );
      await rejects(
        () => t.getTaskPushNotificationConfig(GetTaskPushNotificationConfigRequest.fromJSON(ref), v1),
        PushNotificationNotSupportedError,
        'hub: get',
      );
      await rejects(
        () => t.listTaskPushNotificationConfig(ListTaskPushNotificationConfigsRequest.fromJSON(ref), v1),
        PushNotificationNotSupportedError,
        'hub: list',
      );
      return;
    }
    // A webhook that accepts whatever the hub delivers while the configs exist.
    const hook = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    try {
      const created = await peer.client.createTaskPushNotificationConfig(
        TaskPushNotificationConfig.fromJSON({
          taskId: task.id,
          url,
          token: 'tok-1',
          authentication: { scheme: 'Bearer', credentials: 'secret-1' },
        }),
      );
      assert.ok(created.id, 'the server gives the config an id');
      assert.is(created.taskId, task.id);
      assert.is(created.url, url);
      const id = { tenant: '', taskId: task.id, id: created.id };
      const got = await peer.client.getTaskPushNotificationConfig(
        GetTaskPushNotificationConfigRequest.fromJSON(id),
      );
      assert.is(got.id, created.id);
      assert.is(got.url, url);
      assert.is(got.authentication?.scheme, 'Bearer');
      const listed = await peer.client.listTaskPushNotificationConfig(
        ListTaskPushNotificationConfigsRequest.fromJSON({ taskId: task.id }),
      );
      assert.ok(
        listed.configs.some((c) => c.id === created.id),
        'listed',
      );
      await peer.client.deleteTaskPushNotificationConfig(
        DeleteTaskPushNotificationConfigRequest.fromJSON(id),
      );
      const after = await peer.client.listTaskPushNotificationConfig(
        ListTaskPushNotificationConfigsRequest.fromJSON({ taskId: task.id }),
      );
      assert.not.ok(
        after.configs.some((c) => c.id === created.id),
        'gone after delete',
      );
      await rejects(
        () => peer.client.getTaskPushNotificationConfig(GetTaskPushNotificationConfigRequest.fromJSON(id)),
        A2AError,
        'get after delete',
      );
      // Delete MUST be idempotent.
      await peer.client.deleteTaskPushNotificationConfig(
        DeleteTaskPushNotificationConfigRequest.fromJSON(id),
      );
    } finally {
      hook.closeAllConnections();
      await new Promise((r) => hook.close(r));
    }
  });

  it('a wrong API key is refused with HTTP 401', async ({ hub }) => {
    const intruder = await connect(hub.url, 'ac_not_a_key', binding);
    let failed = false;
    try {
      await intruder.client.sendMessage(send(mid('tck-complete-task'), 'let me in'));
    } catch {
      failed = true;
    }
    assert.ok(failed, 'the call failed');
    assert.is(lastA2ACall(intruder.calls)?.status, 401);
  });

  it('every request of this suite carried A2A-Version: 1.0 and the key', async ({ peer }) => {
    const a2a = peer.calls.filter((c) => c.url.includes('/a2a/'));
    assert.ok(a2a.length > 30, `${a2a.length} calls`);
    const wrong = a2a.filter((c) => c.headers.get('a2a-version') !== '1.0' || !c.headers.get(authHeader));
    assert.equal(
      wrong.map((c) => `${c.method} ${c.url}`),
      [],
    );
  });

  run();
};

// ---------------------------------------------------------------------------------------------------------
// The v0.3 legacy client (JSON-RPC `message/send`, `kind`, kebab-case states)

interface V03Ctx {
  hub: TestHub;
  peer: Peer & { rawCard: Record<string, unknown> };
}

const v03Suite = (kind: RuntimeKind, skip: boolean) => {
  const { it, run } = makeSuite<V03Ctx>(
    `sdk interop: ${kind} hub, v0.3 legacy client over JSON-RPC`,
    skip,
    async () => {
      const hub = await hubFor(kind);
      return { hub, peer: await connectV03(hub.url, hub.apiKey) };
    },
    () => stopHub(kind),
  );

  it("the card's v0.3 fields are readable by a v0.3 peer (the SDK's v0.3 card parser)", async ({
    hub,
    peer,
  }) => {
    const { rawCard } = peer;
    assert.is(rawCard.url, `${hub.url}/a2a/jsonrpc`);
    assert.is(rawCard.preferredTransport, 'JSONRPC');
    // What a v0.3 reader sees: the card without the v1.0-only member it does not know.
    const { supportedInterfaces: _v1Only, ...v03View } = rawCard;
    assert.ok(isLegacyAgentCard(v03View), 'recognised as a v0.3 card');
    let parsed: ReturnType<typeof parseLegacyAgentCard> | undefined;
    try {
      parsed = parseLegacyAgentCard(v03View);
    } catch (error) {
      assert.unreachable(
        `a v0.3 peer cannot parse the card: ${(error as Error).message}; securitySchemes = ${JSON.stringify(rawCard.securitySchemes)}`,
      );
    }
    assert.equal(
      parsed!.supportedInterfaces.map((i) => [i.protocolBinding, i.url]),
      [
        // The card's `url` and its one additional interface: only JSON-RPC serves v0.3 peers.
        ['JSONRPC', `${hub.url}/a2a/jsonrpc`],
        ['JSONRPC', `${hub.url}/a2a/jsonrpc`],
      ],
    );
  });

  it('agent/getAuthenticatedExtendedCard: the v0.3 client reads the extended card', async ({ peer }) => {
    // The card advertises supportsAuthenticatedExtendedCard to v0.3 peers; the SDK's v0.3 transport asks
    // `agent/getAuthenticatedExtendedCard` and reads the result as a v0.3 AgentCard.
    const card = await peer.client.getAgentCard();
    assert.match(card.description, /Extended card/);
  });

  it("every interface of the card's v0.3 view serves v0.3 peers", async ({ hub, peer }) => {
    const advertised = [
      { url: String(peer.rawCard.url), transport: String(peer.rawCard.preferredTransport) },
      ...((peer.rawCard.additionalInterfaces ?? []) as Array<{ url: string; transport: string }>),
    ];
    const failures: string[] = [];
    for (const i of advertised) {
      const legacy = await connectV03(hub.url, hub.apiKey, {
        binding: i.transport as Binding,
        endpoint: i.url,
      });
      try {
        const task = asTask(await legacy.client.sendMessage(send(mid('tck-complete-task'), 'v0.3')), i.url);
        assertState(task, TASK_STATE_COMPLETED, `${i.transport} ${i.url}`);
      } catch (error) {
        const call = lastA2ACall(legacy.calls);
        failures.push(
          `${i.transport} ${i.url}: ${(error as Error).message}${call ? ` (${call.method} ${call.url} -> ${call.status})` : ''}`,
        );
      }
    }
    assert.equal(failures, [], failures.join('\n'));
  });

  it('message/send tck-complete-task: a v0.3 task comes back (kind, kebab-case state)', async ({ peer }) => {
    assert.is(peer.client.protocolVersion, '0.3');
    const task = asTask(
      await peer.client.sendMessage(send(mid('tck-complete-task'), 'old style')),
      'v0.3 send',
    );
    assertState(task, TASK_STATE_COMPLETED, 'v0.3 tck-complete-task');
    assert.is(textOf(task.status?.message?.parts), 'Hello from TCK');
    const call = lastA2ACall(peer.calls)!;
    assert.is(call.headers.get('a2a-version'), '0.3');
    const result = wireResult(call, 'v0.3') as { kind: string; status: { state: string } };
    assert.is(result.kind, 'task');
    assert.is(result.status.state, 'completed');
  });

  it('message/send artifacts: text, file bytes, file uri, data', async ({ peer }) => {
    const part = async (prefix: string) => {
      const task = asTask(await peer.client.sendMessage(send(mid(prefix), 'artifact')), prefix);
      assertState(task, TASK_STATE_COMPLETED, prefix);
      return task.artifacts[0]?.parts[0];
    };
    assert.equal((await part('tck-artifact-text'))?.content, {
      $case: 'text',
      value: 'Generated text content',
    });
    const file = await part('tck-artifact-file');
    assert.is(file?.content?.$case, 'raw');
    assert.is(Buffer.from(file?.content?.value as Buffer).toString(), 'tck');
    assert.is(file?.mediaType, 'text/plain');
    assert.equal((await part('tck-artifact-file-url'))?.content, {
      $case: 'url',
      value: 'https://example.com/output.txt',
    });
    assert.equal((await part('tck-artifact-data'))?.content, {
      $case: 'data',
      value: { key: 'value', count: 42 },
    });
  });

  it('message/send tck-message-response: a Message; tck-reject-task: rejected', async ({ peer }) => {
    const reply = await peer.client.sendMessage(send(mid('tck-message-response'), 'answer'));
    assert.ok(isMessage(reply), `a Message: ${JSON.stringify(reply)}`);
    if (isMessage(reply)) assert.is(textOf(reply.parts), 'Direct message response');
    const rejected = asTask(await peer.client.sendMessage(send(mid('tck-reject-task'), 'no')), 'reject');
    assertState(rejected, TASK_STATE_REJECTED, 'v0.3 reject');
  });

  it('message/send tck-input-required, then a follow-up on the same taskId completes; tasks/get with historyLength', async ({
    peer,
  }) => {
    const task = asTask(await peer.client.sendMessage(send(mid('tck-input-required'), 'start')), 'v0.3');
    assertState(task, TASK_STATE_INPUT_REQUIRED, 'v0.3 input-required');
    const done = asTask(
      await peer.client.sendMessage(
        send(randomUUID(), 'more', { taskId: task.id, contextId: task.contextId }),
      ),
      'v0.3 follow-up',
    );
    assertState(done, TASK_STATE_COMPLETED, 'v0.3 follow-up');
    assert.is(textOf(done.status?.message?.parts), 'Received: more');
    const full = await peer.client.getTask({ tenant: '', id: task.id });
    assert.ok(full.history.length >= 2);
    const one = await peer.client.getTask({ tenant: '', id: task.id, historyLength: 1 });
    assert.is(one.history.length, 1);
    assert.is(one.history[0]!.messageId, full.history.at(-1)!.messageId);
  });

  it('message/stream tck-stream-artifact-chunked: task, working, chunks, completed, then the stream ends', async ({
    peer,
  }) => {
    const signal = deadline();
    const events: StreamResponse[] = await drain(
      peer.client.sendMessageStream(send(mid('tck-stream-artifact-chunked'), 'stream'), { signal }),
      signal,
      'v0.3 stream',
    );
    const shape = events.map(describeEvent);
    assert.is(events[0]?.payload?.$case, 'task', `[${shape}]`);
    assert.ok(shape.includes('statusUpdate(TASK_STATE_WORKING)'), `[${shape}]`);
    const chunks = events.flatMap((e) => (e.payload?.$case === 'artifactUpdate' ? [e.payload.value] : []));
    assert.equal(
      chunks.map((c) => [c.append, c.lastChunk]),
      [
        [false, false],
        [true, false],
        [true, true],
      ],
    );
    assert.is(chunks.map((c) => textOf(c.artifact?.parts)).join(''), 'chunk-1 chunk-2 chunk-3');
    assert.is(shape.at(-1), 'statusUpdate(TASK_STATE_COMPLETED)', `[${shape}]`);
  });

  it('tasks/cancel on a working task, again (idempotent), and on a completed task (TaskNotCancelable)', async ({
    peer,
  }) => {
    const task = asTask(
      await peer.client.sendMessage(
        send(mid('test-resubscribe-message-id'), 'cancel', { returnImmediately: true }),
      ),
      'v0.3 blocking: false',
    );
    assert.not.ok(TERMINAL.has(task.status!.state), 'blocking: false answers before the end');
    assertState(
      await peer.client.cancelTask({ tenant: '', id: task.id, metadata: undefined }),
      TASK_STATE_CANCELED,
      'cancel',
    );
    assertState(
      await peer.client.cancelTask({ tenant: '', id: task.id, metadata: undefined }),
      TASK_STATE_CANCELED,
      'again',
    );
    const done = asTask(await peer.client.sendMessage(send(mid('tck-complete-task'), 'done')), 'complete');
    await rejects(
      () => peer.client.cancelTask({ tenant: '', id: done.id, metadata: undefined }),
      TaskNotCancelableError,
      'v0.3 cancel of a completed task',
    );
    await rejects(() => peer.client.getTask({ tenant: '', id: randomUUID() }), TaskNotFoundError, 'v0.3 get');
  });

  it('tasks/resubscribe on a working task: the task first, then events to completion', async ({ peer }) => {
    const task = asTask(
      await peer.client.sendMessage(
        send(mid('test-resubscribe-message-id'), 'watch', { returnImmediately: true }),
      ),
      'v0.3 blocking: false',
    );
    const signal = deadline(20_000);
    const events = await drain(
      peer.client.resubscribeTask({ tenant: '', id: task.id }, { signal }),
      signal,
      'v0.3 resubscribe',
    );
    const shape = events.map(describeEvent);
    assert.is(events[0]?.payload?.$case, 'task', `[${shape}]`);
    assert.is(shape.at(-1), 'statusUpdate(TASK_STATE_COMPLETED)', `[${shape}]`);
  });

  it('a pre-1.0 client that sends no A2A-Version header is served v0.3', async ({ hub }) => {
    const legacy = await connectV03(hub.url, hub.apiKey, { noVersionHeader: true });
    const task = asTask(
      await legacy.client.sendMessage(send(mid('tck-complete-task'), 'no header')),
      'no header',
    );
    assertState(task, TASK_STATE_COMPLETED, 'no A2A-Version header');
    const call = lastA2ACall(legacy.calls)!;
    assert.is(call.headers.get('a2a-version'), null, 'really no header');
    assert.is((wireResult(call, 'v0.3') as { kind?: string }).kind, 'task', 'a v0.3 result');
    const signal = deadline();
    const events = await drain(
      legacy.client.sendMessageStream(send(mid('tck-stream-001'), 'stream'), { signal }),
      signal,
      'no-header stream',
    );
    assert.is(events.map(describeEvent).at(-1), 'statusUpdate(TASK_STATE_COMPLETED)');
  });

  run();
};

// ---------------------------------------------------------------------------------------------------------

const distributedUp = (await requireService('pgvector')) && (await requireService('nats'));
for (const kind of ['embedded', 'distributed'] as const) {
  const skip = kind === 'distributed' && !distributedUp;
  v1Suite(kind, 'JSONRPC', skip);
  v1Suite(kind, 'HTTP+JSON', skip);
  v03Suite(kind, skip);
}
