/**
 * The LLM agent against the scripted OpenAI-compatible stub, over real HTTP through the real `openai`
 * client: streamed artifact chunks, the conversation sent, INPUT_REQUIRED, provider failures, cancel.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import OpenAI from 'openai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Agent, AgentInvocation, AgentUpdate } from '../../agents/agent.ts';
import { type LlmAgentSpecInput, llmAgent, llmAgents } from '../../agents/llm.ts';
import { mergeArtifact } from '../../commands/task.ts';
import type { Artifact, Message, Task } from '../../events/a2a.ts';
import { type StubChatRequest, startOpenAIStub } from '../support/openai-stub.ts';
import { waitFor } from '../support/wait.ts';

const spec: LlmAgentSpecInput = {
  id: 'planner',
  name: 'Trip planner',
  description: 'Plans trips',
  system: 'You plan trips. Be brief.',
};
const user = (messageId: string, text: string): Message => ({
  messageId,
  role: 'ROLE_USER',
  parts: [{ text }],
});
const agentSaid = (messageId: string, text: string): Message => ({
  messageId,
  role: 'ROLE_AGENT',
  parts: [{ text }],
});
const invocation = (
  history: Message[],
  o: Partial<Task> & { signal?: AbortSignal } = {},
): AgentInvocation => {
  const { signal, ...task } = o;
  return {
    task: {
      id: 't1',
      contextId: 'c1',
      status: { state: 'TASK_STATE_SUBMITTED', timestamp: new Date().toISOString() },
      history,
      ...task,
    },
    input: history.at(-1)!,
    tenant: 'default',
    signal: signal ?? new AbortController().signal,
  };
};
const collect = async (agent: Agent, inv: AgentInvocation) => {
  const updates: AgentUpdate[] = [];
  for await (const u of agent.run(inv)) updates.push(u);
  return updates;
};
type ArtifactUpdate = Extract<AgentUpdate, { kind: 'artifact' }>;
const artifactsOf = (updates: AgentUpdate[]) =>
  updates.filter((u): u is ArtifactUpdate => u.kind === 'artifact');
/** The artifact as the task ends up holding it. */
const folded = (updates: AgentUpdate[]): Artifact | undefined =>
  artifactsOf(updates).reduce<Artifact[]>(
    (all, u) => mergeArtifact(all, u.artifact, u.append ?? false),
    [],
  )[0];
const textOf = (a: Artifact | undefined) => (a?.parts ?? []).map((p) => p.text ?? '').join('');
const last = (updates: AgentUpdate[]) => updates.at(-1) as Extract<AgentUpdate, { kind: 'status' }>;
/** A port nothing listens on. */
const closedPort = async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
};
const client = (baseURL: string, maxRetries = 0) => new OpenAI({ baseURL, apiKey: 'test', maxRetries });

test('the reply streams as appended chunks of one artifact, with usage, then COMPLETED', async () => {
  const reply = 'Lisbon in May: trams, tiles and pastéis de nata.';
  const stub = await startOpenAIStub({
    chat: [{ content: reply, chunkDelayMs: 60, usage: { prompt_tokens: 21, completion_tokens: 9 } }],
  });
  try {
    const agent = llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' });
    const updates = await collect(agent, invocation([user('m1', 'Where in May?')]));
    assert.equal(updates[0], { kind: 'status', state: 'TASK_STATE_WORKING' });
    assert.equal(last(updates), { kind: 'status', state: 'TASK_STATE_COMPLETED' });
    const chunks = artifactsOf(updates);
    assert.ok(chunks.length > 3, `${chunks.length} chunks`);
    assert.equal(new Set(chunks.map((c) => c.artifact.artifactId)), new Set(['t1-planner-1']));
    assert.equal(
      chunks.map((c) => c.append),
      chunks.map((_, i) => i > 0),
    );
    assert.equal(
      chunks.map((c) => c.lastChunk),
      chunks.map((_, i) => i === chunks.length - 1),
    );
    assert.is(chunks.map((c) => c.artifact.parts[0]!.text).join(''), reply);
    const artifact = folded(updates);
    assert.is(textOf(artifact), reply);
    assert.equal(artifact?.metadata, {
      usage: { promptTokens: 21, completionTokens: 9 },
      model: 'stub-chat',
    });
  } finally {
    await stub.close();
  }
});

