/**
 * An LLM agent configured by environment (AGENTCORE_LLM_*) in a real hub, talking to the scripted
 * OpenAI-compatible stub: registered like the other in-process agents, reachable by `metadata.agent`,
 * streaming its reply, and asking for input with the answer continuing the conversation. Both runtimes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { llmAgentsEnv, runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type OpenAIStub, type StubChatRequest, startOpenAIStub } from '../support/openai-stub.ts';
import { readSse, rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('LLM agents');

const SYSTEM = 'You are a hotel concierge. Ask for the date when it is missing.';
const concierge = {
  id: 'concierge',
  name: 'Concierge',
  description: 'Books hotels and answers travel questions',
  system: SYSTEM,
  skills: [
    { id: 'hotel-booking', name: 'Hotel booking', description: 'Books hotel rooms', tags: ['travel'] },
  ],
};

interface WireArtifact {
  artifactId: string;
  parts: Array<{ text?: string }>;
  metadata?: Record<string, unknown>;
}
interface WireTask {
  id: string;
  status: { state: string; message?: { parts: Array<{ text?: string }> } };
  artifacts?: WireArtifact[];
}
interface StreamEvent {
  task?: WireTask;
  statusUpdate?: { status: { state: string } };
  artifactUpdate?: { artifact: WireArtifact; append?: boolean; lastChunk?: boolean };
}
const textOf = (parts: Array<{ text?: string }> | undefined) =>
  (parts ?? []).map((p) => p.text ?? '').join('');

/** Asks for the date on a first "book" message; otherwise answers the last user message. */
const script = (request: StubChatRequest) => {
  const users = request.messages.filter((m) => m.role === 'user').map((m) => String(m.content));
  if (users[0]!.startsWith('book') && users.length === 1) return 'INPUT_REQUIRED: For which date?';
  return {
    content: `Answer to: ${users.at(-1)}`,
    chunkDelayMs: 60,
    usage: { prompt_tokens: 30, completion_tokens: 4 },
  };
};

for (const kind of kinds) {
  const s = suite(`LLM agents from configuration (${kind})`);
  let hub: TestHub;
  let stub: OpenAIStub;
  const message = (text: string, taskId?: string) => ({
    message: {
      messageId: crypto.randomUUID(),
      role: 'ROLE_USER',
      parts: [{ text }],
      ...(taskId ? { taskId } : {}),
    },
    metadata: { agent: 'concierge' },
  });
  const send = async (text: string, taskId?: string): Promise<WireTask> => {
    const res = await rpc(hub.url, hub.apiKey, 'SendMessage', message(text, taskId));
    const body = (await res.json()) as { result?: { task: WireTask }; error?: unknown };
    assert.ok(body.result, JSON.stringify(body));
    return body.result.task;
  };
  const chatRequests = () => stub.requestsTo('/v1/chat/completions').map((r) => r.body as StubChatRequest);

  s.before(async () => {
    stub = await startOpenAIStub({ chat: script });
    hub = await startHub(kind, { env: llmAgentsEnv(stub.baseURL, [concierge]) });
  });
  s.after(async () => {
    await hub?.stop();
    await stub?.close();
  });

  s('the agent is registered and listed like the built-in ones', async () => {
    const listed = await waitFor('the agent in the registry', async () => {
      const res = await fetch(`${hub.url}/api/admin/agents`, { headers: { 'X-API-Key': hub.apiKey } });
      const { agents } = (await res.json()) as {
        agents: Array<{ agentId: string; tenant: string; builtIn: boolean; endpoint: { kind: string } }>;
      };
      return agents.find((a) => a.agentId === 'concierge');
    });
    assert.equal([listed.tenant, listed.builtIn, listed.endpoint.kind], ['system', true, 'in-process']);
    const card = (await (await fetch(`${hub.url}/.well-known/agent-card.json`)).json()) as {
      skills: Array<{ id: string; tags: string[] }>;
    };
    const skill = card.skills.find((k) => k.id === 'concierge.hotel-booking');
    assert.equal(skill?.tags, ['travel', 'agent:concierge']);
    await waitFor('discovery indexed its skill', async () => {
      const res = await fetch(`${hub.url}/api/agents?skill=hotel-booking`, {
        headers: { 'X-API-Key': hub.apiKey },
      });
      const { agents } = (await res.json()) as { agents: Array<{ agentId: string }> };
      return agents.some((a) => a.agentId === 'concierge');
    });
  });

  s('SendMessage naming the agent comes back COMPLETED with the model’s reply', async () => {
    const task = await send(`hello from ${kind}`);
    assert.is(task.status.state, 'TASK_STATE_COMPLETED');
    assert.is(task.artifacts?.length, 1);
    assert.is(textOf(task.artifacts![0]!.parts), `Answer to: hello from ${kind}`);
    assert.equal(task.artifacts![0]!.metadata, {
      usage: { promptTokens: 30, completionTokens: 4 },
      model: 'stub-chat',
    });
    const request = chatRequests().at(-1)!;
    assert.equal(request.messages, [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `hello from ${kind}` },
    ]);
  });

  s('streaming: WORKING, then the reply in appended chunks, then COMPLETED', async () => {
    const res = await rpc(hub.url, hub.apiKey, 'SendStreamingMessage', message(`stream it ${kind}`));
    const events: StreamEvent[] = [];
    for await (const e of readSse(res)) events.push((e.data as { result: StreamEvent }).result);
    assert.ok(events[0]?.task);
    const chunks = events.flatMap((e) => (e.artifactUpdate ? [e.artifactUpdate] : []));
    assert.ok(chunks.length > 1, JSON.stringify(events));
    assert.is(chunks.map((c) => textOf(c.artifact.parts)).join(''), `Answer to: stream it ${kind}`);
    assert.ok(chunks.slice(1).every((c) => c.append));
    assert.ok(chunks.at(-1)!.lastChunk);
    const states = events.flatMap((e) => (e.statusUpdate ? [e.statusUpdate.status.state] : []));
    assert.equal(states, ['TASK_STATE_WORKING', 'TASK_STATE_COMPLETED']);
  });

  s('INPUT_REQUIRED: the agent asks; the answer continues the same conversation', async () => {
    const asked = await send(`book a room in Porto ${kind}`);
    assert.is(asked.status.state, 'TASK_STATE_INPUT_REQUIRED');
    assert.is(textOf(asked.status.message?.parts), 'For which date?');
    assert.equal(asked.artifacts ?? [], []);
    const done = await send('next Friday', asked.id);
    assert.is(done.status.state, 'TASK_STATE_COMPLETED');
    assert.is(textOf(done.artifacts?.[0]?.parts), 'Answer to: next Friday');
    assert.equal(chatRequests().at(-1)!.messages, [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `book a room in Porto ${kind}` },
      { role: 'assistant', content: 'For which date?' },
      { role: 'user', content: 'next Friday' },
    ]);
  });

  s.run();
}
