import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handoffOf } from '../../commands/step-results.ts';
import { workflowDefinitionDecider } from '../../commands/workflow-definition.ts';
import { type WorkflowRunCommand, workflowRunDecider } from '../../commands/workflow-run.ts';
import { renderInput } from '../../commands/workflow-template.ts';
import { stepTaskId, type WorkflowRunEvent } from '../../events/workflow.ts';
import { WorkflowDefinition } from '../../events/workflow-definition.ts';
import { WorkflowBuilder } from '../../workflows/builder.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const at = '2026-12-01T10:00:00.000Z';
const runId = 'run-1';

/** reserve (compensated by release) -> charge (2 attempts, compensated by refund) -> check -> ship | notify */
const order = new WorkflowBuilder('order')
  .task('reserve', {
    agent: 'stock',
    input: 'reserve {{input}}',
    compensate: { agent: 'stock', input: 'release {{steps.reserve.output}}' },
  })
  .task('charge', {
    agent: 'payments',
    input: 'charge for {{steps.reserve.output}}',
    retry: { maxAttempts: 2 },
    compensate: { agent: 'payments', input: 'refund {{steps.charge.output}}' },
  })
  .decide('check', [{ when: { step: 'charge', contains: 'express' }, next: 'ship-express' }], 'ship')
  .task('ship', { agent: 'shipping', input: 'ship {{steps.reserve.output}}', end: true })
  .task('ship-express', { agent: 'shipping', input: 'express {{steps.reserve.output}}' })
  .build();

const runSpec = deciderSpec(workflowRunDecider);
const started: WorkflowRunEvent = {
  type: 'WorkflowRunStarted',
  data: { runId, workflow: 'order', version: 1, definition: order, input: 'book', contextId: 'ctx', at },
};
/** The step-attempt fields every step event carries (first iteration). */
const attemptOf = (stepId: string, attempt: number, compensation: boolean) => ({
  stepId,
  attempt,
  iteration: 1,
  compensation,
  taskId: stepTaskId(runId, stepId, attempt, compensation),
});
const scheduled = (stepId: string, attempt: number, input: string, agent: string, compensation = false) =>
  ({
    type: 'WorkflowStepScheduled',
    data: {
      ...attemptOf(stepId, attempt, compensation),
      agent,
      input,
      at,
    },
  }) satisfies WorkflowRunEvent;
const completed = (stepId: string, attempt: number, output: string, compensation = false) =>
  ({
    type: 'WorkflowStepCompleted',
    data: {
      ...attemptOf(stepId, attempt, compensation),
      output,
      at,
    },
  }) satisfies WorkflowRunEvent;
const stepFailed = (
  stepId: string,
  attempt: number,
  state: 'TASK_STATE_FAILED' | 'TASK_STATE_REJECTED',
  error: string,
  willRetry: boolean,
  compensation = false,
) =>
  ({
    type: 'WorkflowStepFailed',
    data: {
      ...attemptOf(stepId, attempt, compensation),
      state,
      error,
      willRetry,
      timedOut: false,
      at,
    },
  }) satisfies WorkflowRunEvent;
const outcome = (
  stepId: string,
  attempt: number,
  state: Extract<WorkflowRunCommand, { type: 'RecordStepOutcome' }>['state'],
  output: string,
  compensation = false,
): WorkflowRunCommand => ({
  type: 'RecordStepOutcome',
  taskId: stepTaskId(runId, stepId, attempt, compensation),
  state,
  output,
  at,
});
/** A run's log: commands are decided against it and their events appended, as the command handler does. */
const runLog = (...given: WorkflowRunEvent[]) => {
  let log = given;
  const state = () => log.reduce(workflowRunDecider.evolve, workflowRunDecider.initialState());
  return {
    decide: (command: WorkflowRunCommand) => {
      const out = workflowRunDecider.decide(command, state());
      log = [...log, ...out];
      return out;
    },
    state,
  };
};
const reserved = [started, scheduled('reserve', 1, 'reserve book', 'stock'), completed('reserve', 1, 'R7')];
const charging = [...reserved, scheduled('charge', 1, 'charge for R7', 'payments')];

