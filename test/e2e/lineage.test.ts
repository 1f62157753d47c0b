/**
 * Lineage end to end on both runtimes: GET /api/lineage/tasks/:id of a task routed between two remote
 * agents, one left out for its open circuit (the decision, every candidate, the why, the circuit change);
 * GET /api/lineage/runs/:id of a workflow run with a retry and a compensation; a chain hub A → hub B (B
 * registered as a remote agent of A, behind a gateway that adds B's key) shown as one graph by the ids the
 * call carried; tenant scoping and precise errors.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LINEAGE_EXTENSION } from '../../events/lineage.ts';
import { taskStream } from '../../events/task.ts';
import { lineageProjection } from '../../projections/lineage.ts';
import { rebuild } from '../../projections/runner.ts';
import { defineWorkflow, startWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type KeyGateway, startKeyGateway } from '../support/key-gateway.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/remote-agents.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';
import { orderWorkflow, workflowTestAgents } from '../support/workflow-agents.ts';

const kinds = await runtimesFor('lineage');
const TRANSLATE = 'Please translate this sentence into French: good morning, my friend';

interface Node {
  id: string;
  kind: string;
  attributes: Record<string, unknown>;
  why?: string;
}
interface Graph {
  nodes: Node[];
  edges: Array<{ from: string; to: string; kind: string }>;
  truncated: boolean;
}

const get = async (hub: TestHub, path: string, key = hub.apiKey) => {
  const res = await fetch(`${hub.url}/api/lineage/${path}`, { headers: key ? { 'x-api-key': key } : {} });
  return { status: res.status, body: (await res.json()) as Graph & { error?: { message: string } } };
};
/** The graph once `ready` holds for it (the read model is kept asynchronously). */
const graphWhen = (hub: TestHub, path: string, ready: (g: Graph) => boolean, what: string) =>
  waitFor(what, async () => {
    const r = await get(hub, path);
    return r.status === 200 && ready(r.body) ? r.body : null;
  });
const settledState = (hub: TestHub, taskId: string) =>
  waitFor(`task ${taskId} settled`, async () => {
    const es = await hub.runtime.store.readStream(taskStream(taskId));
    const last = [...es].reverse().find((e) => e.type === 'TaskStatusUpdated');
    const state = (last?.data as { state?: string } | undefined)?.state;
    return state && /COMPLETED|FAILED|CANCELED|REJECTED/.test(state) ? state : null;
  });
const send = async (hub: TestHub, text: string, metadata?: Record<string, unknown>) => {
  const res = await rpc(hub.url, hub.apiKey, 'SendMessage', {
    message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
    configuration: { returnImmediately: true },
    ...(metadata ? { metadata } : {}),
  });
  const body = (await res.json()) as { result?: { task: { id: string } } };
  assert.ok(body.result, JSON.stringify(body));
  return body.result!.task.id;
};

