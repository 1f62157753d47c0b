/**
 * The multi-agent patterns with LLM agents: every agent is an LLM agent of the hub (AGENTCORE_LLM_*),
 * talking real HTTP through the openai client to the scripted OpenAI-compatible stub, which answers as
 * each agent from its system prompt. Supervisor (started through the workflow's own A2A endpoint),
 * hierarchical, handoff and network (hand-overs routed by capability). Both runtimes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { taskStream } from '../../events/task.ts';
import { runStream } from '../../events/workflow.ts';
import {
  handoffWorkflow,
  hierarchicalWorkflow,
  networkWorkflow,
  supervisorWorkflow,
} from '../../workflows/patterns.ts';
import { defineWorkflow, readWorkflowRun, startWorkflowRun } from '../../workflows/service.ts';
import { llmAgentsEnv, runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type OpenAIStub, type StubChatRequest, startOpenAIStub } from '../support/openai-stub.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('LLM workflow patterns');

const llmAgent = (id: string, system: string, skills?: Array<{ id: string; tags: string[] }>) => ({
  id,
  name: id,
  description: `${id} (an LLM agent)`,
  system,
  ...(skills
    ? { skills: skills.map((s) => ({ ...s, name: s.id, description: `${s.id} for customers` })) }
    : {}),
});
const AGENTS = [
  llmAgent('planner', 'You plan research and write the final answer.'),
  llmAgent('researcher', 'You research one question and report briefly.'),
  llmAgent('triage', 'You answer customers, or hand billing questions over.'),
  llmAgent('billing', 'You handle billing.'),
  llmAgent('frontdesk', 'You greet customers and hand the work to the right capability.'),
  llmAgent('refunds-desk', 'You issue refunds.', [{ id: 'refunds', tags: ['refunds'] }]),
  llmAgent('auditor', 'You audit payments before refunds.', [{ id: 'audit', tags: ['audit'] }]),
];
const agentOfSystem = new Map(AGENTS.map((a) => [a.system, a.id]));

interface WireTask {
  id: string;
  status: { state: string };
  artifacts?: Array<{ parts: Array<{ text?: string }> }>;
}

const userText = (r: StubChatRequest) =>
  String([...r.messages].reverse().find((m) => m.role === 'user')?.content ?? '');

/** Each agent's behaviour, as a model would answer with its system prompt. */
const script = (r: StubChatRequest): string => {
  const said = userText(r);
  switch (agentOfSystem.get(String(r.messages[0]?.content))) {
    case 'planner':
      if (said.startsWith('Break this task')) {
        const topic = said.split('\n').slice(1).join(' ').trim();
        return `history of ${topic}\nuses of ${topic}`;
      }
      return `Report: ${said.split('\n').slice(2, -1).join('; ')}`;
    case 'researcher':
      return `notes(${said})`;
    case 'triage':
      return said.includes('refund') ? 'handoff:billing the customer wants a refund' : `Hello! ${said}`;
    case 'billing':
      return `Billing here. ${said.replace(/\n+/g, ' | ')}`;
    case 'frontdesk':
      return 'handoff:audit check the payment before refunding';
    case 'auditor':
      return 'handoff:refunds payment verified, refund it';
    case 'refunds-desk':
      return `Refunded. I was told: ${said.split('\n').slice(-2).join(' ')}`;
    default:
      return 'unknown agent';
  }
};