test('the builder chains tasks in the order added and checks the graph', () => {
  assert.is(order.start, 'reserve');
  assert.is((order.nodes.reserve as { next?: string }).next, 'charge');
  assert.is((order.nodes.charge as { next?: string }).next, 'check');
  assert.is((order.nodes.ship as { next?: string }).next, undefined, 'end: true stops the chain');
  assert.throws(
    () => new WorkflowBuilder('w').task('a', { agent: 'x', input: '', next: 'nowhere' }).build(),
    /leads to "nowhere", which is not defined/,
  );
  assert.throws(
    () =>
      new WorkflowBuilder('w')
        .task('a', { agent: 'x', input: '' })
        .task('b', { agent: 'x', input: '', next: 'a' })
        .build(),
    /cycle: a -> b -> a/,
  );
  assert.throws(
    () =>
      new WorkflowBuilder('w')
        .task('a', { agent: 'x', input: '', end: true })
        .task('b', { agent: 'x', input: '' })
        .build(),
    /node "b" is unreachable/,
  );
  assert.throws(
    () =>
      new WorkflowBuilder('w')
        .decide('d', [{ when: { step: 'a', equals: 'x' }, next: 'a' }])
        .task('a', { agent: 'x', input: '' })
        .build(),
    /tests "a", which has not always run before it/,
  );
  // b runs on one branch only: a decision after the branches join may test a, not b.
  const diamond = (tested: string) => () =>
    new WorkflowBuilder('w')
      .task('a', { agent: 'x', input: '', next: 'd' })
      .decide('d', [{ when: { step: 'a', contains: 'x' }, next: 'b' }], 'c')
      .task('b', { agent: 'x', input: '', next: 'e' })
      .task('c', { agent: 'x', input: '', next: 'e' })
      .decide('e', [{ when: { step: tested, contains: 'y' }, next: 'f' }])
      .task('f', { agent: 'x', input: '' })
      .build();
  assert.throws(diamond('b'), /decision "e" tests "b", which has not always run before it/);
  assert.is(diamond('a')().start, 'a');
  assert.throws(() => new WorkflowBuilder('w').build(), /start node "" is not defined/);
});

test('templates take the run input and earlier outputs; a step that did not run is empty', () => {
  const results = { a: { state: 'TASK_STATE_COMPLETED', output: 'A!' } };
  assert.is(
    renderInput('{{input}} / {{ steps.a.output }} / {{steps.b.output}}', 'in', results),
    'in / A! / ',
  );
});

test('definitions: each change is a new version, the same definition again adds nothing', () => {
  const spec = deciderSpec(workflowDefinitionDecider);
  const v1 = { type: 'WorkflowDefined' as const, data: { version: 1, definition: order, at } };
  spec([]).when({ type: 'DefineWorkflow', definition: order, at }).thenEvents([v1]);
  spec([v1]).when({ type: 'DefineWorkflow', definition: order, at }).thenEvents([]);
  const changed: WorkflowDefinition = { ...order, description: 'v2' };
  spec([v1])
    .when({ type: 'DefineWorkflow', definition: changed, at })
    .thenEvents([{ type: 'WorkflowDefined', data: { version: 2, definition: changed, at } }]);
});

test('a run starts with its first step scheduled, the input rendered', () => {
  runSpec([])
    .when({
      type: 'StartRun',
      runId,
      workflow: 'order',
      version: 1,
      definition: order,
      input: 'book',
      contextId: 'ctx',
      at,
    })
    .thenEvents([started, scheduled('reserve', 1, 'reserve book', 'stock')]);
});

