/**
 * A workflow is an A2A agent of the hub: its own card (the tenant's, behind the API key) and endpoint; the
 * official SDK starts it with SendMessage and streams its progress; a failed run is a failed task; a step
 * waiting for a human makes the workflow's task ask, and the answer to it reaches the step. Both runtimes.
 */
import { TaskState } from '@a2a-js/sdk';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { taskStream } from '../../events/task.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';
import { defineWorkflow, readWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { asTask, connect, describeEvent, drain, send, textOf } from '../support/sdk.ts';
import { readSse, rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';
import { approvalWorkflow, orderWorkflow, workflowTestAgents } from '../support/workflow-agents.ts';

const kinds = await runtimesFor('workflow agents');

for (const kind of kinds) {
  const s = suite(`workflow as an A2A agent (${kind})`);
  let hub: TestHub;
  const caller = { tenant: 'default', principal: 'test:workflow-agent' };
  const cardUrl = (name: string) => `${hub.url}/a2a/workflows/${name}/agent-card.json`;
  const call = async (name: string, method: string, params: unknown, key = hub.apiKey) =>
    fetch(`${hub.url}/a2a/workflows/${name}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'X-API-Key': key },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
  const message = (text: string, taskId?: string) => ({
    message: {
      messageId: crypto.randomUUID(),
      role: 'ROLE_USER',
      parts: [{ text }],
      ...(taskId ? { taskId } : {}),
    },
  });

  s.before(async () => {
    hub = await startHub(kind, { overrides: { agents: workflowTestAgents } });
    await defineWorkflow(hub.runtime.store, caller, {
      ...orderWorkflow('order'),
      description: 'Reserves, charges and ships an order',
      skills: [
        { id: 'order', name: 'Place an order', description: 'Reserve, charge, ship', tags: ['orders'] },
      ],
    });
    await defineWorkflow(hub.runtime.store, caller, approvalWorkflow());
  });
  s.after(async () => hub?.stop());

  s(
    'the card is the tenant’s: skills, its own endpoint, 401 without a key, 404 for other tenants',
    async () => {
      const res = await fetch(cardUrl('order'), { headers: { 'X-API-Key': hub.apiKey } });
      assert.is(res.status, 200);
      assert.match(res.headers.get('cache-control') ?? '', /^private/);
      const card = (await res.json()) as {
        skills: Array<{ id: string }>;
        supportedInterfaces: Array<{ url: string; protocolBinding: string }>;
        version: string;
      };
      assert.equal(
        card.skills.map((k) => k.id),
        ['order'],
      );
      assert.equal(card.supportedInterfaces, [
        { url: `${hub.url}/a2a/workflows/order/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      ]);
      assert.is(card.version, '1');
      // No extended card is declared, and none is served.
      const extended = await call('order', 'GetExtendedAgentCard', {});
      assert.is(((await extended.json()) as { error: { code: number } }).error.code, -32004);
      assert.is((await fetch(cardUrl('order'))).status, 401);
      const otherKey = await hub.addTenant('wf-other');
      assert.is((await fetch(cardUrl('order'), { headers: { 'X-API-Key': otherKey } })).status, 404);
      assert.is((await fetch(cardUrl('nothing'), { headers: { 'X-API-Key': hub.apiKey } })).status, 404);
      // Nor can the other tenant run it: its task is rejected, naming no agent it has.
      const rejected = await call('order', 'SendMessage', message('book'), otherKey);
      const body = (await rejected.json()) as { result: { task: { status: { state: string } } } };
      assert.is(body.result.task.status.state, 'TASK_STATE_REJECTED');
    },
  );

  s('the official SDK starts the workflow from its card and gets the run’s output', async () => {
    const { client } = await connect(hub.url, hub.apiKey, 'JSONRPC', 'x-api-key', cardUrl('order'));
    const task = asTask(await client.sendMessage(send(crypto.randomUUID(), `vip lamp ${kind}`)), 'order');
    assert.is(task.status?.state, TaskState.TASK_STATE_COMPLETED);
    assert.is(textOf(task.artifacts[0]?.parts), `express stock(vip lamp ${kind})`);
    const progress = task.history
      .filter((m) => m.role === 2) // ROLE_AGENT
      .map((m) => textOf(m.parts));
    assert.equal(progress, ['completed step reserve', 'completed step charge', 'completed step express']);
  });

  s('streaming shows each step, then the output, then the end', async () => {
    const { client } = await connect(hub.url, hub.apiKey, 'JSONRPC', 'x-api-key', cardUrl('order'));
    const signal = AbortSignal.timeout(30_000);
    const events = await drain(
      client.sendMessageStream(send(crypto.randomUUID(), `flaky kettle ${kind}`), { signal }),
      signal,
      'order stream',
    );
    assert.equal(events.map(describeEvent), [
      'task(TASK_STATE_SUBMITTED)',
      'statusUpdate(TASK_STATE_WORKING)', // reserve
      'statusUpdate(TASK_STATE_WORKING)', // charge attempt 1 failed, retrying
      'statusUpdate(TASK_STATE_WORKING)', // charge
      'statusUpdate(TASK_STATE_WORKING)', // ship
      'artifactUpdate(output)',
      'statusUpdate(TASK_STATE_COMPLETED)',
    ]);
    const texts = events.flatMap((e) =>
      e.payload?.$case === 'statusUpdate' ? [textOf(e.payload.value.status?.message?.parts)] : [],
    );
    assert.match(texts[1]!, /step charge attempt 1 failed: gateway timeout \(retrying\)/);
  });

  s('a run that fails is a failed task that says what was compensated', async () => {
    const res = await call('order', 'SendMessage', message(`decline sofa ${kind}`));
    const { result } = (await res.json()) as {
      result: { task: { status: { state: string; message: { parts: Array<{ text: string }> } } } };
    };
    assert.is(result.task.status.state, 'TASK_STATE_FAILED');
    assert.is(
      result.task.status.message.parts[0]!.text,
      'step charge failed: card declined; compensated: reserve',
    );
  });

  s('a step waiting for a human makes the workflow’s task ask; the answer reaches the step', async () => {
    const first = await call('approval', 'SendMessage', message(`50 EUR ${kind}`));
    interface Status {
      state: string;
      message: { parts: Array<{ text: string }> };
    }
    const { task } = ((await first.json()) as { result: { task: { id: string; status: Status } } }).result;
    assert.is(task.status.state, 'TASK_STATE_INPUT_REQUIRED');
    assert.is(task.status.message.parts[0]!.text, 'ask: approve?');
    // Answered on the workflow's task, streaming to the end.
    const answer = await call('approval', 'SendStreamingMessage', message('yes, go', task.id));
    const updates: Array<{
      statusUpdate?: { status: Status };
      artifactUpdate?: { artifact: { parts: Array<{ text: string }> } };
    }> = [];
    for await (const e of readSse(answer))
      updates.push((e.data as { result: (typeof updates)[number] }).result);
    const last = updates.at(-1)!;
    assert.is(last.statusUpdate?.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(updates));
    const artifact = updates.find((u) => u.artifactUpdate)?.artifactUpdate;
    assert.is(artifact?.artifact.parts[0]?.text, 'ok: approved(yes, go)');
  });

  s(
    'canceling the workflow’s task cancels its run: the step in flight is canceled, the done ones undone',
    async () => {
      await defineWorkflow(
        hub.runtime.store,
        caller,
        new WorkflowBuilder('stoppable')
          .task('book', {
            agent: 'stock',
            input: 'book {{input}}',
            compensate: { agent: 'stock', input: 'unbook {{steps.book.output}}' },
          })
          .task('wait', { agent: 'sleeper', input: 'wait' })
          .build(),
      );
      const started = await call('stoppable', 'SendMessage', {
        ...message(`trip ${kind}`),
        configuration: { returnImmediately: true },
      });
      const { id } = ((await started.json()) as { result: { task: { id: string } } }).result.task;
      const waiting = await waitFor('the second step to run', async () => {
        const run = await readWorkflowRun(hub.runtime.store, 'default', id);
        const step = run && Object.values(run.outstanding).find((o) => o.stepId === 'wait');
        return step ? step : null;
      });
      const res = await rpc(hub.url, hub.apiKey, 'CancelTask', { id });
      assert.is(
        ((await res.json()) as { result: { status: { state: string } } }).result.status.state,
        'TASK_STATE_CANCELED',
      );
      const run = await waitFor('the run to end', async () => {
        const r = await readWorkflowRun(hub.runtime.store, 'default', id);
        return r?.status === 'failed' ? r : null;
      });
      assert.equal(run.compensated, ['book']);
      assert.match(run.failure!.reason, /^canceled/);
      const stepTask = await waitFor('the step task to be canceled', async () => {
        const events = await hub.runtime.store.readStream(taskStream(waiting.taskId));
        const last = events.at(-1)!.data as { state?: string };
        return last.state === 'TASK_STATE_CANCELED' ? events : null;
      });
      assert.ok(stepTask.length > 0);
    },
  );

  s.run();
}