test('deltas arriving at once are batched: a few updates, the same text', async () => {
  const pieces = Array.from({ length: 300 }, (_, i) => `w${i} `);
  const stub = await startOpenAIStub({ chat: [{ content: pieces.join(''), chunks: pieces }] });
  try {
    const [agent] = llmAgents([spec], { baseURL: stub.baseURL, model: 'stub-chat' });
    const updates = await collect(agent!, invocation([user('m1', 'count')]));
    const chunks = artifactsOf(updates);
    assert.ok(chunks.length < 20, `${chunks.length} artifact updates for 300 deltas`);
    assert.is(chunks.map((c) => c.artifact.parts[0]!.text).join(''), pieces.join(''));
    assert.is(last(updates).state, 'TASK_STATE_COMPLETED');
  } finally {
    await stub.close();
  }
});

test('the request: system prompt, then the history as user/assistant messages in order', async () => {
  const stub = await startOpenAIStub({ chat: ['Booked.', 'Booked.', 'Booked.'] });
  try {
    const agent = llmAgent(
      { ...spec, model: 'big-model', temperature: 0.2, maxTokens: 64 },
      client(stub.baseURL),
      { model: 'stub-chat' },
    );
    const history = [user('m1', 'Plan a trip'), agentSaid('a1', 'Where to?'), user('m2', 'Lisbon')];
    const expected = [
      { role: 'system', content: 'You plan trips. Be brief.' },
      { role: 'user', content: 'Plan a trip' },
      { role: 'assistant', content: 'Where to?' },
      { role: 'user', content: 'Lisbon' },
    ];
    const state = { state: 'TASK_STATE_WORKING' as const, timestamp: new Date().toISOString() };
    const followUp = await collect(agent, invocation(history, { status: state }));
    // A follow-up is already WORKING (the input did that): no second announcement.
    assert.is(followUp[0]!.kind, 'artifact');
    assert.is((followUp[0] as ArtifactUpdate).artifact.artifactId, 't1-planner-2');
    // The input not in the history yet is added once; history after the input is not this run's.
    const inv = invocation(history.slice(0, 2), { status: state });
    await collect(agent, { ...inv, input: history[2]! });
    await collect(agent, { ...invocation([...history, agentSaid('a2', 'Later')]), input: history[2]! });
    const bodies = stub.requestsTo('/v1/chat/completions').map((r) => r.body as StubChatRequest);
    for (const body of bodies) assert.equal(body.messages, expected);
    assert.is(bodies[0]!.model, 'big-model');
    assert.is(bodies[0]!.temperature, 0.2);
    assert.is(bodies[0]!.max_tokens, 64);
    assert.is(bodies[0]!.stream, true);
    assert.equal(bodies[0]!.stream_options, { include_usage: true });
  } finally {
    await stub.close();
  }
});

test('a reply starting with INPUT_REQUIRED: asks the user, with no artifact', async () => {
  const stub = await startOpenAIStub({
    chat: [
      'INPUT_REQUIRED: Which month do you travel?',
      { content: '\nINPUT_REQUIRED:', chunks: ['\nINPUT', '_REQUIRED:'] },
      'INPUT',
    ],
  });
  try {
    const agent = llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' });
    const updates = await collect(agent, invocation([user('m1', 'Plan a trip')]));
    assert.equal(artifactsOf(updates), []);
    assert.equal(last(updates), {
      kind: 'status',
      state: 'TASK_STATE_INPUT_REQUIRED',
      parts: [{ text: 'Which month do you travel?' }],
    });
    const bare = await collect(agent, invocation([user('m1', 'Plan a trip')]));
    assert.equal(last(bare).parts, [{ text: 'Please provide more input.' }]);
    // Only a reply that really starts with the prefix asks.
    const word = await collect(agent, invocation([user('m1', 'Say INPUT')]));
    assert.is(textOf(folded(word)), 'INPUT');
    assert.is(last(word).state, 'TASK_STATE_COMPLETED');
  } finally {
    await stub.close();
  }
});