for (const kind of kinds) {
  const s = suite(`workflow patterns with LLM agents (${kind})`);
  let hub: TestHub;
  let stub: OpenAIStub;
  const caller = { tenant: 'default', principal: 'test:llm-patterns' };
  const chats = () =>
    stub.requestsTo('/v1/chat/completions').map((r) => {
      const body = r.body as StubChatRequest;
      return { agent: agentOfSystem.get(String(body.messages[0]?.content)), said: userText(body) };
    });
  const run = async (workflow: string, input: string) => {
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, workflow, input);
    return waitFor(
      `run of ${workflow}`,
      async () => {
        const r = await readWorkflowRun(hub.runtime.store, 'default', runId);
        return r && (r.status === 'completed' || r.status === 'failed') ? r : null;
      },
      60_000,
    );
  };

  /** SendMessage (blocking) to a workflow's own A2A endpoint. */
  const sendToWorkflow = async (workflow: string, text: string) => {
    const res = await fetch(`${hub.url}/a2a/workflows/${workflow}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': hub.apiKey },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'SendMessage',
        params: { message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] } },
      }),
    });
    return ((await res.json()) as { result: { task: WireTask } }).result;
  };

  s.before(async () => {
    stub = await startOpenAIStub({ chat: script });
    hub = await startHub(kind, { env: llmAgentsEnv(stub.baseURL, AGENTS) });
    const define = (d: Parameters<typeof defineWorkflow>[2]) => defineWorkflow(hub.runtime.store, caller, d);
    await define(supervisorWorkflow('research', { supervisor: 'planner', worker: 'researcher' }));
    await define(hierarchicalWorkflow('institute', { supervisor: 'planner', team: 'research' }));
    await define(handoffWorkflow('support', { triage: 'triage', specialists: { billing: 'billing' } }));
    await define(networkWorkflow('claims', { entry: 'frontdesk', maxHops: 4 }));
    await waitFor('the LLM agents in discovery', async () => {
      const found = await hub.runtime.discovery.discover({ tenant: 'default', tags: ['refunds', 'audit'] });
      return new Set(found.map((c) => c.agentId)).size >= 2 || null;
    });
  });
  s.after(async () => {
    await hub?.stop();
    await stub?.close();
  });

  s(
    'supervisor: started by SendMessage to the workflow agent; workers run the plan, the planner reports',
    async () => {
      const result = await sendToWorkflow('research', `tides ${kind}`);
      assert.is(result.task.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(result));
      const expected = `Report: notes(history of tides ${kind}); notes(uses of tides ${kind})`;
      assert.is(result.task.artifacts?.[0]?.parts[0]?.text, expected);
      const mine = chats().filter((c) => c.said.includes(`tides ${kind}`));
      assert.equal(
        mine.map((c) => c.agent).sort(),
        ['planner', 'planner', 'researcher', 'researcher'],
        'one plan, two subtasks, one synthesis',
      );
      // The run behind the task (its id is the task's) shows both subtasks scheduled at once.
      const events = await hub.runtime.store.readStream(runStream(result.task.id));
      assert.is(events.filter((e) => e.type === 'WorkflowMapStarted').length, 1);
    },
  );

  s('hierarchical: the top planner splits, each part is a research team of its own', async () => {
    const r = await run('institute', `magnets ${kind}`);
    assert.is(r.status, 'completed', JSON.stringify(r));
    const team = (q: string) => `Report: notes(history of ${q}); notes(uses of ${q})`;
    assert.is(r.output, `Report: ${team(`history of magnets ${kind}`)}; ${team(`uses of magnets ${kind}`)}`);
  });

  s('handoff: triage hands the conversation to billing, which sees the customer and the note', async () => {
    const r = await run('support', `I want a refund ${kind}`);
    assert.is(r.status, 'completed', JSON.stringify(r));
    assert.is(
      r.output,
      `Billing here. I want a refund ${kind} | (handed over by the triage agent: handoff:billing the customer wants a refund)`,
    );
    const plain = await run('support', `opening hours ${kind}`);
    assert.is(plain.output, `Hello! opening hours ${kind}`);
  });

  s(
    'network: LLM agents hand over by capability, each hop routed by the hub, until one answers',
    async () => {
      // Through the workflow's A2A endpoint: its task tells each hand-over as it happens.
      const result = await sendToWorkflow('claims', `double charge ${kind}`);
      assert.is(result.task.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(result));
      const told = (await hub.runtime.store.readStream(taskStream(result.task.id)))
        .map((e) => (e.data as { message?: { parts?: Array<{ text?: string }> } }).message?.parts?.[0]?.text)
        .filter((t) => t?.includes('handed over'));
      assert.equal(told, ['step solve: handed over to audit', 'step solve: handed over to refunds']);
      const r = (await readWorkflowRun(hub.runtime.store, 'default', result.task.id))!;
      assert.is(
        r.output,
        'Refunded. I was told: 1. to audit: check the payment before refunding 2. to refunds: payment verified, refund it',
      );
      const hops = chats()
        .filter((c) => c.said.startsWith(`double charge ${kind}`))
        .map((c) => c.agent);
      assert.equal(hops, ['frontdesk', 'auditor', 'refunds-desk']);
    },
  );

  s.run();
}
