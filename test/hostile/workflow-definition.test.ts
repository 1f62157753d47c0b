/**
 * A hostile tenant's workflow definitions, decided without I/O: `matches` patterns run in linear time (or
 * are refused at their field), templates that would render hundreds of megabytes fail their step instead,
 * step outputs over the limit fail too, and node ids that are names of Object.prototype behave as any id.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conditionHolds } from '../../commands/step-results.ts';
import { DEFAULT_WORKFLOW_LIMITS } from '../../commands/workflow-limits.ts';
import { type WorkflowRunCommand, workflowRunDecider } from '../../commands/workflow-run.ts';
import { renderWithin } from '../../commands/workflow-template.ts';
import { describeZodIssues } from '../../events/issues.ts';
import { stepTaskId, type WorkflowRunEvent } from '../../events/workflow.ts';
import { WorkflowDefinition } from '../../events/workflow-definition.ts';
import { MAX_PATTERN_LENGTH } from '../../events/workflow-pattern.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';

const at = '2026-12-07T10:00:00.000Z';
const runId = 'run-hostile';
const evil = `${'a'.repeat(30_000)}b`;

/** The events a run decides from its start and the outcomes given, in order. */
const decideAll = (definition: WorkflowDefinition, input: string, outcomes: Array<[string, string]> = []) => {
  const start: WorkflowRunCommand = {
    type: 'StartRun',
    ...{ runId, workflow: definition.name, version: 1, definition, input, contextId: 'ctx', at },
  };
  const events: WorkflowRunEvent[] = [];
  let run = workflowRunDecider.initialState();
  const apply = (command: WorkflowRunCommand) => {
    for (const e of workflowRunDecider.decide(command, run)) {
      events.push(e);
      run = workflowRunDecider.evolve(run, e);
    }
  };
  apply(start);
  for (const [stepId, output] of outcomes) {
    const taskId = Object.values(run.outstanding).find((o) => o.stepId === stepId)?.taskId;
    assert.ok(taskId, `step ${stepId} is in flight`);
    apply({ type: 'RecordStepOutcome', taskId, state: 'TASK_STATE_COMPLETED', output, at });
  }
  return { events, run };
};
const issuesOf = (input: unknown) => {
  const parsed = WorkflowDefinition.safeParse(input);
  assert.not.ok(parsed.success, 'the definition is refused');
  return describeZodIssues(parsed.error!.issues);
};
const decision = (matches: string, where: 'case' | 'repeat' = 'case') => ({
  name: 'patterns',
  start: 'gen',
  nodes: {
    gen: {
      kind: 'task',
      agent: 'echo',
      input: '{{input}}',
      ...(where === 'repeat' ? { repeat: { until: { matches }, maxIterations: 2 } } : { next: 'check' }),
    },
    ...(where === 'case'
      ? {
          check: {
            kind: 'decision',
            cases: [{ when: { step: 'gen', matches }, next: 'yes' }],
            otherwise: 'no',
          },
        }
      : {}),
    yes: { kind: 'task', agent: 'echo', input: 'yes' },
    no: { kind: 'task', agent: 'echo', input: 'no' },
  },
});

// ---- A1: regular expressions --------------------------------------------------------------------------

test('a catastrophic pattern on a crafted output is decided in linear time', () => {
  // Backtracking (RegExp) takes exponential time here: this never returned before.
  const started = performance.now();
  assert.not.ok(
    conditionHolds({ step: 'gen', matches: '^(a+)+$' }, { state: 'TASK_STATE_COMPLETED', output: evil }),
  );
  assert.ok(
    conditionHolds({ step: 'gen', matches: '^(a+)+b$' }, { state: 'TASK_STATE_COMPLETED', output: evil }),
  );
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
});

test('given a step whose output is crafted, when its outcome is recorded, then the decision takes the other branch at once', () => {
  const definition = WorkflowDefinition.parse(decision('^(a+)+$'));
  const started = performance.now();
  const { events } = decideAll(definition, 'x', [['gen', evil]]);
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  const taken = events.find((e) => e.type === 'WorkflowBranchTaken');
  assert.equal(taken?.data, { nodeId: 'check', case: null, next: 'no', at });
});

test('patterns RE2 cannot run in linear time are refused, naming the node and the field', () => {
  for (const [pattern, why] of [
    ['(a)\\1', /invalid escape sequence/],
    ['(?=a)', /unsupported Perl syntax: `\(\?=`/],
    ['(?!a)b', /unsupported Perl syntax: `\(\?!`/],
    ['(?<=a)b', /lookarounds/],
    ['[', /missing closing \]/],
  ] as const) {
    const message = issuesOf(decision(pattern));
    assert.match(message, /^nodes\.check\.cases\.0\.when\.matches: /, message);
    assert.match(message, why, message);
  }
  assert.match(issuesOf(decision('(?=a)', 'repeat')), /^nodes\.gen\.repeat\.until\.matches: .*lookarounds/);
});