test('a completed step schedules the next with its output; task ids are derived, not random', () => {
  runSpec([started, scheduled('reserve', 1, 'reserve book', 'stock')])
    .when(outcome('reserve', 1, 'TASK_STATE_COMPLETED', 'R7'))
    .thenEvents([completed('reserve', 1, 'R7'), scheduled('charge', 1, 'charge for R7', 'payments')]);
  assert.is(stepTaskId(runId, 'charge', 1, false), stepTaskId(runId, 'charge', 1, false));
  assert.is.not(stepTaskId(runId, 'charge', 1, false), stepTaskId(runId, 'charge', 2, false));
  assert.is.not(stepTaskId(runId, 'charge', 1, false), stepTaskId(runId, 'charge', 1, true));
  assert.match(
    stepTaskId(runId, 'charge', 1, false),
    /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
});

test('a decision takes the first case that holds, else otherwise; the last step ends the run', () => {
  runSpec(charging)
    .when(outcome('charge', 1, 'TASK_STATE_COMPLETED', 'paid, express'))
    .thenEvents([
      completed('charge', 1, 'paid, express'),
      { type: 'WorkflowBranchTaken', data: { nodeId: 'check', case: 0, next: 'ship-express', at } },
      scheduled('ship-express', 1, 'express R7', 'shipping'),
    ]);
  runSpec(charging)
    .when(outcome('charge', 1, 'TASK_STATE_COMPLETED', 'paid'))
    .thenEvents([
      completed('charge', 1, 'paid'),
      { type: 'WorkflowBranchTaken', data: { nodeId: 'check', case: null, next: 'ship', at } },
      scheduled('ship', 1, 'ship R7', 'shipping'),
    ]);
  runSpec([
    ...charging,
    completed('charge', 1, 'paid'),
    { type: 'WorkflowBranchTaken', data: { nodeId: 'check', case: null, next: 'ship', at } },
    scheduled('ship', 1, 'ship R7', 'shipping'),
  ])
    .when(outcome('ship', 1, 'TASK_STATE_COMPLETED', 'shipped'))
    .thenEvents([
      completed('ship', 1, 'shipped'),
      { type: 'WorkflowRunCompleted', data: { output: 'shipped', at } },
    ]);
});

test('a failed step is retried while attempts remain, as a new task', () => {
  runSpec(charging)
    .when(outcome('charge', 1, 'TASK_STATE_FAILED', 'card declined'))
    .thenEvents([
      stepFailed('charge', 1, 'TASK_STATE_FAILED', 'card declined', true),
      scheduled('charge', 2, 'charge for R7', 'payments'),
    ]);
});

const retried = [
  ...charging,
  stepFailed('charge', 1, 'TASK_STATE_FAILED', 'card declined', true),
  scheduled('charge', 2, 'charge for R7', 'payments'),
];

test('out of attempts: compensations of the completed steps run, latest first, then the run fails', () => {
  const failedForGood = stepFailed('charge', 2, 'TASK_STATE_REJECTED', 'rejected', false);
  const compensating: WorkflowRunEvent = {
    type: 'WorkflowCompensationStarted',
    data: { failedStep: 'charge', reason: 'rejected', steps: ['reserve'], at },
  };
  // The failed step did not complete: it is not compensated (no refund), the reservation is released.
  runSpec(retried)
    .when(outcome('charge', 2, 'TASK_STATE_REJECTED', ''))
    .thenEvents([failedForGood, compensating, scheduled('reserve', 1, 'release R7', 'stock', true)]);
  const releasing = [
    ...retried,
    failedForGood,
    compensating,
    scheduled('reserve', 1, 'release R7', 'stock', true),
  ];
  runSpec(releasing)
    .when(outcome('reserve', 1, 'TASK_STATE_COMPLETED', 'released', true))
    .thenEvents([
      completed('reserve', 1, 'released', true),
      {
        type: 'WorkflowRunFailed',
        data: {
          failedStep: 'charge',
          reason: 'rejected',
          compensated: ['reserve'],
          compensationFailed: [],
          at,
        },
      },
    ]);
  // A compensation that fails is retried (3 attempts by default), then recorded as failed: never skipped.
  runSpec(releasing)
    .when(outcome('reserve', 1, 'TASK_STATE_FAILED', 'stock offline', true))
    .thenEvents([
      stepFailed('reserve', 1, 'TASK_STATE_FAILED', 'stock offline', true, true),
      scheduled('reserve', 2, 'release R7', 'stock', true),
    ]);
});

test('several completed steps are compensated in reverse order', () => {
  const three = new WorkflowBuilder('three')
    .task('a', { agent: 'x', input: 'a', compensate: { agent: 'x', input: 'undo a' } })
    .task('b', { agent: 'x', input: 'b' })
    .task('c', { agent: 'x', input: 'c', compensate: { agent: 'x', input: 'undo c' } })
    .task('d', { agent: 'x', input: 'd' })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: three } };
  const given = [
    start,
    scheduled('a', 1, 'a', 'x'),
    completed('a', 1, 'A'),
    scheduled('b', 1, 'b', 'x'),
    completed('b', 1, 'B'),
    scheduled('c', 1, 'c', 'x'),
    completed('c', 1, 'C'),
    scheduled('d', 1, 'd', 'x'),
  ];
  const events = workflowRunDecider.decide(
    outcome('d', 1, 'TASK_STATE_FAILED', 'boom'),
    given.reduce(workflowRunDecider.evolve, workflowRunDecider.initialState()),
  );
  assert.equal(
    events.map((e) => e.type),
    ['WorkflowStepFailed', 'WorkflowCompensationStarted', 'WorkflowStepScheduled'],
  );
  assert.equal((events[1]!.data as { steps: string[] }).steps, ['c', 'a']);
  assert.equal(events[2], scheduled('c', 1, 'undo c', 'x', true));
});

