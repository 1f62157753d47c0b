/**
 * Workflow runs end to end on both runtimes: the saga submits each step as an A2A task, the hub's agent
 * workers run it (in-process test agents, through the bus), the outcome goes back to the run. Covered:
 * a sequence with a decision, retries, compensation in reverse order, a pause on input-required resumed
 * by a message to the step's task, the version a run keeps, concurrent runs, steps bound to a capability
 * (routed), and a whole run's time limit kept across a restart.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type WorkflowRun, waitingStep } from '../../commands/workflow-run.ts';
import { taskStream } from '../../events/task.ts';
import { runStream } from '../../events/workflow.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';
import { defineWorkflow, readWorkflowRun, startWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';
import { approvalWorkflow, calls, orderWorkflow, workflowTestAgents } from '../support/workflow-agents.ts';

const kinds = await runtimesFor('workflows');

for (const kind of kinds) {
  const s = suite(`workflows (${kind})`);
  let hub: TestHub;
  const caller = { tenant: 'default', principal: 'test:workflows' };
  const settled = (runId: string, timeoutMs = 30_000) =>
    waitFor(
      `run ${runId} to end`,
      async () => {
        const run = await readWorkflowRun(hub.runtime.store, 'default', runId);
        return run && (run.status === 'completed' || run.status === 'failed') ? run : null;
      },
      timeoutMs,
    );
  /** The step of a running run that waits for an answer, once there is one. */
  const stepWaitingIn = (runId: string) =>
    waitFor(`a step of run ${runId} to wait`, async () => {
      const run = await readWorkflowRun(hub.runtime.store, 'default', runId);
      return (run?.status === 'running' && waitingStep(run)) || null;
    });
  const types = async (runId: string) =>
    (await hub.runtime.store.readStream(runStream(runId))).map((e) => e.type);
  const scheduledTasks = async (runId: string) =>
    (await hub.runtime.store.readStream(runStream(runId)))
      .filter((e) => e.type === 'WorkflowStepScheduled')
      .map((e) => e.data as { stepId: string; taskId: string; attempt: number; compensation: boolean });

  s.before(async () => {
    hub = await startHub(kind, { overrides: { agents: workflowTestAgents } });
    await defineWorkflow(hub.runtime.store, caller, orderWorkflow('order'));
  });
  s.after(async () => hub?.stop());

  s('a sequence with a decision completes; every step is an A2A task of the run', async () => {
    const { runId, version } = await startWorkflowRun(hub.runtime.store, caller, 'order', 'vip book');
    assert.is(version, 1);
    const run = await settled(runId);
    assert.is(run.status, 'completed', JSON.stringify(run));
    assert.is(run.output, 'express stock(vip book)');
    assert.equal(run.completed, ['reserve', 'charge', 'express']);
    const steps = await scheduledTasks(runId);
    assert.equal(
      steps.map((t) => t.stepId),
      ['reserve', 'charge', 'express'],
    );
    // The step's task through the A2A edge, as any client would see it.
    const res = await rpc(hub.url, hub.apiKey, 'GetTask', { id: steps[1]!.taskId });
    const task = ((await res.json()) as { result: { status: { state: string }; metadata?: unknown } }).result;
    assert.is(task.status.state, 'TASK_STATE_COMPLETED');
    assert.match(JSON.stringify(task.metadata), new RegExp(runId));
  });

  s(
    "a step's outcome, the next step's scheduling and the next task are written in one transaction",
    async () => {
      assert.ok(hub.runtime.store.appendLinked, 'both runtimes link appends');
      const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'order', `linked ${kind}`);
      assert.is((await settled(runId)).status, 'completed');
      const runEvents = await hub.runtime.store.readStream(runStream(runId));
      const scheduled = runEvents.filter((e) => e.type === 'WorkflowStepScheduled');
      assert.is(scheduled.length, 3);
      // The first step is submitted from its scheduling event; each one after it with its run's decision.
      for (const step of scheduled.slice(1)) {
        const { taskId } = step.data as { taskId: string };
        const [submitted] = await hub.runtime.store.readStream(taskStream(taskId), { maxCount: 1 });
        assert.is(submitted!.metadata.causationId, `wf-submit:${step.id}`);
        assert.is(submitted!.occurredAt, step.occurredAt, 'one transaction, one commit time');
      }
    },
  );

  s('a failed attempt is retried as a new task and the run goes on', async () => {
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'order', `flaky parcel ${kind}`);
    const run = await settled(runId);
    assert.is(run.status, 'completed', JSON.stringify(run));
    const charge = (await scheduledTasks(runId)).filter((t) => t.stepId === 'charge');
    assert.equal(
      charge.map((t) => t.attempt),
      [1, 2],
    );
    assert.is.not(charge[0]!.taskId, charge[1]!.taskId);
    const first = await hub.runtime.store.readStream(taskStream(charge[0]!.taskId));
    assert.is((first.at(-1)!.data as { state: string }).state, 'TASK_STATE_FAILED');
    assert.ok((await types(runId)).includes('WorkflowStepFailed'));
  });

  s('a step failing for good runs the compensations of the completed steps, latest first', async () => {
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'order', `decline toaster ${kind}`);
    const run = await settled(runId);
    assert.is(run.status, 'failed');
    assert.equal(run.failure, { step: 'charge', reason: 'card declined' });
    // charge never completed, so nothing is refunded; the reservation is released, once.
    assert.equal(run.compensated, ['reserve']);
    assert.equal(
      calls.filter((c) => c.startsWith('stock:release') && c.includes(`toaster ${kind}`)),
      [`stock:release stock(decline toaster ${kind})`],
    );
    assert.equal(
      (await scheduledTasks(runId)).map((t) => `${t.stepId}${t.compensation ? '(undo)' : ''}#${t.attempt}`),
      ['reserve#1', 'charge#1', 'charge#2', 'reserve(undo)#1'],
    );
    assert.equal((await types(runId)).slice(-1), ['WorkflowRunFailed']);
  });

  s('input-required pauses the run; a message to the step task resumes it', async () => {
    await defineWorkflow(hub.runtime.store, caller, approvalWorkflow());
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'approval', `100 EUR ${kind}`);
    const waiting = await stepWaitingIn(runId);
    const res = await rpc(hub.url, hub.apiKey, 'SendMessage', {
      message: {
        messageId: crypto.randomUUID(),
        role: 'ROLE_USER',
        taskId: waiting.taskId,
        parts: [{ text: 'yes, approved' }],
      },
    });
    assert.is(res.status, 200);
    const run = await settled(runId);
    assert.is(run.status, 'completed', JSON.stringify(run));
    assert.is(run.output, 'ok: approved(yes, approved)');
    assert.equal(calls.filter((c) => c === `approver:spend 100 EUR ${kind}`).length, 1, 'asked once');
  });

  s('a run keeps the version it started with', async () => {
    const v1 = new WorkflowBuilder('versioned')
      .task('only', { agent: 'echo', input: 'v1 {{input}}' })
      .build();
    const v2 = new WorkflowBuilder('versioned')
      .task('only', { agent: 'echo', input: 'v2 {{input}}' })
      .build();
    assert.equal(await defineWorkflow(hub.runtime.store, caller, v1), {
      name: 'versioned',
      version: 1,
      created: true,
    });
    const first = await startWorkflowRun(hub.runtime.store, caller, 'versioned', 'x');
    assert.equal(await defineWorkflow(hub.runtime.store, caller, v2), {
      name: 'versioned',
      version: 2,
      created: true,
    });
    assert.equal(await defineWorkflow(hub.runtime.store, caller, v2), {
      name: 'versioned',
      version: 2,
      created: false,
    });
    const second = await startWorkflowRun(hub.runtime.store, caller, 'versioned', 'x');
    assert.is((await settled(first.runId)).output, 'v1 x');
    assert.is((await settled(second.runId)).output, 'v2 x');
    assert.is(second.version, 2);
    // Another tenant sees neither the workflow nor the run.
    assert.is(await readWorkflowRun(hub.runtime.store, 'other', first.runId), null);
  });

  s(
    'parallel branches run at once and join; a repeating step loops to its condition; a workflow is a step',
    async () => {
      await defineWorkflow(
        hub.runtime.store,
        caller,
        new WorkflowBuilder('composite')
          .parallel('split', ['left', 'right', 'child'], 'draft')
          .task('left', { agent: 'stock', input: 'L {{input}}', end: true })
          .task('right', { agent: 'echo', input: 'R {{input}}', end: true })
          // A sub-workflow: the order workflow, as the hub's agent `workflow:order`.
          .task('child', { agent: 'workflow:order', input: 'vip {{input}}', end: true })
          .task('draft', {
            agent: 'drafter',
            input: 'improve: {{steps.draft.output}}',
            repeat: { until: { contains: 'APPROVED' }, maxIterations: 5 },
          })
          .task('merge', {
            agent: 'echo',
            input:
              '{{steps.left.output}} | {{steps.right.output}} | {{steps.child.output}} | {{steps.draft.output}}',
          })
          .build(),
      );
      const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'composite', `x-${kind}`);
      const run = await settled(runId, 60_000);
      assert.is(run.status, 'completed', JSON.stringify(run));
      assert.is(run.output, `stock(L x-${kind}) | R x-${kind} | express stock(vip x-${kind}) | +++ APPROVED`);
      const events = await hub.runtime.store.readStream(runStream(runId));
      // The three branches were scheduled together, before any of them completed.
      const firstCompleted = events.findIndex((e) => e.type === 'WorkflowStepCompleted');
      const fanOut = events.slice(0, firstCompleted).filter((e) => e.type === 'WorkflowStepScheduled');
      assert.equal(
        fanOut.map((e) => (e.data as { stepId: string }).stepId),
        ['left', 'right', 'child'],
      );
      assert.equal(
        (await scheduledTasks(runId))
          .filter((t) => t.stepId === 'draft')
          .map((t) => (t as { iteration?: number }).iteration),
        [1, 2, 3],
      );
    },
  );

  s(
    'a step past its timeout is canceled and retried after its backoff; out of attempts, the run fails',
    async () => {
      await defineWorkflow(
        hub.runtime.store,
        caller,
        new WorkflowBuilder('patience')
          .task('wait', {
            agent: 'sleeper',
            input: 'ponder {{input}}',
            timeoutMs: 400,
            retry: { maxAttempts: 2, backoffMs: 300 },
          })
          .build(),
      );
      const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'patience', kind);
      const run = await settled(runId);
      assert.is(run.status, 'failed');
      assert.equal(run.failure, { step: 'wait', reason: 'timed out after 400 ms' });
      const tasks = await scheduledTasks(runId);
      assert.equal(
        tasks.map((t) => t.attempt),
        [1, 2],
      );
      // The timed-out tasks are canceled just after the run has recorded the timeout.
      const streams = await Promise.all(
        tasks.map((t) =>
          waitFor(`task ${t.taskId} to be canceled`, async () => {
            const events = await hub.runtime.store.readStream(taskStream(t.taskId));
            return (events.at(-1)?.data as { state?: string } | undefined)?.state === 'TASK_STATE_CANCELED'
              ? events
              : null;
          }),
        ),
      );
      // The second attempt was due 300 ms after the first one was given up, and was not submitted before;
      // each attempt was given up no earlier than its timeout, 400 ms after it was due.
      const runEvents = await hub.runtime.store.readStream(runStream(runId));
      const failed = runEvents.filter((e) => e.type === 'WorkflowStepFailed');
      const [first, second] = runEvents
        .filter((e) => e.type === 'WorkflowStepScheduled')
        .map((e) => e.data as { notBefore?: string; timeoutAt: string; at: string });
      const at = (iso: string) => Date.parse(iso);
      assert.is(at(second!.notBefore!) - at((failed[0]!.data as { at: string }).at), 300);
      assert.ok(at(streams[1]![0]!.occurredAt) >= at(second!.notBefore!) - 1, 'submitted once due');
      assert.is(at(first!.timeoutAt) - at(first!.at), 400);
      assert.is(at(second!.timeoutAt) - at(second!.notBefore!), 400);
      for (const [i, f] of failed.entries())
        assert.ok(
          at(f.occurredAt) >= at([first!, second!][i]!.timeoutAt) - 1,
          `attempt ${i + 1} timed out in time`,
        );
    },
  );

  s('a step bound to a capability is routed to an agent that has it', async () => {
    await defineWorkflow(
      hub.runtime.store,
      caller,
      new WorkflowBuilder('by-capability')
        .task('refund', { capability: { tags: ['billing'] }, input: 'refund {{input}}' })
        .task('confirm', { agent: 'echo', input: 'confirmed: {{steps.refund.output}}' })
        .build(),
    );
    await waitFor('the refunder in discovery', async () =>
      (await hub.runtime.discovery.discover({ tenant: 'default', tags: ['billing'] })).length > 0
        ? true
        : null,
    );
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'by-capability', `order ${kind}`);
    const run = await settled(runId);
    assert.is(run.status, 'completed', JSON.stringify(run));
    assert.is(run.output, `confirmed: refund issued: refund order ${kind}`);
    const [refund] = await scheduledTasks(runId);
    const routed = (await hub.runtime.store.readStream(taskStream(refund!.taskId))).find(
      (e) => e.type === 'TaskRouted',
    );
    assert.is((routed?.data as { skillId?: string } | undefined)?.skillId, 'refunds');
  });

  s(
    'a run past its time limit is given up: its waiting step canceled, what completed compensated; the deadline survives a restart',
    async () => {
      await defineWorkflow(
        hub.runtime.store,
        caller,
        new WorkflowBuilder('deadline')
          .task('reserve', {
            agent: 'stock',
            input: '{{input}}',
            compensate: { agent: 'stock', input: 'release {{steps.reserve.output}}' },
          })
          .task('ask', { agent: 'approver', input: 'spend {{input}}' })
          .timeout(2_500)
          .build(),
      );
      const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'deadline', `limit ${kind}`);
      const ask = await stepWaitingIn(runId);
      // The process holding the deadline's timer stops; the one started after it keeps the deadline.
      await hub.restart();
      const run = await settled(runId);
      assert.is(run.status, 'failed');
      assert.match(run.failure?.reason ?? '', /^timed out: the run's deadline \S+ passed$/);
      assert.equal(run.compensated, ['reserve']);
      const events = await hub.runtime.store.readStream(runStream(runId));
      const started = events[0]!.data as { deadline: string; at: string };
      assert.is(Date.parse(started.deadline) - Date.parse(started.at), 2_500);
      const timedOut = events.find((e) => e.type === 'WorkflowRunTimedOut')!;
      assert.ok(Date.parse(timedOut.occurredAt) >= Date.parse(started.deadline), 'not before the deadline');
      assert.equal((timedOut.data as { tasks: string[] }).tasks, [ask.taskId]);
      await waitFor('the waiting task to be canceled', async () => {
        const task = await hub.runtime.store.readStream(taskStream(ask.taskId));
        return (task.at(-1)?.data as { state?: string } | undefined)?.state === 'TASK_STATE_CANCELED' || null;
      });
    },
  );

  s('a process stops without waiting for its pending timers; the run keeps its deadline', async () => {
    await defineWorkflow(
      hub.runtime.store,
      caller,
      new WorkflowBuilder('long-deadline')
        .task('ask', { agent: 'approver', input: 'spend {{input}}', timeoutMs: 600_000 })
        .timeout(600_000)
        .build(),
    );
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, 'long-deadline', `long ${kind}`);
    const ask = await stepWaitingIn(runId);
    // A step timer and a run deadline ten minutes away are held by this process: stopping gives them back.
    const stopping = hub.restart();
    const stalled = await Promise.race([
      stopping.then(() => false),
      new Promise((r) => setTimeout(() => r(true), 30_000)),
    ]);
    assert.is(stalled, false, 'the restart waited for the timers');
    // Answered after the restart: the run completes, its timers (now this process's) change nothing.
    await rpc(hub.url, hub.apiKey, 'SendMessage', {
      message: { messageId: `yes-${runId}`, role: 'ROLE_USER', taskId: ask.taskId, parts: [{ text: 'yes' }] },
    });
    const run = await settled(runId);
    assert.is(run.status, 'completed', JSON.stringify(run));
  });

  s('concurrent runs each end in their own right state', async () => {
    const inputs = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? `decline item-${i}` : `item-${i}`));
    const runs = await Promise.all(
      inputs.map((input) => startWorkflowRun(hub.runtime.store, caller, 'order', input)),
    );
    const ended: WorkflowRun[] = await Promise.all(runs.map((r) => settled(r.runId, 60_000)));
    ended.forEach((run, i) => {
      const declined = inputs[i]!.startsWith('decline');
      assert.is(run.status, declined ? 'failed' : 'completed', `${inputs[i]}: ${JSON.stringify(run)}`);
      if (declined) assert.equal(run.compensated, ['reserve']);
      else assert.is(run.output, `ship stock(${inputs[i]})`);
    });
  });

  s.run();
}