for (const kind of kinds) {
  const s = suite(`lineage (${kind})`);
  let hub: TestHub;
  let hubB: TestHub;
  let gateway: KeyGateway;
  let translator: RemoteAgent;
  let polyglot: RemoteAgent;
  const admin = async (h: TestHub, body: unknown) => {
    const res = await fetch(`${h.url}/api/admin/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': h.apiKey },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { agentId: string };
    assert.is(res.status, 201, JSON.stringify(json));
    return json.agentId;
  };

  s.before(async () => {
    const skill = (id: string, description: string) => ({ id, name: id, description, tags: ['translation'] });
    gateway = await startKeyGateway();
    [translator, polyglot, hub, hubB] = await Promise.all([
      startRemoteAgent({
        version: '1.0',
        name: 'Translator',
        skills: [skill('translate', 'Translates text between languages, for example English to French')],
      }),
      startRemoteAgent({
        version: '1.0',
        name: 'Polyglot',
        skills: [skill('translate-fr', 'Translates English text into French')],
      }),
      startHub(kind, {
        overrides: { agents: workflowTestAgents },
        env: {
          AGENTCORE_DEFAULT_AGENT: 'route',
          AGENTCORE_ROUTING_WEIGHTS: JSON.stringify({ similarity: 0.5, latency: 0, cost: 0.5, quality: 0 }),
          AGENTCORE_CIRCUIT_FAILURE_THRESHOLD: '1',
          AGENTCORE_CIRCUIT_COOLDOWN_MS: '120000',
        },
      }),
      startHub(kind, { env: { AGENTCORE_PUBLIC_URL: gateway.url } }),
    ]);
  });
  s.after(async () => {
    await Promise.all([translator?.stop(), polyglot?.stop(), gateway?.stop()]);
    await Promise.all([hub?.stop(), hubB?.stop()]);
  });

  s('a routed task: the decision with every candidate, why, and the circuit that left one out', async () => {
    await admin(hub, { url: translator.url, costPerRequest: 1 });
    await admin(hub, { url: polyglot.url, costPerRequest: 4 });
    await waitFor('both agents discoverable', async () => {
      const res = await fetch(`${hub.url}/api/agents?q=${encodeURIComponent(TRANSLATE)}`, {
        headers: { 'x-api-key': hub.apiKey },
      });
      const { agents } = (await res.json()) as { agents: Array<{ agentId: string }> };
      return agents.some((a) => a.agentId === 'translator') && agents.some((a) => a.agentId === 'polyglot');
    });
    // The cheaper translator wins, fails once: its circuit opens (threshold 1).
    translator.setBehaviour('fail');
    const failed = await send(hub, TRANSLATE);
    assert.is(await settledState(hub, failed), 'TASK_STATE_FAILED');
    const first = await graphWhen(
      hub,
      `tasks/${failed}`,
      (g) => g.nodes.some((n) => n.kind === 'circuit-change'),
      'the failed call and the circuit it opened',
    );
    const call = first.nodes.find((n) => n.kind === 'remote-call')!;
    assert.equal([call.attributes.agentKey, call.attributes.outcome], ['default:translator', 'failed']);
    const opened = first.nodes.find((n) => n.kind === 'circuit-change')!;
    assert.is(opened.attributes.change, 'opened');
    assert.ok(first.edges.some((e) => e.from === call.id && e.to === opened.id && e.kind === 'changed'));

    // The next task goes to the polyglot; the decision says why, the circuit change is in its graph.
    translator.setBehaviour('echo');
    const moved = await send(hub, TRANSLATE);
    assert.is(await settledState(hub, moved), 'TASK_STATE_COMPLETED');
    const g = await graphWhen(
      hub,
      `tasks/${moved}`,
      (x) => x.nodes.some((n) => n.kind === 'remote-task'),
      'the routed task with its call and remote task',
    );
    const decision = g.nodes.find((n) => n.kind === 'routing-decision')!;
    assert.is(decision.attributes.agentKey, 'default:polyglot');
    const candidates = decision.attributes.candidates as Array<{ agentKey: string; excludedBy?: string }>;
    assert.is(candidates.find((c) => c.agentKey === 'default:translator')?.excludedBy, 'circuit-open');
    assert.match(decision.why!, /^routed to polyglot: similarity \d/);
    assert.match(decision.why!, /translator \(translate\) skipped: circuit open/);
    assert.ok(g.edges.some((e) => e.from === opened.id && e.to === decision.id && e.kind === 'influenced'));
    assert.ok(g.edges.some((e) => e.from === `task:${moved}` && e.to === decision.id && e.kind === 'routed'));
    assert.is(g.truncated, false);
  });

  s('a workflow run: the run, its steps and their tasks, the retry and the compensation', async () => {
    const caller = { tenant: 'default', principal: 'test:lineage' };
    await defineWorkflow(hub.runtime.store, caller, orderWorkflow('order'));
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'order', `decline flaky ${kind}`);
    const g = await graphWhen(
      hub,
      `runs/${runId}`,
      (x) => x.nodes.some((n) => n.kind === 'workflow-run' && n.attributes.state === 'failed'),
      `run ${runId} failed in the lineage`,
    );
    const steps = g.nodes.filter((n) => n.kind === 'workflow-step');
    assert.equal(
      steps.map(
        (n) => `${n.attributes.stepId}${n.attributes.compensation ? '(undo)' : ''}#${n.attributes.attempt}`,
      ),
      ['reserve#1', 'charge#1', 'charge#2', 'reserve(undo)#1'],
    );
    for (const step of steps) {
      assert.ok(g.edges.some((e) => e.from === `run:${runId}` && e.to === step.id && e.kind === 'scheduled'));
      const task = `task:${step.attributes.taskId}`;
      assert.ok(
        g.nodes.some((n) => n.id === task),
        `the task of ${step.id}`,
      );
      assert.ok(g.edges.some((e) => e.from === step.id && e.to === task && e.kind === 'ran'));
    }
    assert.ok(g.edges.some((e) => e.from === steps[1]!.id && e.to === steps[2]!.id && e.kind === 'retried'));
    const compensation = g.nodes.find((n) => n.kind === 'compensation')!;
    assert.is(compensation.attributes.failedStep, 'charge');
    assert.ok(
      g.edges.some((e) => e.from === compensation.id && e.to === steps[3]!.id && e.kind === 'compensates'),
    );
    // A step's task: its graph holds the step and the run that produced it.
    const t = await get(hub, `tasks/${steps[2]!.attributes.taskId}`);
    assert.is(t.status, 200);
    for (const id of [`run:${runId}`, steps[2]!.id])
      assert.ok(
        t.body.nodes.some((n) => n.id === id),
        id,
      );
  });

  s('hub A → hub B: the call carries the ids, B links its task back, A shows B’s task', async () => {
    gateway.forwardTo(hubB.url, hubB.apiKey);
    const agentId = await admin(hub, { url: gateway.url, agentId: 'hub-b' });
    const taskA = await send(hub, 'hello over two hubs', { agent: agentId });
    assert.is(await settledState(hub, taskA), 'TASK_STATE_COMPLETED');
    const a = await graphWhen(
      hub,
      `tasks/${taskA}`,
      (g) => g.nodes.some((n) => n.kind === 'remote-task'),
      "A's task with B's task",
    );
    const remote = a.nodes.find((n) => n.kind === 'remote-task')!;
    const taskB = remote.attributes.taskId as string;
    // B's task exists on B, and names A's task and correlation as where it came from.
    const [submitted] = await hubB.runtime.store.readStream(taskStream(taskB));
    assert.ok(submitted, `B has task ${taskB}`);
    const [aSubmitted] = await hub.runtime.store.readStream(taskStream(taskA));
    const upstream = (submitted!.data as { upstream?: Record<string, unknown> }).upstream;
    assert.equal(upstream?.taskId, taskA);
    assert.equal(upstream?.correlationId, aSubmitted!.metadata.correlationId);
    const b = await graphWhen(hubB, `tasks/${taskB}`, (g) => g.nodes.length > 1, "B's task with A's");
    const up = b.nodes.find((n) => n.kind === 'upstream-task')!;
    assert.is(up.attributes.taskId, taskA);
    assert.ok(b.edges.some((e) => e.from === up.id && e.to === `task:${taskB}` && e.kind === 'upstream'));
    // A's call node and B's upstream node name the same call.
    const call = a.nodes.find((n) => n.kind === 'remote-call')!;
    assert.is(up.attributes.causationId, call.attributes.callId);
  });

  s('bad lineage ids in a message are refused, and change nothing', async () => {
    const res = await rpc(hubB.url, hubB.apiKey, 'SendMessage', {
      message: {
        messageId: crypto.randomUUID(),
        role: 'ROLE_USER',
        parts: [{ text: 'x' }],
        metadata: { [LINEAGE_EXTENSION]: { correlationId: 42 } },
      },
    });
    const body = (await res.json()) as { error?: { code: number; message: string } };
    assert.is(body.error?.code, -32602, JSON.stringify(body));
    assert.match(body.error!.message, /lineage\/v1\.correlationId/);
  });

  s('per tenant, and precise errors', async () => {
    const [any] = (await hub.runtime.db.query<{ id: string }>(
      "SELECT id FROM rm_lineage_nodes WHERE tenant = 'default' AND kind = 'task' LIMIT 1",
    )) as Array<{ id: string }>;
    const taskId = any!.id.slice('task:'.length);
    const other = await hub.addTenant('lineage-other');
    const theirs = await get(hub, `tasks/${taskId}`, other);
    assert.is(theirs.status, 404);
    const unknown = await get(hub, `tasks/${crypto.randomUUID()}`);
    assert.is(unknown.status, 404);
    assert.equal(
      theirs.body.error?.message.replace(taskId, 'X'),
      unknown.body.error?.message.replace(/[0-9a-f-]{36}/, 'X'),
    );
    assert.is((await get(hub, `tasks/${taskId}`, '')).status, 401);
    const bad = await get(hub, 'runs/not-a-uuid');
    assert.is(bad.status, 400);
    assert.match(bad.body.error!.message, /id: a run id is a UUID/);
    const param = await get(hub, `tasks/${taskId}?depth=3`);
    assert.is(param.status, 400);
    assert.match(param.body.error!.message, /unknown parameter depth/);
    const cap = await get(hub, `tasks/${taskId}?maxNodes=0`);
    assert.is(cap.status, 400);
    assert.match(cap.body.error!.message, /maxNodes: must be at least 1/);
    const one = await get(hub, `tasks/${taskId}?maxNodes=1`);
    assert.is(one.status, 200);
    assert.is(one.body.nodes.length, 1);
  });

  s('a rebuild of the lineage read model equals the live one', async () => {
    const dump = async () => ({
      nodes: await hub.runtime.db.query('SELECT * FROM rm_lineage_nodes ORDER BY tenant, id'),
      edges: await hub.runtime.db.query('SELECT * FROM rm_lineage_edges ORDER BY tenant, src, dst, kind'),
    });
    // Live: the hub's runner has caught up with the log (nothing is being written any more).
    const end = (await hub.runtime.store.readAll({ filter: lineageProjection.filter, maxCount: 100_000 })).at(
      -1,
    )!;
    await waitFor('the lineage projection caught up', async () => {
      const [row] = await hub.runtime.db.query<{ position: string }>(
        "SELECT position FROM projection_checkpoints WHERE name = 'lineage'",
      );
      return Number(row?.position) >= end.position;
    });
    const live = await dump();
    assert.ok(live.nodes.length > 20);
    await rebuild(hub.runtime.db, hub.runtime.store, lineageProjection);
    assert.equal(await dump(), live);
  });

  s.run();
}