test('input-required pauses the run once; late and repeated reports change nothing', () => {
  runSpec(charging)
    .when(outcome('charge', 1, 'TASK_STATE_INPUT_REQUIRED', 'which card?'))
    .thenEvents([
      {
        type: 'WorkflowStepWaiting',
        data: {
          stepId: 'charge',
          taskId: stepTaskId(runId, 'charge', 1, false),
          state: 'TASK_STATE_INPUT_REQUIRED',
          at,
        },
      },
    ]);
  const waiting: WorkflowRunEvent = {
    type: 'WorkflowStepWaiting',
    data: {
      stepId: 'charge',
      taskId: stepTaskId(runId, 'charge', 1, false),
      state: 'TASK_STATE_INPUT_REQUIRED',
      at,
    },
  };
  runSpec([...charging, waiting])
    .when(outcome('charge', 1, 'TASK_STATE_INPUT_REQUIRED', ''))
    .thenEvents([]);
  // The step's earlier report again, and another attempt's task: not the outstanding step.
  runSpec(charging)
    .when(outcome('reserve', 1, 'TASK_STATE_COMPLETED', 'R7'))
    .thenEvents([]);
  runSpec(retried)
    .when(outcome('charge', 1, 'TASK_STATE_FAILED', 'again'))
    .thenEvents([]);
  runSpec([])
    .when(outcome('charge', 1, 'TASK_STATE_COMPLETED', ''))
    .thenFails('not_found');
});

test('parallel branches fan out, join when all have ended, and the join sees every branch', () => {
  const fan = new WorkflowBuilder('fan')
    .task('plan', { agent: 'x', input: '{{input}}', next: 'split' })
    .parallel('split', ['left', 'right'], 'merge')
    .task('left', { agent: 'x', input: 'L {{steps.plan.output}}', next: 'left-check' })
    .decide('left-check', [{ when: { step: 'left', contains: 'more' }, next: 'left-more' }])
    .task('left-more', { agent: 'x', input: 'more', end: true })
    .task('right', { agent: 'x', input: 'R', end: true })
    .task('merge', { agent: 'x', input: '{{steps.left.output}} + {{steps.right.output}}', next: 'final' })
    .decide('final', [{ when: { step: 'right', equals: 'r' }, next: 'done' }])
    .task('done', { agent: 'x', input: 'done' })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: fan } };
  const log = runLog(start, scheduled('plan', 1, 'book', 'x'));
  const step = (id: string, output: string) =>
    log
      .decide(outcome(id, 1, 'TASK_STATE_COMPLETED', output))
      .map((e) =>
        e.type === 'WorkflowStepScheduled' ? `schedule ${e.data.stepId}: ${e.data.input}` : e.type,
      );
  assert.equal(step('plan', 'P'), [
    'WorkflowStepCompleted',
    'WorkflowBranchesStarted',
    'schedule left: L P',
    'schedule right: R',
  ]);
  // The right branch ends first; the join waits for the left one, which takes a decision on the way.
  assert.equal(step('right', 'r'), ['WorkflowStepCompleted', 'WorkflowBranchEnded']);
  assert.equal(step('left', 'no'), [
    'WorkflowStepCompleted',
    'WorkflowBranchTaken',
    'WorkflowBranchEnded',
    'WorkflowBranchesJoined',
    'schedule merge: no + r',
  ]);
  assert.equal(step('merge', 'm'), ['WorkflowStepCompleted', 'WorkflowBranchTaken', 'schedule done: done']);
  assert.equal(step('done', 'D'), ['WorkflowStepCompleted', 'WorkflowRunCompleted']);
});

test('a branch failing for good waits for its siblings, then everything completed is compensated', () => {
  const undo = (id: string) => ({ agent: 'x', input: `undo ${id}` });
  const fan = new WorkflowBuilder('fan')
    .task('a', { agent: 'x', input: 'a', compensate: undo('a'), next: 'split' })
    .parallel('split', ['b', 'c'])
    .task('b', { agent: 'x', input: 'b', compensate: undo('b'), end: true })
    .task('c', { agent: 'x', input: 'c', compensate: undo('c'), end: true })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: fan } };
  const { decide: apply, state } = runLog(start, scheduled('a', 1, 'a', 'x'));
  apply(outcome('a', 1, 'TASK_STATE_COMPLETED', 'A'));
  assert.equal(
    apply(outcome('c', 1, 'TASK_STATE_FAILED', 'boom')).map((e) => e.type),
    ['WorkflowStepFailed'],
    'b is still running: nothing is undone under it',
  );
  const settled = apply(outcome('b', 1, 'TASK_STATE_COMPLETED', 'B'));
  assert.equal(
    settled.map((e) => e.type),
    ['WorkflowStepCompleted', 'WorkflowCompensationStarted', 'WorkflowStepScheduled'],
  );
  assert.equal((settled[1]!.data as { steps: string[] }).steps, ['b', 'a']);
  assert.is(state().failure?.step, 'c');
});

