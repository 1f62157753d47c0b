/**
 * The event size limit as the workflow saga meets it, on both runtimes: a run started under a larger step
 * limit than the events now allow (AGENTCORE_MAX_EVENT_BYTES lowered while it ran) decides a step whose
 * event would be over the limit. The saga cannot write that decision, and redelivering it would fail the
 * same way forever: the step fails instead, saying why, and the run ends.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { configureWorkflowLimits } from '../../commands/workflow-limits.ts';
import { runStream } from '../../events/workflow.ts';
import { readWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('workflow event limit');
const fanOut = {
  name: 'fan-out',
  start: 'seed',
  nodes: {
    seed: { kind: 'task', agent: 'echo', input: '{{input}}', next: 'wide' },
    wide: { kind: 'task', agent: 'echo', input: '{{steps.seed.output}}'.repeat(5) },
  },
};

for (const kind of kinds) {
  const s = suite(`workflow event limit (${kind})`);
  let hub: TestHub;

  s.before(async () => {
    hub = await startHub(kind, {
      env: {
        AGENTCORE_MAX_EVENT_BYTES: String(256 * 1024),
        AGENTCORE_MAX_STEP_INPUT_BYTES: String(128 * 1024),
        AGENTCORE_MAX_RUN_INPUT_BYTES: String(64 * 1024),
      },
    });
    // As if the run had started before the limits were lowered: it keeps its own step limit.
    configureWorkflowLimits({ maxStepInputBytes: 10 * 1024 * 1024 });
  });
  s.after(async () => hub?.stop());

  s(
    'a decision whose event is over the limit fails the step with the reason; the run is not stuck',
    async () => {
      const api = (path: string, body: unknown) =>
        fetch(`${hub.url}/api/admin${path}`, {
          method: 'POST',
          headers: { 'X-API-Key': hub.apiKey, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      assert.is((await api('/workflows', fanOut)).status, 201);
      const started = await api('/workflows/fan-out/runs', { input: 'w'.repeat(60_000) });
      assert.is(started.status, 202);
      const { runId } = (await started.json()) as { runId: string };
      const run = await waitFor(
        'the run to end',
        async () => {
          const r = await readWorkflowRun(hub.runtime.store, 'default', runId);
          return r?.status === 'failed' || r?.status === 'completed' ? r : null;
        },
        30_000,
      );
      assert.is(run.status, 'failed');
      assert.is(run.failure?.step, 'seed', JSON.stringify(run.failure));
      assert.match(
        run.failure!.reason,
        new RegExp(
          `^WorkflowStepScheduled on ${runStream(runId)} would be 293(\\.\\d)? KiB, over the 256 KiB limit of an event \\(AGENTCORE_MAX_EVENT_BYTES\\): nothing was written$`,
        ),
      );
      const scheduled = (await hub.runtime.store.readStream(runStream(runId))).filter(
        (e) => e.type === 'WorkflowStepScheduled',
      );
      assert.equal(
        scheduled.map((e) => (e.data as { stepId: string }).stepId),
        ['seed'],
      );
    },
  );

  s.run();
}