test('provider failures end FAILED with a readable message; the client retries first', async () => {
  const stub = await startOpenAIStub({
    chat: [
      { error: { status: 500, message: 'the model is overloaded' } },
      { error: { status: 503, message: 'try later', retryAfterMs: 10 } },
      'Recovered.',
      { content: 'one two three four five', abortAfterChunks: 2 },
    ],
  });
  try {
    const failing = await collect(
      llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' }),
      invocation([user('m1', 'hi')]),
    );
    assert.is(last(failing).state, 'TASK_STATE_FAILED');
    assert.is(
      last(failing).parts![0]!.text,
      'LLM agent planner (model stub-chat): HTTP 500: the model is overloaded',
    );
    const retried = await collect(
      llmAgent(spec, client(stub.baseURL, 1), { model: 'stub-chat' }),
      invocation([user('m1', 'hi')]),
    );
    assert.is(textOf(folded(retried)), 'Recovered.');
    assert.is(last(retried).state, 'TASK_STATE_COMPLETED');
    // Cut mid-stream: what arrived stays, the task fails saying so.
    const cut = await collect(
      llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' }),
      invocation([user('m1', 'hi')]),
    );
    assert.is(last(cut).state, 'TASK_STATE_FAILED');
    assert.match(last(cut).parts![0]!.text!, /the reply broke off after 8 characters: /);
    assert.not.ok(artifactsOf(cut).some((c) => c.lastChunk));
  } finally {
    await stub.close();
  }
  const refused = await collect(
    llmAgent(spec, client(`http://127.0.0.1:${await closedPort()}/v1`), { model: 'stub-chat' }),
    invocation([user('m1', 'hi')]),
  );
  assert.is(last(refused).state, 'TASK_STATE_FAILED');
  assert.match(last(refused).parts![0]!.text!, /Connection error\. <- fetch failed <- connect ECONNREFUSED/);
});

test('an abort (cancel, shutdown) stops the run at once and closes the connection', async () => {
  const stub = await startOpenAIStub({ chat: [{ content: 'word '.repeat(40), chunkDelayMs: 100 }] });
  try {
    const controller = new AbortController();
    const agent = llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' });
    const updates: AgentUpdate[] = [];
    let abortedAt = 0;
    for await (const u of agent.run(invocation([user('m1', 'talk')], { signal: controller.signal }))) {
      updates.push(u);
      if (u.kind === 'artifact' && !abortedAt) {
        abortedAt = Date.now();
        controller.abort();
      }
    }
    assert.ok(Date.now() - abortedAt < 300, `ended ${Date.now() - abortedAt} ms after the abort`);
    assert.is(artifactsOf(updates).length, 1);
    assert.ok(!updates.some((u) => u.kind === 'status' && u.state !== 'TASK_STATE_WORKING'));
    await waitFor('the stub saw the connection close', async () => stub.openStreams === 0, 2000);
  } finally {
    await stub.close();
  }
});

test('a run repeated after a crash mid-stream replaces the partial artifact', async () => {
  const stub = await startOpenAIStub({
    chat: [{ content: 'Second attempt.', chunks: ['Second', ' attempt.'] }],
  });
  try {
    const agent = llmAgent(spec, client(stub.baseURL), { model: 'stub-chat' });
    const partial: Artifact = { artifactId: 't1-planner-1', parts: [{ text: 'First' }, { text: ' att' }] };
    const inv = invocation([user('m1', 'hi')], {
      status: { state: 'TASK_STATE_WORKING', timestamp: new Date().toISOString() },
      artifacts: [partial],
    });
    const updates = await collect(agent, inv);
    // Positions 0-2 (working, two chunks) were the crashed attempt's: the worker skips them.
    assert.equal(
      updates.slice(0, 3).map((u) => u.kind),
      ['status', 'status', 'status'],
    );
    const artifact = artifactsOf(updates).reduce(
      (all, u) => mergeArtifact(all, u.artifact, u.append ?? false),
      [partial],
    )[0];
    assert.is(textOf(artifact), 'Second attempt.');
  } finally {
    await stub.close();
  }
});

test('specs: readable errors, a default skill, a model required', () => {
  const openai = new OpenAI({ baseURL: 'http://127.0.0.1:1/v1', apiKey: 'x' });
  assert.throws(
    () => llmAgent({ ...spec, id: 'Bad Id' }, openai, { model: 'm' }),
    /agent ids are 1-63 chars/,
  );
  assert.throws(() => llmAgent({ ...spec, system: '' }, openai, { model: 'm' }), /system prompt/);
  assert.throws(() => llmAgent(spec, openai), /names no model/);
  const agent = llmAgent(spec, openai, { model: 'm' });
  assert.equal(agent.skills, [
    { id: 'planner', name: 'Trip planner', description: 'Plans trips', tags: ['llm'] },
  ]);
  assert.is(agent.deterministic, undefined);
});

test.run();