test('a repeating step runs again on its own output until its condition holds, at most maxIterations', () => {
  const loop = new WorkflowBuilder('loop')
    .task('draft', {
      agent: 'writer',
      input: 'improve: {{steps.draft.output}}',
      repeat: { until: { contains: 'APPROVED' }, maxIterations: 3 },
    })
    .task('publish', { agent: 'x', input: 'publish {{steps.draft.output}}' })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: loop } };
  let log = runLog(start, scheduled('draft', 1, 'improve: ', 'writer'));
  const apply = (taskId: string, output: string) =>
    log
      .decide({ type: 'RecordStepOutcome', taskId, state: 'TASK_STATE_COMPLETED', output, at })
      .filter((e) => e.type === 'WorkflowStepScheduled')
      .map((e) => e.data as { iteration: number; input: string; taskId: string });
  const second = apply(stepTaskId(runId, 'draft', 1, false), 'v1');
  assert.equal(
    second.map((s) => [s.iteration, s.input]),
    [[2, 'improve: v1']],
  );
  assert.is(second[0]!.taskId, stepTaskId(runId, 'draft', 1, false, 2));
  const third = apply(second[0]!.taskId, 'v2');
  assert.equal(
    third.map((s) => [s.iteration, s.input]),
    [[3, 'improve: v2']],
  );
  // The bound: the third iteration goes on whatever it says.
  assert.equal(
    apply(third[0]!.taskId, 'v3').map((s) => s.input),
    ['publish v3'],
  );
  // And an approval ends the loop early.
  log = runLog(start, scheduled('draft', 1, 'improve: ', 'writer'));
  assert.equal(
    apply(stepTaskId(runId, 'draft', 1, false), 'v1 APPROVED').map((s) => s.input),
    ['publish v1 APPROVED'],
  );
});

test('parallel graphs are checked: closed branches, no node in two, join conditions on branch steps', () => {
  const base = () =>
    new WorkflowBuilder('w')
      .parallel('split', ['a', 'b'], 'after')
      .task('a', { agent: 'x', input: '', end: true });
  assert.throws(
    () =>
      base()
        .task('b', { agent: 'x', input: '', next: 'after' })
        .task('after', { agent: 'x', input: '' })
        .build(),
    /node "b" leads out of its branch to "after"/,
  );
  assert.throws(
    () =>
      new WorkflowBuilder('w')
        .parallel('split', ['a', 'b'])
        .task('a', { agent: 'x', input: '', next: 'shared' })
        .task('b', { agent: 'x', input: '', next: 'shared' })
        .task('shared', { agent: 'x', input: '' })
        .build(),
    /node "shared" is in two branches/,
  );
  // After the join, both branches' steps have run: a decision may test them.
  assert.is(
    base()
      .task('b', { agent: 'x', input: '', end: true })
      .decide('after', [{ when: { step: 'b', equals: 'x' }, next: 'z' }])
      .task('z', { agent: 'x', input: '' })
      .build().start,
    'split',
  );
});

test('retries wait a doubling backoff; a step past its timeout fails its attempt and is retried or undone', () => {
  const slow = new WorkflowBuilder('slow')
    .task('fetch', {
      agent: 'x',
      input: 'get',
      retry: { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 1500 },
      timeoutMs: 5000,
    })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: slow } };
  const first = workflowRunDecider.decide(
    {
      type: 'StartRun',
      runId,
      workflow: 'slow',
      version: 1,
      definition: slow,
      input: 'i',
      contextId: 'ctx',
      at,
    },
    workflowRunDecider.initialState(),
  );
  const plus = (ms: number, from = at) => new Date(Date.parse(from) + ms).toISOString();
  const firstStep = first[1]!.data as { notBefore?: string; timeoutAt?: string; taskId: string };
  assert.is(firstStep.notBefore, undefined, 'the first attempt goes at once');
  assert.is(firstStep.timeoutAt, plus(5000));
  const { decide } = runLog(start, first[1]!);
  // Timed out: the attempt fails (the saga cancels its task), the next one waits 1 s, then 1.5 s (capped).
  const timedOut = decide({ type: 'TimeOutStep', taskId: firstStep.taskId, at: plus(5000) });
  assert.equal(timedOut[0]!.data, {
    stepId: 'fetch',
    attempt: 1,
    iteration: 1,
    compensation: false,
    taskId: firstStep.taskId,
    state: 'TASK_STATE_CANCELED',
    error: 'timed out after 5000 ms',
    willRetry: true,
    timedOut: true,
    at: plus(5000),
  });
  const second = timedOut[1]!.data as {
    attempt: number;
    notBefore: string;
    timeoutAt: string;
    taskId: string;
  };
  assert.equal([second.attempt, second.notBefore, second.timeoutAt], [2, plus(6000), plus(11000)]);
  // The first task's late answer changes nothing; a timer of an attempt that ended in time does nothing.
  assert.equal(decide(outcome('fetch', 1, 'TASK_STATE_COMPLETED', 'late')), []);
  const third = decide({
    type: 'RecordStepOutcome',
    taskId: second.taskId,
    state: 'TASK_STATE_FAILED',
    output: 'no',
    at: plus(7000),
  });
  assert.is((third[1]!.data as { notBefore: string }).notBefore, plus(8500));
  assert.equal(decide({ type: 'TimeOutStep', taskId: second.taskId, at: plus(11000) }), []);
});

