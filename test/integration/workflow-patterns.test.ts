/**
 * The multi-agent patterns (workflows/patterns.ts) end to end on both runtimes, with scripted in-process
 * agents through the whole pipeline: supervisor (plan, parallel workers, synthesis), hierarchical
 * (supervisors of supervisor workflows), handoff (triage to a specialist, with the context), network (agents
 * addressing each other by capability through the routing saga, with a hop bound).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { taskStream } from '../../events/task.ts';
import { runStream } from '../../events/workflow.ts';
import {
  handoffWorkflow,
  hierarchicalWorkflow,
  networkWorkflow,
  supervisorWorkflow,
} from '../../workflows/patterns.ts';
import { defineWorkflow, readWorkflowRun, startWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';
import { workflowTestAgents } from '../support/workflow-agents.ts';

const kinds = await runtimesFor('workflow patterns');

for (const kind of kinds) {
  const s = suite(`workflow patterns (${kind})`);
  let hub: TestHub;
  const caller = { tenant: 'default', principal: 'test:patterns' };
  const run = async (workflow: string, input: string) => {
    const { runId } = await startWorkflowRun(hub.runtime.store, caller, workflow, input);
    const ended = await waitFor(
      `run of ${workflow}`,
      async () => {
        const r = await readWorkflowRun(hub.runtime.store, 'default', runId);
        return r && (r.status === 'completed' || r.status === 'failed') ? r : null;
      },
      60_000,
    );
    return { runId, run: ended, events: await hub.runtime.store.readStream(runStream(runId)) };
  };
  const ofType = (events: RecordedEvent[], type: string) => events.filter((e) => e.type === type);

  s.before(async () => {
    hub = await startHub(kind, { overrides: { agents: workflowTestAgents } });
    const define = (d: Parameters<typeof defineWorkflow>[2]) => defineWorkflow(hub.runtime.store, caller, d);
    await define(supervisorWorkflow('research', { supervisor: 'planner', worker: 'worker' }));
    await define(supervisorWorkflow('team', { supervisor: 'planner', worker: 'worker' }));
    await define(hierarchicalWorkflow('org', { supervisor: 'planner', team: 'team' }));
    await define(
      handoffWorkflow('helpdesk', { triage: 'triage', specialists: { billing: 'billing', tech: 'tech' } }),
    );
    await define(networkWorkflow('network', { entry: 'frontdesk', maxHops: 3 }));
    await define(networkWorkflow('refund-desk', { entry: { capability: { skill: 'refunds' } } }));
    // Routing finds agents through the discovery read model: wait until the test agents' skills are in it.
    await waitFor('the test agents in discovery', async () => {
      const found = await hub.runtime.discovery.discover({
        tenant: 'default',
        tags: ['refunds', 'diagnostics', 'ping-pong'],
      });
      return new Set(found.map((c) => c.agentId)).size >= 3 || null;
    });
  });
  s.after(async () => hub?.stop());

  s(
    'supervisor: the plan fans out to workers at once, the supervisor answers from their results',
    async () => {
      const { run: r, events } = await run('research', 'topic: tides');
      assert.is(r.status, 'completed', JSON.stringify(r));
      assert.is(r.output, 'final[done(look up tides) + done(explain tides) + done(quiz on tides)]');
      const [started] = ofType(events, 'WorkflowMapStarted');
      assert.equal((started!.data as { items: string[] }).items, [
        'look up tides',
        'explain tides',
        'quiz on tides',
      ]);
      // All three subtasks were scheduled before any of them completed.
      const firstDone = events.findIndex(
        (e) => e.type === 'WorkflowStepCompleted' && (e.data as { stepId: string }).stepId === 'work',
      );
      assert.is(
        ofType(events.slice(0, firstDone), 'WorkflowStepScheduled').filter(
          (e) => (e.data as { stepId: string }).stepId === 'work',
        ).length,
        3,
      );
    },
  );

  s(
    'hierarchical: each subtask is a team supervisor workflow of its own, the top supervisor answers',
    async () => {
      const { run: r, events } = await run('org', 'topic: moon');
      assert.is(r.status, 'completed', JSON.stringify(r));
      const team = (line: string) => `final[done(part A of ${line}) + done(part B of ${line})]`;
      assert.is(
        r.output,
        `final[${team('look up moon')} + ${team('explain moon')} + ${team('quiz on moon')}]`,
      );
      const teams = ofType(events, 'WorkflowStepScheduled').filter(
        (e) => (e.data as { agent: string }).agent === 'workflow:team',
      );
      assert.is(teams.length, 3);
      // Each team's task is the parent of a run of the team workflow.
      for (const t of teams) {
        const child = await readWorkflowRun(
          hub.runtime.store,
          'default',
          (t.data as { taskId: string }).taskId,
        );
        assert.is(child?.status, 'completed');
        assert.is(child?.definition?.name, 'team');
      }
    },
  );

  s(
    'handoff: triage hands the conversation to the right specialist with its note, in one A2A context',
    async () => {
      const refund = await run('helpdesk', 'I want a refund for order 7');
      assert.is(
        refund.run.output,
        'billing saw: I want a refund for order 7 / (handed over by the triage agent: handoff:billing wants money back)',
      );
      const error = await run('helpdesk', 'the app shows an error');
      assert.match(error.run.output ?? '', /^tech saw: the app shows an error/);
      const hello = await run('helpdesk', 'hello there');
      assert.is(hello.run.output, 'answered: hello there', 'no handoff: the triage agent answers');
      const contexts = new Set<string>();
      for (const e of ofType(refund.events, 'WorkflowStepScheduled')) {
        const [submitted] = await hub.runtime.store.readStream(
          taskStream((e.data as { taskId: string }).taskId),
          { maxCount: 1 },
        );
        contexts.add((submitted!.data as { contextId: string }).contextId);
      }
      assert.is(contexts.size, 1, 'triage and specialist share the context');
    },
  );

  /** The agent each hop's task was routed to (TaskRouted), or the agent it named. */
  const hopAgents = async (events: RecordedEvent[]) =>
    Promise.all(
      ofType(events, 'WorkflowStepScheduled').map(async (e) => {
        const { taskId, agent } = e.data as { taskId: string; agent: string };
        const task = await hub.runtime.store.readStream(taskStream(taskId));
        const routed = task.find((t) => t.type === 'TaskRouted');
        return routed ? `routed:${(routed.data as { skillId: string }).skillId}` : agent;
      }),
    );

  s('network: agents hand the work on by capability, each hop routed, until one answers', async () => {
    const { run: r, events } = await run('network', 'the app crashes and I was charged twice');
    assert.is(r.status, 'completed', JSON.stringify(r));
    assert.is(r.output, 'refund issued: the app crashes and I was charged twice');
    assert.equal(
      ofType(events, 'WorkflowHandoff').map((e) => (e.data as { capability: string }).capability),
      ['diagnostics', 'refunds'],
    );
    assert.equal(await hopAgents(events), ['frontdesk', 'routed:diagnostics', 'routed:refunds']);
    // The last hop saw every note so far.
    const last = ofType(events, 'WorkflowStepScheduled').at(-1)!.data as { input: string };
    assert.match(
      last.input,
      /1\. to diagnostics: the app crashes\n2\. to refunds: the crash charged the card twice$/,
    );
    const direct = await run('network', 'what are your hours');
    assert.is(direct.run.output, 'frontdesk answered: what are your hours', 'no hand-over: one hop');
    const entry = await run('refund-desk', 'refund order 9');
    assert.is(entry.run.output, 'refund issued: refund order 9');
    assert.equal(await hopAgents(entry.events), ['routed:refunds'], 'the entry is found by capability too');
  });

  s(
    'network: a run that goes round stops at the hop bound; a capability nobody has fails the step',
    async () => {
      const loop = await run('network', 'loop');
      assert.is(loop.run.status, 'failed');
      assert.equal(loop.run.failure, {
        step: 'solve',
        reason: 'no agent answered within 3 hops (the last one handed off to ping-pong)',
      });
      assert.equal(await hopAgents(loop.events), ['frontdesk', 'routed:ping-pong', 'routed:ping-pong']);
      const nobody = await run('network', 'my horoscope please');
      assert.is(nobody.run.status, 'failed');
      assert.match(nobody.run.failure?.reason ?? '', /^No agent matched "astrology"/);
    },
  );

  s.run();
}
