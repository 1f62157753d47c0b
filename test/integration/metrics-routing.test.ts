/**
 * Routing on observed figures, on both runtimes: two real remote agents with the same skill, one answering
 * in 400 ms and one in 20 ms, the slow one a little cheaper (so declared values alone prefer it). Once each
 * has been measured (tasks sent to each by name, through the whole hub: workers, projections), routing
 * prefers the fast one and TaskRouted records what it observed of both.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type RoutingCandidate, taskStream } from '../../events/task.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/remote-agents.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('routing on observed metrics');
const MEASURED = 8;
const TRANSLATE = 'Please translate this sentence into French: good morning, my friend';

for (const kind of kinds) {
  const s = suite(`routing on observed metrics (${kind})`);
  let hub: TestHub;
  let slow: RemoteAgent;
  let fast: RemoteAgent;

  const submit = async (metadata: Record<string, unknown>) => {
    const res = await rpc(hub.url, hub.apiKey, 'SendMessage', {
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: TRANSLATE }] },
      configuration: { returnImmediately: true },
      metadata,
    });
    const body = (await res.json()) as { result?: { task: { id: string } } };
    assert.ok(body.result, JSON.stringify(body));
    return body.result!.task.id;
  };
  const events = (taskId: string) => hub.runtime.store.readStream(taskStream(taskId));
  const settled = (taskId: string) =>
    waitFor(`task ${taskId} settled`, async () => {
      const es = await events(taskId);
      const last = es.filter((e) => e.type === 'TaskStatusUpdated').pop()?.data as
        | { state?: string }
        | undefined;
      return last?.state && /COMPLETED|FAILED|CANCELED|REJECTED/.test(last.state) ? last.state : null;
    });
  const routedOf = (taskId: string) =>
    waitFor(`routing of ${taskId}`, async () => {
      const routed = (await events(taskId)).find((e: RecordedEvent) => e.type === 'TaskRouted');
      return (routed?.data as { agentKey: string; candidates: RoutingCandidate[] } | undefined) ?? null;
    });
  const metrics = async () => {
    const res = await fetch(
      `${hub.url}/api/metrics?groupBy=agent&step=1m&from=${new Date(Date.now() - 3_600_000).toISOString()}`,
      {
        headers: { 'x-api-key': hub.apiKey },
      },
    );
    assert.is(res.status, 200);
    return (
      (await res.json()) as { series: Array<{ key: string; total: { counts: { completed: number } } }> }
    ).series;
  };

  s.before(async () => {
    const skill = {
      id: 'translate',
      name: 'Translate',
      description: 'Translates text between languages, for example English to French',
      tags: ['translation'],
    };
    [slow, fast] = await Promise.all([
      startRemoteAgent({
        version: '1.0',
        name: 'Slowpoke',
        skills: [skill],
        behaviour: 'slow',
        delayMs: 400,
      }),
      startRemoteAgent({ version: '1.0', name: 'Quick', skills: [skill], behaviour: 'slow', delayMs: 20 }),
    ]);
    hub = await startHub(kind);
    for (const [agent, cost] of [
      [slow, 1],
      [fast, 1.2],
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
      return ((await res.json()) as { agents: unknown[] }).agents.length === 2;
    });
  });
  s.after(async () => {
    await hub?.stop();
    await Promise.all([slow?.stop(), fast?.stop()]);
  });

  s('after both are measured, routing prefers the fast one and records the observed figures', async () => {
    // Before any history: the declared values only (the slow one is cheaper), nothing observed.
    const first = await routedOf(await submit({ agent: 'auto', skill: 'translate' }));
    assert.is(first.agentKey, 'default:slowpoke', JSON.stringify(first));
    for (const c of first.candidates) assert.is(c.observed, null, JSON.stringify(c));

    // One at a time, in turns: whatever else loads the machine weighs on both alike.
    for (let i = 0; i < MEASURED; i++) {
      for (const agent of ['quick', 'slowpoke']) {
        assert.is(await settled(await submit({ agent })), 'TASK_STATE_COMPLETED');
      }
    }
    await waitFor('the metrics counted every task', async () => {
      const series = await metrics();
      const done = (key: string) => series.find((x) => x.key === key)?.total.counts.completed ?? 0;
      // The first routed task (to the slow one) also completes: at least MEASURED each.
      return done('default:slowpoke') >= MEASURED && done('default:quick') >= MEASURED;
    });

    const routed = await routedOf(await submit({ agent: 'auto', skill: 'translate' }));
    assert.is(routed.agentKey, 'default:quick', JSON.stringify(routed.candidates));
    const byKey = new Map(routed.candidates.map((c) => [c.agentKey, c]));
    const q = byKey.get('default:quick')!.observed!;
    const sl = byKey.get('default:slowpoke')!.observed!;
    assert.ok(q.samples >= MEASURED && sl.samples >= MEASURED, JSON.stringify([q, sl]));
    assert.equal([q.successRate, sl.successRate], [1, 1]);
    // Submitted → terminal: at least what each agent waits (the histogram is within 1%).
    assert.ok(sl.p95Ms! >= 400 * 0.99, JSON.stringify(sl));
    assert.ok(q.p95Ms! >= 20 * 0.99 && q.p95Ms! < sl.p95Ms!, JSON.stringify(q));
    assert.is(q.cost, 1.2);
    assert.is(sl.cost, 1);
    assert.ok(byKey.get('default:quick')!.score > byKey.get('default:slowpoke')!.score);
  });

  s.run();
}