test('a canceled run gives up its steps in flight and compensates what completed; late answers change nothing', () => {
  const log = runLog(...charging);
  const canceled = log.decide({ type: 'CancelRun', reason: 'user changed their mind', at });
  assert.equal(canceled, [
    {
      type: 'WorkflowRunCancelRequested',
      data: { reason: 'user changed their mind', tasks: [stepTaskId(runId, 'charge', 1, false)], at },
    },
    {
      type: 'WorkflowCompensationStarted',
      data: { failedStep: 'charge', reason: 'canceled: user changed their mind', steps: ['reserve'], at },
    },
    scheduled('reserve', 1, 'release R7', 'stock', true),
  ]);
  assert.equal(
    log.decide(outcome('charge', 1, 'TASK_STATE_CANCELED', '')),
    [],
    'the given-up step is not waited for',
  );
  assert.equal(log.decide({ type: 'CancelRun', reason: 'again', at }), [], 'a second cancel adds nothing');
  const end = log.decide(outcome('reserve', 1, 'TASK_STATE_COMPLETED', 'released', true));
  assert.is(end.at(-1)!.type, 'WorkflowRunFailed');
  assert.equal(log.decide({ type: 'CancelRun', reason: 'late', at }), [], 'an ended run is not canceled');
});

test('a map runs one task per item of an earlier output at once and joins their outputs in item order', () => {
  const fan = new WorkflowBuilder('fan')
    .task('plan', { agent: 'x', input: '{{input}}' })
    .map('each', { over: 'plan', agent: 'w', input: 'do {{item}}' })
    .task('sum', { agent: 'x', input: 'sum {{steps.each.output}}' })
    .build();
  const start: WorkflowRunEvent = { ...started, data: { ...started.data, definition: fan } };
  const log = runLog(start, scheduled('plan', 1, 'book', 'x'));
  const fanned = log.decide(outcome('plan', 1, 'TASK_STATE_COMPLETED', 'a\n\n b \nc'));
  assert.equal(fanned[1], {
    type: 'WorkflowMapStarted',
    data: { nodeId: 'each', items: ['a', 'b', 'c'], at },
  });
  const items = fanned.slice(2).map((e) => e.data as { iteration: number; input: string; taskId: string });
  assert.equal(
    items.map((i) => [i.iteration, i.input]),
    [
      [1, 'do a'],
      [2, 'do b'],
      [3, 'do c'],
    ],
  );
  const done = (i: number, output: string) =>
    log.decide({
      type: 'RecordStepOutcome',
      taskId: items[i]!.taskId,
      state: 'TASK_STATE_COMPLETED',
      output,
      at,
    });
  assert.equal(
    done(2, 'C').map((e) => e.type),
    ['WorkflowStepCompleted'],
  );
  assert.equal(
    done(0, 'A').map((e) => e.type),
    ['WorkflowStepCompleted'],
  );
  const joined = done(1, 'B');
  assert.equal(joined[1], { type: 'WorkflowMapJoined', data: { nodeId: 'each', output: 'A\nB\nC', at } });
  assert.is((joined[2]!.data as { input: string }).input, 'sum A\nB\nC');
  // A JSON array is a list too; an empty one joins at once.
  const again = runLog(start, scheduled('plan', 1, 'book', 'x'));
  assert.equal(
    (
      again.decide(outcome('plan', 1, 'TASK_STATE_COMPLETED', '["x", {"y": 1}]'))[1]!.data as {
        items: string[];
      }
    ).items,
    ['x', '{"y":1}'],
  );
  const empty = runLog(start, scheduled('plan', 1, 'book', 'x'));
  assert.equal(
    empty.decide(outcome('plan', 1, 'TASK_STATE_COMPLETED', '[]')).map((e) => e.type),
    ['WorkflowStepCompleted', 'WorkflowMapStarted', 'WorkflowMapJoined', 'WorkflowStepScheduled'],
  );
  assert.throws(
    () =>
      new WorkflowBuilder('w')
        .map('m', { over: 'later', agent: 'w', input: '' })
        .task('later', { agent: 'x', input: '' })
        .build(),
    /map "m" is over "later", which has not always run before it/,
  );
});

