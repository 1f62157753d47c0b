/**
 * The routing saga and the circuit breaker on a hub whose default agent stays `scenario` (tasks ask for
 * routing with `metadata.agent: "auto"`), on both runtimes. The hub runs no workers: the tests start the
 * in-process and remote workers themselves when they need them, which lets one of them stage a worker
 * crash (an intended call without its completion) before the remote worker sees the task.
 *
 * Real remote agents (test/support/remote-agents.ts): a cheap v0.3 translator that does not stream (the
 * blocking path of the client) and a dear v1.0 one.
 */
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { registerInProcessAgents } from '../../agents/registry.ts';
import { remoteAgentWorker } from '../../agents/remote.ts';
import { agentWorker } from '../../agents/worker.ts';
import { circuitDecider } from '../../commands/circuit.ts';
import { handle } from '../../commands/handle.ts';
import { taskDecider } from '../../commands/task.ts';
import { circuitStream } from '../../events/circuit.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type RoutingCandidate, taskStream } from '../../events/task.ts';
import type { Consumer } from '../../infra/bus/port.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/remote-agents.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('routing');

const TRANSLATE = 'Please translate this sentence into French: good morning, my friend';
// The worker warns about the staged crash's second attempt: expected here.
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'error' });

interface Routed {
  agentKey: string;
  skillId: string;
  candidates: RoutingCandidate[];
  weights: Record<string, number>;
  limits: Record<string, number>;
}