test(`a pattern longer than ${MAX_PATTERN_LENGTH} characters is refused`, () => {
  const message = issuesOf(decision('a'.repeat(MAX_PATTERN_LENGTH + 1)));
  assert.match(
    message,
    /nodes\.check\.cases\.0\.when\.matches: the pattern is 1001 characters long, over the limit of 1000/,
  );
  assert.ok(WorkflowDefinition.safeParse(decision('a'.repeat(MAX_PATTERN_LENGTH))).success);
});

test('RE2 syntax that JavaScript also has still works: classes, anchors, alternation, named groups', () => {
  const holds = (matches: string, output: string) =>
    conditionHolds({ step: 's', matches }, { state: 'TASK_STATE_COMPLETED', output });
  assert.ok(holds('^order-\\d{3}$', 'order-123'));
  assert.ok(holds('(?i)APPROVED|ok', 'request approved'));
  assert.ok(holds('(?<word>\\w+) done', 'all done'));
  assert.not.ok(holds('^order-\\d{3}$', 'order-1234'));
});

// ---- A4: template amplification -----------------------------------------------------------------------

/** The definition of the report: a 22 KB template of 2,500 `{{input}}` placeholders. */
const amplifier = (template: string) =>
  new WorkflowBuilder('amplify')
    .task('seed', {
      agent: 'echo',
      input: '{{input}}',
      compensate: { agent: 'echo', input: 'undo seed' },
    })
    .task('boom', { agent: 'echo', input: template, end: true })
    .build();

test('a template that would render 150 MB is measured, not rendered, and refused', () => {
  const input = 'x'.repeat(60_000);
  const started = performance.now();
  const rendered = renderWithin('{{input}}'.repeat(2500), { input, results: {} }, 1024 * 1024);
  assert.ok(performance.now() - started < 200, `took ${performance.now() - started} ms`);
  assert.equal(rendered, { ok: false, bytes: 150_000_000 });
  assert.equal(renderWithin('a{{input}}b', { input: 'é"', results: {} }, 100), { ok: true, text: 'aé"b' });
});

test('given a step whose rendered input is over the limit, then it fails with the reason, the earlier steps are compensated and the run fails', () => {
  const input = 'x'.repeat(60_000);
  const definition = amplifier('{{steps.seed.output}}'.repeat(2500));
  const { events, run } = decideAll(definition, input, [['seed', input]]);
  const failed = events.find((e) => e.type === 'WorkflowStepFailed');
  const reason =
    "step 'boom': rendered input is 143.1 MiB, over the 512 KiB limit (AGENTCORE_MAX_STEP_INPUT_BYTES)";
  assert.equal(failed?.data, {
    ...{ stepId: 'boom', attempt: 1, iteration: 1, compensation: false },
    ...{ taskId: stepTaskId(runId, 'boom', 1, false), state: 'TASK_STATE_FAILED', error: reason },
    ...{ willRetry: false, timedOut: false, at },
  });
  assert.not.ok(
    events.some((e) => e.type === 'WorkflowStepScheduled' && e.data.stepId === 'boom'),
    'nothing was sent',
  );
  const compensation = events.find(
    (e): e is Extract<WorkflowRunEvent, { type: 'WorkflowStepScheduled' }> =>
      e.type === 'WorkflowStepScheduled' && e.data.compensation,
  );
  assert.is(compensation?.data.input, 'undo seed');
  // The compensation completes: the run has failed, saying why.
  const after = workflowRunDecider.decide(
    {
      type: 'RecordStepOutcome',
      taskId: compensation!.data.taskId,
      state: 'TASK_STATE_COMPLETED',
      output: 'undone',
      at,
    },
    run,
  );
  const end = after.find((e) => e.type === 'WorkflowRunFailed');
  assert.equal(end?.data, { failedStep: 'boom', reason, compensated: ['seed'], compensationFailed: [], at });
});

test('given the first step is over the limit, then the run fails in its start, with nothing in flight', () => {
  const definition = new WorkflowBuilder('first')
    .task('boom', { agent: 'echo', input: '{{input}}'.repeat(2500) })
    .build();
  const { events, run } = decideAll(definition, 'y'.repeat(60_000));
  assert.equal(
    events.map((e) => e.type),
    ['WorkflowRunStarted', 'WorkflowStepFailed', 'WorkflowCompensationStarted', 'WorkflowRunFailed'],
  );
  assert.is(run.status, 'failed');
});