const startCommand = (definition: WorkflowDefinition): WorkflowRunCommand => ({
  type: 'StartRun',
  runId,
  workflow: definition.name,
  version: 1,
  definition,
  input: 'book',
  contextId: 'ctx',
  at,
});
const taskIdOf = (e: WorkflowRunEvent | undefined) => (e!.data as { taskId: string }).taskId;
const completeTask = (
  taskId: string,
  output: string,
  state: 'TASK_STATE_COMPLETED' | 'TASK_STATE_FAILED' = 'TASK_STATE_COMPLETED',
): WorkflowRunCommand => ({
  type: 'RecordStepOutcome',
  taskId,
  state,
  output,
  at,
});

test('a step bound to a capability is routed: agent auto, the capability on the scheduled step', () => {
  const wf = new WorkflowBuilder('cap')
    .task('quote', { capability: { tags: ['pricing'], query: 'quotes prices' }, input: 'price {{input}}' })
    .build();
  const [, step] = workflowRunDecider.decide(startCommand(wf), workflowRunDecider.initialState());
  assert.equal(step!.data, {
    ...attemptOf('quote', 1, false),
    agent: 'auto',
    capability: { tags: ['pricing'], query: 'quotes prices' },
    input: 'price book',
    at,
  });
  const bad = (nodes: unknown) =>
    WorkflowDefinition.safeParse({ name: 'b', start: 'a', nodes }).error?.issues.map((i) => i.message) ?? [];
  assert.equal(bad({ a: { kind: 'task', input: 'x' } }), [
    'node "a" names an agent or a capability (one of the two)',
  ]);
  assert.equal(bad({ a: { kind: 'task', agent: 'x', capability: { skill: 's' }, input: 'x' } }), [
    'node "a" names an agent or a capability (one of the two)',
  ]);
  assert.equal(bad({ a: { kind: 'task', agent: 'x', input: 'x', compensate: { input: 'undo' } } }), [
    'the compensation of "a" names an agent or a capability (one of the two)',
  ]);
  assert.equal(bad({ a: { kind: 'task', capability: {}, input: 'x' } }), [
    'a capability names a skill, tags or a query',
  ]);
});

test('handoff directives: the first line names a capability, the rest is the note', () => {
  assert.equal(handoffOf('handoff:billing the customer wants a refund'), {
    capability: 'billing',
    note: 'the customer wants a refund',
  });
  assert.equal(handoffOf('  HANDOFF: tech-support\nlogs attached\nline 2'), {
    capability: 'tech-support',
    note: 'logs attached\nline 2',
  });
  assert.is(handoffOf('Here is your answer. handoff:billing'), null, 'only a first line hands off');
  assert.is(handoffOf('handoff: '), null);
});

/** triage hands on by capability; a swarm node with a hop bound of 3, then a closing step. */
const network = new WorkflowBuilder('network')
  .task('log', { agent: 'clerk', input: 'open {{input}}', compensate: { agent: 'clerk', input: 'close' } })
  .swarm('solve', { agent: 'triage', input: 'solve {{input}}', maxHops: 3, retry: { maxAttempts: 2 } })
  .task('reply', { agent: 'mailer', input: 'send {{steps.solve.output}}' })
  .build();

test('a swarm hands the work on by capability until an agent answers; the answer is the node output', () => {
  const log = runLog();
  const [, first] = log.decide(startCommand(network));
  const [, hop1] = log.decide(completeTask(taskIdOf(first), 'L1'));
  assert.equal(hop1!.data, { ...attemptOf('solve', 1, false), agent: 'triage', input: 'solve book', at });
  const handed = log.decide(completeTask(taskIdOf(hop1), 'handoff:billing wants a refund for order 7'));
  assert.equal(handed[0], {
    type: 'WorkflowHandoff',
    data: {
      ...attemptOf('solve', 1, false),
      output: 'handoff:billing wants a refund for order 7',
      capability: 'billing',
      note: 'wants a refund for order 7',
      at,
    },
  });
  const hop2 = handed[1]!.data as {
    iteration: number;
    agent: string;
    capability: unknown;
    input: string;
    taskId: string;
  };
  assert.equal([hop2.iteration, hop2.agent], [2, 'auto']);
  assert.equal(hop2.capability, { skill: 'billing', tags: ['billing'], query: 'billing' });
  assert.is(hop2.taskId, stepTaskId(runId, 'solve', 1, false, 2));
  assert.match(hop2.input, /^solve book\n\nHanded over to you \(hop 2 of at most 3\)/);
  assert.match(hop2.input, /1\. to billing: wants a refund for order 7/);
  // The hop's task fails once: retried with the same address and input.
  const retried = log.decide(completeTask(hop2.taskId, 'boom', 'TASK_STATE_FAILED'));
  const again = retried[1]!.data as typeof hop2 & { attempt: number };
  assert.equal(
    [again.attempt, again.iteration, again.capability, again.input],
    [2, 2, hop2.capability, hop2.input],
  );
  const answered = log.decide(completeTask(again.taskId, 'refunded 7'));
  assert.equal(
    answered.map((e) => e.type),
    ['WorkflowStepCompleted', 'WorkflowStepScheduled'],
  );
  assert.is((answered[1]!.data as { input: string }).input, 'send refunded 7');
  assert.equal(log.state().swarms.solve!.handoffs, [
    { capability: 'billing', note: 'wants a refund for order 7' },
  ]);
});

