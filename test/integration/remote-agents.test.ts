/**
 * Routing to REAL remote A2A agents, end to end through the hub, on both runtimes (the distributed one
 * needs PostgreSQL and NATS, else it is skipped loudly): three servers from test/support/remote-agents.ts
 * (@a2a-js/sdk server pieces; a v1.0 translator, a v0.3 polyglot with an overlapping skill, a slow v1.0
 * agent) registered by URL through the admin API, discovered by a natural-language query, routed to
 * (AGENTCORE_DEFAULT_AGENT=route) and streamed back through the hub's JSON-RPC edge (SendStreamingMessage);
 * the routing decision recorded with its candidates and scores; one agent made to fail and time out →
 * its circuit opens and routing moves to the other, then after the cooldown a half-open probe closes it;
 * cancel propagation; an input-required round trip with a v0.3 agent; the per-agent bulkhead.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { circuitStream } from '../../events/circuit.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type RoutingCandidate, taskStream } from '../../events/task.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/remote-agents.ts';
import { readSse, rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('remote agents');

const CALL_TIMEOUT_MS = 2500;
const COOLDOWN_MS = 4000;
const TRANSLATE = 'Please translate this sentence into French: good morning, my friend';
const SUMMARIZE = 'Summarize this long article about the history of the printing press for me';

interface StreamResult {
  taskId: string;
  frames: Array<Record<string, unknown>>;
}

for (const kind of kinds) {
  const s = suite(`remote agents (${kind})`);
  let hub: TestHub;
  let translator: RemoteAgent;
  let polyglot: RemoteAgent;
  let slowpoke: RemoteAgent;
  const keys = { translator: '', polyglot: '', slowpoke: '' };

  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${hub.url}/api/admin${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': hub.apiKey },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const discover = async (q: string) => {
    const res = await fetch(`${hub.url}/api/agents?q=${encodeURIComponent(q)}`, {
      headers: { 'x-api-key': hub.apiKey },
    });
    assert.is(res.status, 200);
    return ((await res.json()) as { agents: Array<Record<string, unknown>> }).agents;
  };
  const events = (taskId: string) => hub.runtime.store.readStream(taskStream(taskId));
  const ofType = (es: RecordedEvent[], type: string) => es.filter((e) => e.type === type);
  const routedTo = async (taskId: string) => {
    const routed = ofType(await events(taskId), 'TaskRouted')[0];
    return routed?.data as { agentKey: string; skillId: string; candidates: RoutingCandidate[] } | undefined;
  };
  const settled = (taskId: string, timeoutMs = 20_000) =>
    waitFor(
      `task ${taskId} settled`,
      async () => {
        const es = await events(taskId);
        const last = [...es].reverse().find((e) => e.type === 'TaskStatusUpdated');
        const state = (last?.data as { state?: string } | undefined)?.state;
        return state && /COMPLETED|FAILED|CANCELED|REJECTED|INPUT_REQUIRED/.test(state)
          ? { state, events: es }
          : null;
      },
      timeoutMs,
    );

  /** SendStreamingMessage on the hub's JSON-RPC edge (A2A v1.0), read to the end of the stream. */
  const stream = async (text: string, metadata?: Record<string, unknown>): Promise<StreamResult> => {
    const res = await rpc(hub.url, hub.apiKey, 'SendStreamingMessage', {
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text }] },
      ...(metadata ? { metadata } : {}),
    });
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const frames: Array<Record<string, unknown>> = [];
    for await (const e of readSse(res)) frames.push((e.data as { result: Record<string, unknown> }).result);
    const first = frames[0] as { task?: { id: string } };
    assert.ok(first?.task, `the stream starts with the task: ${JSON.stringify(frames[0])}`);
    return { taskId: first.task!.id, frames };
  };
  /** SendMessage that returns at once. */
  const submit = async (text: string, metadata?: Record<string, unknown>, taskId?: string) => {
    const res = await rpc(hub.url, hub.apiKey, 'SendMessage', {
      message: {
        messageId: crypto.randomUUID(),
        role: 'ROLE_USER',
        parts: [{ text }],
        ...(taskId ? { taskId } : {}),
      },
      configuration: { returnImmediately: true },
      ...(metadata ? { metadata } : {}),
    });
    const body = (await res.json()) as { result?: { task: { id: string } }; error?: unknown };
    assert.ok(body.result, JSON.stringify(body));
    return body.result!.task.id;
  };
  const circuitTypes = async (agentKey: string) =>
    (await hub.runtime.store.readStream(circuitStream(agentKey))).map((e) => e.type);

  s.before(async () => {
    [translator, polyglot, slowpoke] = await Promise.all([
      startRemoteAgent({
        version: '1.0',
        name: 'Translator',
        skills: [
          {
            id: 'translate',
            name: 'Translate',
            description: 'Translates text between languages, for example English to French',
            tags: ['translation', 'language'],
          },
        ],
      }),
      startRemoteAgent({
        version: '0.3',
        name: 'Polyglot',
        skills: [
          {
            id: 'summarize',
            name: 'Summarize',
            description: 'Summarizes long documents and articles into a few sentences',
            tags: ['summary'],
          },
          {
            id: 'translate-fr',
            name: 'French translation',
            description: 'Translates English text into French',
            tags: ['translation', 'french'],
          },
        ],
      }),
      startRemoteAgent({
        version: '1.0',
        name: 'Slowpoke',
        behaviour: 'slow',
        delayMs: 1000,
        skills: [
          {
            id: 'ponder',
            name: 'Ponder',
            description: 'Thinks very slowly about a question',
            tags: ['slow'],
          },
        ],
      }),
    ]);
    hub = await startHub(kind, {
      env: {
        AGENTCORE_DEFAULT_AGENT: 'route',
        // Cost matters as much as similarity here: the cheaper translator wins while it is healthy.
        AGENTCORE_ROUTING_WEIGHTS: JSON.stringify({ similarity: 0.5, latency: 0, cost: 0.5, quality: 0 }),
        AGENTCORE_REMOTE_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
        AGENTCORE_REMOTE_AGENT_CONCURRENCY: '2',
        AGENTCORE_CIRCUIT_FAILURE_THRESHOLD: '2',
        AGENTCORE_CIRCUIT_COOLDOWN_MS: String(COOLDOWN_MS),
      },
    });
  });
  s.after(async () => {
    await Promise.all([translator?.stop(), polyglot?.stop(), slowpoke?.stop()]);
    await hub?.stop();
  });

  s('registered by URL through the admin API, discovered by a natural-language query', async () => {
    for (const [name, agent, cost] of [
      ['translator', translator, 1],
      ['polyglot', polyglot, 4],
      ['slowpoke', slowpoke, 0],
    ] as const) {
      const r = await admin('/agents', { url: agent.url, costPerRequest: cost });
      assert.is(r.status, 201, JSON.stringify(r.body));
      keys[name] = `${r.body.tenant}:${r.body.agentId}`;
    }
    assert.is(keys.translator, 'default:translator');
    const found = await waitFor('both translators discovered', async () => {
      const agents = await discover('translate a sentence into French');
      return agents.some((a) => a.agentId === 'translator') && agents.some((a) => a.agentId === 'polyglot')
        ? agents
        : null;
    });
    // Both translation skills come first, before anything unrelated.
    assert.equal(
      found
        .slice(0, 2)
        .map((a) => a.skillId)
        .sort(),
      ['translate', 'translate-fr'],
      JSON.stringify(found.slice(0, 3)),
    );
    const summary = await discover('summarize an article');
    assert.is(summary[0]!.agentId, 'polyglot');
    assert.is(summary[0]!.skillId, 'summarize');
  });

  s('a task naming no agent is routed to the best agent and streamed back through the hub', async () => {
    const { taskId, frames } = await stream(TRANSLATE);
    const last = frames[frames.length - 1] as { statusUpdate?: { status: { state: string } } };
    assert.is(last.statusUpdate?.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(frames));
    const artifact = frames.find((f) => f.artifactUpdate) as {
      artifactUpdate: { artifact: { parts: Array<{ text: string }> } };
    };
    assert.is(artifact.artifactUpdate.artifact.parts[0]!.text, TRANSLATE);
    // The decision, with every candidate scored.
    const routed = (await routedTo(taskId))!;
    assert.is(routed.agentKey, keys.translator);
    assert.is(routed.skillId, 'translate');
    const byKey = Object.fromEntries(routed.candidates.map((c) => [`${c.agentKey}/${c.skillId}`, c]));
    const mine = byKey[`${keys.translator}/translate`]!;
    const other = byKey[`${keys.polyglot}/translate-fr`]!;
    assert.ok(mine && other, JSON.stringify(routed.candidates));
    assert.ok(mine.score > other.score, JSON.stringify(routed.candidates));
    assert.ok(mine.similarity > 0.4);
    assert.is(other.cost, 4);
    // Intended before, completed after; the idempotency key reached the agent in the message metadata.
    const es = await events(taskId);
    const types = es.map((e) => e.type);
    assert.ok(types.indexOf('TaskRouted') < types.indexOf('RemoteCallIntended'));
    assert.ok(types.indexOf('RemoteCallIntended') < types.indexOf('RemoteCallCompleted'));
    assert.is(types[types.length - 1], 'TaskStatusUpdated');
    const intended = ofType(es, 'RemoteCallIntended')[0]!.data as { idempotencyKey: string; attempt: number };
    assert.is(intended.attempt, 1);
    const completed = ofType(es, 'RemoteCallCompleted')[0]!.data as {
      ok: boolean;
      latencyMs: number;
      outcome: string;
    };
    assert.equal([completed.ok, completed.outcome], [true, 'completed']);
    assert.ok(completed.latencyMs >= 0);
    const call = translator.calls.find((c) => c.metadata?.idempotencyKey === intended.idempotencyKey);
    assert.ok(call, JSON.stringify(translator.calls));
    assert.is(call!.method, 'SendStreamingMessage');
    assert.is(call!.a2aVersion, '1.0');
  });

  s('another skill goes to the v0.3 agent (legacy client)', async () => {
    const { taskId, frames } = await stream(SUMMARIZE);
    const last = frames[frames.length - 1] as { statusUpdate?: { status: { state: string } } };
    assert.is(last.statusUpdate?.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(frames));
    const routed = (await routedTo(taskId))!;
    assert.equal([routed.agentKey, routed.skillId], [keys.polyglot, 'summarize']);
    const call = polyglot.calls[polyglot.calls.length - 1]!;
    assert.is(call.method, 'message/stream');
    assert.is(call.text, SUMMARIZE);
  });

  s(
    'failures and a timeout open the circuit; routing moves to the other agent; a probe closes it',
    async () => {
      // 1. A failed remote task: our task fails, the failure is counted.
      translator.setBehaviour('fail');
      const failed = await stream(TRANSLATE);
      assert.is((await routedTo(failed.taskId))!.agentKey, keys.translator);
      const f = await settled(failed.taskId);
      assert.is(f.state, 'TASK_STATE_FAILED');
      const fc = ofType(f.events, 'RemoteCallCompleted')[0]!.data as {
        ok: boolean;
        outcome: string;
        error: string;
      };
      assert.equal([fc.ok, fc.outcome], [false, 'failed']);
      assert.match(fc.error, /simulated failure/);
      await waitFor('the failure counted', async () =>
        (await circuitTypes(keys.translator)).includes('CircuitFailureRecorded'),
      );

      // 2. No answer within the call timeout: the call fails, the remote task is canceled, the circuit opens.
      translator.setBehaviour('slow', 30_000);
      const slow = await submit(TRANSLATE);
      const t = await settled(slow, CALL_TIMEOUT_MS + 15_000);
      assert.is(t.state, 'TASK_STATE_FAILED');
      const tc = ofType(t.events, 'RemoteCallCompleted')[0]!.data as {
        ok: boolean;
        outcome: string;
        error: string;
      };
      assert.equal([tc.ok, tc.outcome], [false, 'timeout']);
      assert.match(JSON.stringify(t.events[t.events.length - 1]!.data), /no answer within 2500 ms/);
      await waitFor('the circuit opened', async () =>
        (await circuitTypes(keys.translator)).includes('CircuitOpened'),
      );

      // 3. Routing moves to the agent with the overlapping skill; the decision says why.
      translator.setBehaviour('echo');
      const moved = await stream(TRANSLATE);
      const last = moved.frames[moved.frames.length - 1] as { statusUpdate?: { status: { state: string } } };
      assert.is(last.statusUpdate?.status.state, 'TASK_STATE_COMPLETED');
      const routed = (await routedTo(moved.taskId))!;
      assert.equal([routed.agentKey, routed.skillId], [keys.polyglot, 'translate-fr']);
      const excluded = routed.candidates.find((c) => c.agentKey === keys.translator)!;
      assert.is(excluded.excludedBy, 'circuit-open', JSON.stringify(routed.candidates));
      await waitFor('the remote task canceled after the timeout', async () => translator.canceled.length > 0);
      // The discovery read model shows the circuit (open, or half-open once the cooldown is over).
      await waitFor('discovery shows the circuit not closed', async () =>
        (await discover(TRANSLATE)).some((a) => a.agentId === 'translator' && a.circuit !== 'closed'),
      );

      // 4. After the cooldown the timer half-opens it; the next task is the probe, and it closes the circuit.
      await waitFor(
        'half-open after the cooldown',
        async () => (await circuitTypes(keys.translator)).includes('CircuitHalfOpened'),
        COOLDOWN_MS + 10_000,
      );
      const probe = await stream(TRANSLATE);
      assert.is((await routedTo(probe.taskId))!.agentKey, keys.translator);
      await waitFor('the probe closed the circuit', async () =>
        (await circuitTypes(keys.translator)).includes('CircuitClosed'),
      );
      const types = await circuitTypes(keys.translator);
      assert.equal(types.slice(types.indexOf('CircuitOpened')), [
        'CircuitOpened',
        'CircuitHalfOpened',
        'CircuitProbeClaimed',
        'CircuitClosed',
      ]);
      await waitFor('discovery shows it closed again', async () =>
        (await discover(TRANSLATE)).some((a) => a.agentId === 'translator' && a.circuit === 'closed'),
      );
    },
  );

  s('canceling our task cancels the remote task', async () => {
    slowpoke.setBehaviour('slow', 20_000);
    const taskId = await submit('ponder this slowly', { agent: 'slowpoke' });
    const linked = await waitFor(
      'the remote task linked',
      async () => ofType(await events(taskId), 'RemoteTaskLinked')[0],
    );
    const remoteTaskId = (linked.data as { remoteTaskId: string }).remoteTaskId;
    const res = await rpc(hub.url, hub.apiKey, 'CancelTask', { id: taskId });
    const body = (await res.json()) as { result?: { status: { state: string } } };
    assert.is(body.result?.status.state, 'TASK_STATE_CANCELED', JSON.stringify(body));
    await waitFor(
      'the cancel reached the remote agent',
      async () => slowpoke.canceled.includes(remoteTaskId),
      10_000,
    );
    const done = await waitFor(
      'the call recorded as canceled',
      async () => ofType(await events(taskId), 'RemoteCallCompleted')[0],
    );
    assert.equal(
      [(done.data as { outcome: string }).outcome, (done.data as { ok: boolean }).ok],
      ['canceled', true],
    );
    slowpoke.setBehaviour('slow', 1000);
  });

  s('input-required round trip with a v0.3 agent: the follow-up goes to the same remote task', async () => {
    polyglot.setBehaviour('input');
    const taskId = await submit('translate something for me', { agent: 'polyglot' });
    const first = await settled(taskId);
    assert.is(first.state, 'TASK_STATE_INPUT_REQUIRED');
    assert.match(JSON.stringify(first.events[first.events.length - 1]!.data), /more input needed/);
    // The follow-up, on our task id; the hub sends it to the remote task.
    await submit('the sentence is: good night', undefined, taskId);
    const done = await waitFor('completed after the follow-up', async () => {
      const es = await events(taskId);
      return ofType(es, 'RemoteCallCompleted').length === 2 &&
        (es[es.length - 1]!.data as { state?: string }).state === 'TASK_STATE_COMPLETED'
        ? es
        : null;
    });
    const links = ofType(done, 'RemoteTaskLinked');
    assert.is(links.length, 1, 'both calls went to the one remote task');
    const artifact = ofType(done, 'TaskArtifactUpdated')[0]!.data as {
      artifact: { parts: Array<{ text: string }> };
    };
    assert.is(artifact.artifact.parts[0]!.text, 'the sentence is: good night');
    const outcomes = ofType(done, 'RemoteCallCompleted').map((e) => (e.data as { outcome: string }).outcome);
    assert.equal(outcomes, ['interrupted', 'completed']);
    assert.is(polyglot.calls[polyglot.calls.length - 1]!.text, 'the sentence is: good night');
    polyglot.setBehaviour('echo');
  });

  s('bulkhead: a slow agent gets 2 calls at a time, and another agent’s tasks are not held up', async () => {
    slowpoke.setBehaviour('slow', 1000);
    const started = Date.now();
    const slow = await Promise.all(
      Array.from({ length: 6 }, (_, i) => submit(`slow question ${i}`, { agent: 'slowpoke' })),
    );
    await new Promise((r) => setTimeout(r, 150));
    const fastStarted = Date.now();
    const fast = await Promise.all(
      Array.from({ length: 3 }, (_, i) => submit(`translate ${i}`, { agent: 'translator' })),
    );
    const fastDone = await Promise.all(fast.map((id) => settled(id)));
    const fastMs = Date.now() - fastStarted;
    for (const d of fastDone) assert.is(d.state, 'TASK_STATE_COMPLETED');
    const slowDone = await Promise.all(slow.map((id) => settled(id, 30_000)));
    const slowMs = Date.now() - started;
    for (const d of slowDone) assert.is(d.state, 'TASK_STATE_COMPLETED');
    // 6 calls of 1 s, 2 at a time: at least 3 s. The fast agent's tasks did not queue behind them: they
    // were all done before the slow agent's last call even started.
    assert.ok(slowMs >= 2900, `slow tasks took ${slowMs} ms`);
    const atOf = (d: { events: RecordedEvent[] }, type: string) =>
      Math.max(...ofType(d.events, type).map((e) => Date.parse((e.data as { at: string }).at)));
    const lastSlowStart = Math.max(...slowDone.map((d) => atOf(d, 'RemoteCallIntended')));
    const lastFastDone = Math.max(...fastDone.map((d) => atOf(d, 'RemoteCallCompleted')));
    assert.ok(
      lastFastDone < lastSlowStart,
      `fast tasks done ${lastFastDone - lastSlowStart} ms after the last slow call started (fast: ${fastMs} ms in all)`,
    );
    // Never more than 2 calls in flight at the slow agent (from our intended/completed events).
    const spans = slowDone.map((d) => {
      const i = ofType(d.events, 'RemoteCallIntended');
      const c = ofType(d.events, 'RemoteCallCompleted');
      return [
        Date.parse((i[i.length - 1]!.data as { at: string }).at),
        Date.parse((c[0]!.data as { at: string }).at),
      ] as const;
    });
    const points = spans
      .flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const])
      .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let inFlight = 0;
    let max = 0;
    for (const [, d] of points) {
      inFlight += d;
      max = Math.max(max, inFlight);
    }
    assert.ok(max <= 2, `${max} calls in flight at once`);
    assert.is(max, 2);
  });

  s.run();
}