for (const kind of kinds) {
  const s = suite(`routing (${kind})`);
  let hub: TestHub;
  let cheap: RemoteAgent;
  let premium: RemoteAgent;
  const consumers: Consumer[] = [];

  const events = (taskId: string) => hub.runtime.store.readStream(taskStream(taskId));
  const ofType = (es: RecordedEvent[], type: string) => es.filter((e) => e.type === type);
  const submit = async (text: string, metadata: Record<string, unknown>) => {
    const res = await rpc(hub.url, hub.apiKey, 'SendMessage', {
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
      configuration: { returnImmediately: true },
      metadata,
    });
    const body = (await res.json()) as { result?: { task: { id: string } } };
    assert.ok(body.result, JSON.stringify(body));
    return body.result!.task.id;
  };
  /** The routing decision (TaskRouted), or the rejection (TaskRoutingFailed + REJECTED). */
  const decision = (taskId: string) =>
    waitFor(`routing of ${taskId}`, async () => {
      const es = await events(taskId);
      const routed = ofType(es, 'TaskRouted')[0];
      if (routed) return { routed: routed.data as Routed, events: es };
      const failed = ofType(es, 'TaskRoutingFailed')[0];
      if (failed) {
        const status = ofType(es, 'TaskStatusUpdated').pop()!.data as {
          state: string;
          message: { parts: Array<{ text: string }> };
        };
        return {
          failed: failed.data as { reason: string; explanation: string; candidates: RoutingCandidate[] },
          status,
          events: es,
        };
      }
      return null;
    });
  const settled = (taskId: string) =>
    waitFor(`task ${taskId} settled`, async () => {
      const es = await events(taskId);
      const state = (ofType(es, 'TaskStatusUpdated').pop()?.data as { state?: string } | undefined)?.state;
      return state && /COMPLETED|FAILED|CANCELED|REJECTED/.test(state) ? { state, events: es } : null;
    });
  const openCircuit = async (agentKey: string, cooldownMs: number) => {
    const at = new Date().toISOString();
    await handle(
      hub.runtime.store,
      circuitStream(agentKey),
      {
        type: 'RecordCallOutcome',
        agentKey,
        taskId: `t-${crypto.randomUUID()}`,
        callId: crypto.randomUUID(),
        ok: false,
        outcome: 'timeout',
        error: 'staged failure',
        threshold: 1,
        cooldownMs,
        at,
      },
      circuitDecider,
      { tenant: agentKey.split(':')[0]!, principal: 'test' },
    );
  };

  s.before(async () => {
    const skill = (id: string, description: string) => ({
      id,
      name: 'Translate',
      description,
      tags: ['translation'],
    });
    [cheap, premium] = await Promise.all([
      startRemoteAgent({
        version: '0.3',
        name: 'Cheap',
        streaming: false,
        skills: [skill('translate', 'Translates text between languages, for example English to French')],
      }),
      startRemoteAgent({
        version: '1.0',
        name: 'Premium',
        skills: [
          skill('translate', 'Translates text between languages, for example English to French, carefully'),
        ],
      }),
    ]);
    hub = await startHub(kind, { roles: ['edge', 'sagas', 'projections', 'relay'] });
    // No workers role: the built-in agents are registered here (discovery indexes them).
    await registerInProcessAgents(hub.runtime.store, hub.runtime.agents);
    for (const [agent, cost] of [
      [cheap, 1],
      [premium, 10],
    ] as const) {
      const res = await fetch(`${hub.url}/api/admin/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': hub.apiKey },
        body: JSON.stringify({ url: agent.url, costPerRequest: cost }),
      });
      assert.is(res.status, 201, await res.text());
    }
    await waitFor('discovery indexed the agents', async () => {
      const res = await fetch(`${hub.url}/api/agents?skill=translate`, {
        headers: { 'x-api-key': hub.apiKey },
      });
      const { agents } = (await res.json()) as { agents: unknown[] };
      return agents.length === 2;
    });
    await waitFor('discovery indexed the built-in agents', async () => {
      const res = await fetch(`${hub.url}/api/agents?skill=echo`, { headers: { 'x-api-key': hub.apiKey } });
      return ((await res.json()) as { agents: unknown[] }).agents.length > 0;
    });
  });
  s.after(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    await Promise.all([cheap?.stop(), premium?.stop()]);
    await hub?.stop();
  });

  s(
    'metadata.agent "auto": routed by the weighted score, every candidate recorded with its score',
    async () => {
      const taskId = await submit(TRANSLATE, { agent: 'auto' });
      const d = await decision(taskId);
      assert.ok('routed' in d, JSON.stringify(d));
      const routed = (d as { routed: Routed }).routed;
      // Same skill, near-identical similarity: the cheaper one wins on cost.
      assert.equal([routed.agentKey, routed.skillId], ['default:cheap', 'translate']);
      assert.equal(routed.weights, { similarity: 0.6, latency: 0.15, cost: 0.1, quality: 0.15 });
      assert.is(routed.limits.minSimilarity, 0.35);
      const keys = routed.candidates.map((c) => c.agentKey);
      assert.ok(keys.includes('default:premium'), JSON.stringify(routed.candidates));
      const [first, second] = routed.candidates;
      assert.ok(first!.score >= second!.score);
      for (const c of routed.candidates) {
        assert.type(c.score, 'number');
        assert.type(c.similarity, 'number');
        assert.ok('latencyMs' in c && 'cost' in c && 'quality' in c);
      }
      // Unrelated in-process skills are there, excluded as not similar enough.
      assert.ok(
        routed.candidates.some((c) => c.agentKey.startsWith('system:') && c.excludedBy === 'min-similarity'),
        JSON.stringify(routed.candidates),
      );
      // Nothing but the routing decision happened: this hub runs no workers.
      assert.equal(
        d.events.map((e) => e.type),
        ['TaskSubmitted', 'TaskRouted'],
      );
      assert.is(d.events[1]!.metadata.principal, 'saga:routing');
      assert.is(d.events[1]!.metadata.causationId, `route:${d.events[0]!.id}`);
    },
  );

  s(
    'hard limits from the metadata exclude candidates; when they exclude all, the task is rejected',
    async () => {
      const within = await decision(await submit(TRANSLATE, { agent: 'auto', maxCost: 5 }));
      assert.ok('routed' in within);
      const r = (within as { routed: Routed }).routed;
      assert.is(r.agentKey, 'default:cheap');
      assert.is(r.limits.maxCost, 5);
      assert.is(r.candidates.find((c) => c.agentKey === 'default:premium')!.excludedBy, 'max-cost');

      const none = await decision(
        await submit(TRANSLATE, { agent: 'auto', maxCost: 0.5, tags: ['translation'] }),
      );
      assert.ok('failed' in none, JSON.stringify(none));
      const f = none as {
        failed: { reason: string; explanation: string };
        status: { state: string; message: { parts: Array<{ text: string }> } };
      };
      assert.is(f.failed.reason, 'excluded');
      assert.is(f.status.state, 'TASK_STATE_REJECTED');
      assert.match(f.status.message.parts[0]!.text, /No agent can take this task/);
      assert.match(
        f.status.message.parts[0]!.text,
        /2 dearer than metadata\.maxCost 0\.5 \(default:cheap, default:premium\)/,
      );

      const bad = await decision(await submit(TRANSLATE, { agent: 'auto', maxLatencyMs: 'fast please' }));
      assert.ok('failed' in bad);
      assert.match(
        (bad as { status: { message: { parts: Array<{ text: string }> } } }).status.message.parts[0]!.text,
        /metadata\.maxLatencyMs must be a non-negative number/,
      );
    },
  );

  s('nothing matches: rejected, saying so', async () => {
    const d = await decision(await submit('order me a large pizza with extra cheese', { agent: 'auto' }));
    assert.ok('failed' in d, JSON.stringify(d));
    const f = d as {
      failed: { reason: string };
      status: { state: string; message: { parts: Array<{ text: string }> } };
    };
    assert.is(f.failed.reason, 'no-match');
    assert.is(f.status.state, 'TASK_STATE_REJECTED');
    assert.match(f.status.message.parts[0]!.text, /No agent matched "order me a large pizza/);
  });

  s(
    'routed to an in-process agent (metadata.skill), the in-process worker runs it on TaskRouted',
    async () => {
      const worker = agentWorker({
        store: hub.runtime.store,
        feed: hub.runtime.feed,
        agents: hub.runtime.agents,
        log,
      });
      for (const c of worker.consumers) consumers.push(await hub.runtime.bus.consume(c));
      const taskId = await submit('hello there', { agent: 'auto', skill: 'echo' });
      const d = await decision(taskId);
      assert.ok('routed' in d);
      const routed = (d as { routed: Routed }).routed;
      assert.match(routed.agentKey, /^system:(echo|scenario)$/);
      assert.is(routed.skillId, 'echo');
      const done = await settled(taskId);
      assert.is(done.state, 'TASK_STATE_COMPLETED');
      const artifact = ofType(done.events, 'TaskArtifactUpdated')[0]!.data as {
        artifact: { parts: Array<{ text: string }> };
      };
      assert.is(artifact.artifact.parts[0]!.text, 'hello there');
      // In-process runs make no remote calls.
      assert.is(ofType(done.events, 'RemoteCallIntended').length, 0);
    },
  );

  s(
    'a worker crash between the intent and the outcome: the redelivery makes attempt 2, same key, visibly',
    async () => {
      const taskId = crypto.randomUUID();
      const stream = taskStream(taskId);
      const ctx = { tenant: 'default', principal: 'test' };
      const at = () => new Date().toISOString();
      await handle(
        hub.runtime.store,
        stream,
        {
          type: 'SubmitTask',
          taskId,
          contextId: crypto.randomUUID(),
          message: { messageId: 'u1', role: 'ROLE_USER', parts: [{ text: 'translate: see you tomorrow' }] },
          agent: 'cheap',
          at: at(),
        },
        taskDecider,
        ctx,
      );
      const [submitted] = await hub.runtime.store.readStream(stream);
      // What a worker that died right after recording its intent leaves behind.
      const idempotencyKey = `ac:${taskId}:${submitted!.id}`;
      await handle(
        hub.runtime.store,
        stream,
        {
          type: 'IntendRemoteCall',
          agentKey: 'default:cheap',
          callId: submitted!.id,
          idempotencyKey,
          attempt: 1,
          at: at(),
        },
        taskDecider,
        ctx,
      );
      const worker = remoteAgentWorker({
        store: hub.runtime.store,
        feed: hub.runtime.feed,
        log,
        agents: hub.runtime.agents,
        routeByDefault: false,
        allowPrivateUrls: true,
      });
      for (const c of worker) consumers.push(await hub.runtime.bus.consume(c));
      const done = await settled(taskId);
      assert.is(done.state, 'TASK_STATE_COMPLETED');
      const intents = ofType(done.events, 'RemoteCallIntended').map(
        (e) => e.data as { attempt: number; idempotencyKey: string; callId: string },
      );
      assert.equal(
        intents.map((i) => [i.attempt, i.idempotencyKey, i.callId]),
        [
          [1, idempotencyKey, submitted!.id],
          [2, idempotencyKey, submitted!.id],
        ],
      );
      const completions = ofType(done.events, 'RemoteCallCompleted');
      assert.is(completions.length, 1);
      assert.is((completions[0]!.data as { outcome: string }).outcome, 'completed');
      // The agent (v0.3, no streaming: message/send) got the key in the message metadata, and as messageId.
      // (The worker also runs the tasks routed earlier in this suite: only this task's calls count.)
      const mine = () => cheap.calls.filter((c) => c.metadata?.idempotencyKey === idempotencyKey);
      const calls = mine();
      assert.is(calls.length, 1);
      assert.is(calls[0]!.method, 'message/send');
      assert.is(calls[0]!.metadata?.idempotencyKey, idempotencyKey);
      assert.is(calls[0]!.messageId, idempotencyKey);

      // The bus delivering the same event again (its ack lost): no third call, nothing new written.
      const before = (await events(taskId)).length;
      await worker[0]!.handler({ event: submitted!, subject: 'x', deliveryCount: 2, working: () => {} });
      assert.is((await events(taskId)).length, before);
      assert.is(mine().length, 1);
    },
  );

  s('open circuits take agents out of routing; all open: rejected, saying why', async () => {
    await openCircuit('default:cheap', 120_000);
    const moved = await decision(await submit(TRANSLATE, { agent: 'auto' }));
    assert.ok('routed' in moved);
    const r = (moved as { routed: Routed }).routed;
    assert.is(r.agentKey, 'default:premium');
    assert.is(r.candidates.find((c) => c.agentKey === 'default:cheap')!.excludedBy, 'circuit-open');

    await openCircuit('default:premium', 120_000);
    const none = await decision(await submit(TRANSLATE, { agent: 'auto' }));
    assert.ok('failed' in none, JSON.stringify(none));
    const text = (none as { status: { message: { parts: Array<{ text: string }> } } }).status.message
      .parts[0]!.text;
    assert.match(text, /2 with an open circuit \(default:cheap, default:premium\)/);
  });

  s('the cooldown timer is durable: a circuit opened before a restart is half-opened after it', async () => {
    const agentKey = 'default:ghost';
    await openCircuit(agentKey, 1500);
    await waitFor('the timer row written', async () => {
      const rows = await hub.runtime.db.query<{ state: string }>(
        'SELECT state FROM circuit_timers WHERE agent_key = $1',
        [agentKey],
      );
      return rows[0]?.state === 'open';
    });
    const restartedAt = Date.now();
    await hub.restart();
    const half = await waitFor('half-opened by the restarted hub', async () =>
      (await hub.runtime.store.readStream(circuitStream(agentKey))).find(
        (e) => e.type === 'CircuitHalfOpened',
      ),
    );
    assert.ok(Date.parse(half.occurredAt) >= restartedAt - 1000);
    assert.is(half.metadata.principal, 'saga:circuit-breaker');
    await waitFor('the timer row follows', async () => {
      const rows = await hub.runtime.db.query<{ state: string }>(
        'SELECT state FROM circuit_timers WHERE agent_key = $1',
        [agentKey],
      );
      return rows[0]?.state === 'half-open';
    });
  });

  s.run();
}