test('a swarm that hands on past its hop bound fails the step, and what completed is compensated', () => {
  const log = runLog();
  const [, first] = log.decide(startCommand(network));
  let [, hop] = log.decide(completeTask(taskIdOf(first), 'L1'));
  for (const cap of ['billing', 'tech']) [, hop] = log.decide(completeTask(taskIdOf(hop), `handoff:${cap}`));
  const input = (hop!.data as { input: string }).input;
  assert.match(
    input,
    /hop 3 of at most 3\)\. Notes so far:\n1\. to billing: \(no note\)\n2\. to tech: \(no note\)$/,
  );
  const failed = log.decide(completeTask(taskIdOf(hop), 'handoff:billing'));
  assert.equal(failed[0], {
    type: 'WorkflowStepFailed',
    data: {
      ...attemptOf('solve', 1, false),
      iteration: 3,
      taskId: stepTaskId(runId, 'solve', 1, false, 3),
      state: 'TASK_STATE_FAILED',
      error: 'no agent answered within 3 hops (the last one handed off to billing)',
      willRetry: false,
      timedOut: false,
      at,
    },
  });
  assert.equal(
    failed.slice(1).map((e) => [e.type, (e.data as { stepId?: string }).stepId]),
    [
      ['WorkflowCompensationStarted', undefined],
      ['WorkflowStepScheduled', 'log'],
    ],
  );
});

test('a run past its deadline gives up its steps in flight, compensates, and fails as timed out', () => {
  const timed = new WorkflowBuilder('timed')
    .task('log', { agent: 'clerk', input: 'open', compensate: { agent: 'clerk', input: 'close' } })
    .task('wait', { agent: 'human', input: 'approve?' })
    .timeout(60_000)
    .build();
  const log = runLog();
  const [start, first] = log.decide(startCommand(timed));
  const deadline = '2026-12-01T10:01:00.000Z';
  assert.is((start!.data as { deadline?: string }).deadline, deadline);
  const [, wait] = log.decide(completeTask(taskIdOf(first), 'L1'));
  assert.equal(
    log
      .decide({
        type: 'RecordStepOutcome',
        taskId: taskIdOf(wait),
        state: 'TASK_STATE_INPUT_REQUIRED',
        output: '?',
        at,
      })
      .map((e) => e.type),
    ['WorkflowStepWaiting'],
  );
  const early = () => log.decide({ type: 'TimeOutRun', at: '2026-12-01T10:00:59.999Z' });
  assert.throws(early, /deadline \(2026-12-01T10:01:00\.000Z\) has not passed/);
  const out = log.decide({ type: 'TimeOutRun', at: deadline });
  assert.equal(out[0], {
    type: 'WorkflowRunTimedOut',
    data: { deadline, tasks: [taskIdOf(wait)], at: deadline },
  });
  assert.equal(out[1], {
    type: 'WorkflowCompensationStarted',
    data: {
      failedStep: 'wait',
      reason: `timed out: the run's deadline ${deadline} passed`,
      steps: ['log'],
      at: deadline,
    },
  });
  assert.is((out[2]!.data as { input: string; compensation: boolean }).compensation, true);
  assert.equal(log.decide({ type: 'TimeOutRun', at: deadline }), [], 'a second timer adds nothing');
  assert.equal(log.decide(completeTask(taskIdOf(wait), 'approved late')), [], 'the given-up step is ignored');
  const end = log.decide(completeTask(taskIdOf(out[2]), 'closed'));
  assert.equal(end.at(-1)!.type, 'WorkflowRunFailed');
  assert.equal(log.decide({ type: 'TimeOutRun', at: deadline }), [], 'an ended run is not timed out');
  // A run without a limit refuses the command.
  runSpec([started])
    .when({ type: 'TimeOutRun', at })
    .thenFails('rule_violated', /no time limit/);
});

test.run();