test('the limit is the one the run started with', () => {
  const definition = new WorkflowBuilder('small')
    .task('s', { agent: 'echo', input: '{{input}}{{input}}' })
    .build();
  const start = (maxStepInputBytes?: number) =>
    workflowRunDecider.decide(
      {
        type: 'StartRun',
        ...{ runId, workflow: 'small', version: 1, definition, input: 'z'.repeat(600), contextId: 'c', at },
        ...(maxStepInputBytes ? { maxStepInputBytes } : {}),
      },
      workflowRunDecider.initialState(),
    );
  assert.is(start(1024)[1]?.type, 'WorkflowStepFailed');
  assert.match(JSON.stringify(start(1024)[1]?.data), /rendered input is 1.2 KiB, over the 1 KiB limit/);
  assert.is((start(1024)[0]!.data as { maxStepInputBytes?: number }).maxStepInputBytes, 1024);
  assert.is(start()[1]?.type, 'WorkflowStepScheduled');
  assert.is(DEFAULT_WORKFLOW_LIMITS.maxStepInputBytes, 512 * 1024);
});

test("given a step's output over the limit, then the step fails rather than carry it into the run", () => {
  const definition = amplifier('{{steps.seed.output}}');
  const { events } = decideAll(definition, 'in', [['seed', 'o'.repeat(2 * 1024 * 1024)]]);
  const failed = events.find((e) => e.type === 'WorkflowStepFailed');
  assert.match(
    (failed!.data as { error: string }).error,
    /^step 'seed': its output is 2 MiB, over the 512 KiB limit \(AGENTCORE_MAX_STEP_INPUT_BYTES\)$/,
  );
  assert.not.ok(events.some((e) => e.type === 'WorkflowStepCompleted'));
});

test("a failed task's long answer is cut to a reason", () => {
  const definition = new WorkflowBuilder('long').task('s', { agent: 'echo', input: 'go' }).build();
  const { run } = decideAll(definition, 'in');
  const taskId = Object.keys(run.outstanding)[0]!;
  const events = workflowRunDecider.decide(
    { type: 'RecordStepOutcome', taskId, state: 'TASK_STATE_FAILED', output: 'e'.repeat(500_000), at },
    run,
  );
  const failed = events.find((e) => e.type === 'WorkflowRunFailed')!.data as { reason: string };
  assert.ok(failed.reason.length < 2100, `${failed.reason.length} characters`);
  assert.match(failed.reason, /… \(498000 more characters\)$/);
});

// ---- A7: ids that are names of Object.prototype -------------------------------------------------------

test('a node named constructor is a node like any other', () => {
  const definition = WorkflowDefinition.parse({
    name: 'constructor',
    start: 'constructor',
    nodes: {
      constructor: { kind: 'task', agent: 'echo', input: '{{input}}', next: 'after' },
      after: { kind: 'task', agent: 'echo', input: '{{steps.constructor.output}}!' },
    },
  });
  const { events, run } = decideAll(definition, 'in', [
    ['constructor', 'one'],
    ['after', 'two'],
  ]);
  const inputs = events.flatMap((e) => (e.type === 'WorkflowStepScheduled' ? [e.data.input] : []));
  assert.equal(inputs, ['in', 'one!']);
  assert.is(run.status, 'completed');
  assert.equal(run.completed, ['constructor', 'after']);
});

test('references to nodes named after Object.prototype, undefined, are refused by name rather than crash', () => {
  assert.match(
    issuesOf({ name: 'a', start: 'constructor', nodes: { x: { kind: 'task', agent: 'echo', input: 'x' } } }),
    /start node "constructor" is not defined/,
  );
  assert.match(
    issuesOf({
      name: 'a',
      start: 'x',
      nodes: { x: { kind: 'task', agent: 'echo', input: 'x', next: 'constructor' } },
    }),
    /node "x" leads to "constructor", which is not defined/,
  );
  const proto = JSON.parse(
    '{"name":"a","start":"x","nodes":{"x":{"kind":"task","agent":"echo","input":"x"},"__proto__":{"kind":"task","agent":"echo","input":"y"}}}',
  );
  assert.match(issuesOf(proto), /nodes\.__proto__: node id "__proto__": node ids are 1-63 chars/);
});

test('placeholders of steps named after Object.prototype render empty', () => {
  const rendered = renderWithin(
    '[{{steps.__proto__.output}}|{{steps.constructor.output}}|{{steps.hasOwnProperty.output}}]',
    { input: '', results: {} },
    1000,
  );
  assert.equal(rendered, { ok: true, text: '[||{{steps.hasOwnProperty.output}}]' });
});

test.run();
