/**
 * Routing and remote calls, pure parts: the multi-objective score and its hard limits, the rejection
 * message, the request's limits, the mapping of a remote agent's StreamResponses to task commands, and the
 * task aggregate's routing / remote-call commands (given events, when command, then events).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mapStreamResponse } from '../../agents/remote-client.ts';
import { loadConfig } from '../../app/config.ts';
import { needsRouting, taskDecider } from '../../commands/task.ts';
import type { Message } from '../../events/a2a.ts';
import type { RoutingCandidate, TaskEvent } from '../../events/task.ts';
import {
  blendObserved,
  DEFAULT_ROUTING_WEIGHTS,
  explainNoRoute,
  limitsFromMetadata,
  type ScoreInput,
  scoreCandidates,
} from '../../sagas/routing.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const candidate = (o: Partial<ScoreInput> & { agentKey: string }): ScoreInput => ({
  skillId: 'translate',
  similarity: 0.6,
  matchedBy: ['semantic'],
  latencyMs: null,
  cost: 0,
  quality: 0.5,
  status: 'active',
  circuit: 'closed',
  ...o,
});
const W = DEFAULT_ROUTING_WEIGHTS;

// ---- needsRouting ------------------------------------------------------------------------------------------

test('routing takes tasks naming no agent in route mode, and tasks naming "auto" always', () => {
  assert.is(needsRouting(null, true), true);
  assert.is(needsRouting(null, false), false);
  assert.is(needsRouting('auto', false), true);
  assert.is(needsRouting('echo', true), false);
});

test('configuration: default agent, weights (partial JSON over the defaults), and readable errors', () => {
  const base = { AGENTCORE_DATA_DIR: '/tmp/x' };
  const d = loadConfig(base).routing;
  assert.is(d.defaultAgent, 'scenario');
  assert.is(d.routeByDefault, false);
  assert.equal(d.weights, DEFAULT_ROUTING_WEIGHTS);
  assert.equal(
    [d.remoteCallTimeoutMs, d.remoteAgentConcurrency, d.circuitFailureThreshold, d.circuitCooldownMs],
    [60_000, 8, 3, 30_000],
  );
  const r = loadConfig({
    ...base,
    AGENTCORE_DEFAULT_AGENT: 'route',
    AGENTCORE_ROUTING_WEIGHTS: '{"cost": 0.5}',
  }).routing;
  assert.is(r.routeByDefault, true);
  assert.equal(r.weights, { ...DEFAULT_ROUTING_WEIGHTS, cost: 0.5 });
  assert.throws(() => loadConfig({ ...base, AGENTCORE_ROUTING_WEIGHTS: '{cost' }), /not JSON/);
  assert.throws(
    () => loadConfig({ ...base, AGENTCORE_ROUTING_WEIGHTS: '{"speed": 1}' }),
    /AGENTCORE_ROUTING_WEIGHTS/,
  );
  assert.throws(
    () =>
      loadConfig({ ...base, AGENTCORE_ROUTING_WEIGHTS: '{"similarity":0,"latency":0,"cost":0,"quality":0}' }),
    /must not all be 0/,
  );
  assert.throws(
    () => loadConfig({ ...base, AGENTCORE_DEFAULT_AGENT: 'Not An Id' }),
    /AGENTCORE_DEFAULT_AGENT/,
  );
});

// ---- scoreCandidates ---------------------------------------------------------------------------------------

test('similarity dominates with the default weights; the best comes first', () => {
  const ranked = scoreCandidates(
    [candidate({ agentKey: 'a:low', similarity: 0.4 }), candidate({ agentKey: 'a:high', similarity: 0.62 })],
    W,
  );
  assert.equal(
    ranked.map((c) => c.agentKey),
    ['a:high', 'a:low'],
  );
  // With everything else neutral: score = 0.6 * sim + 0.15 * 0.5 (latency unknown) + 0.1 * 1 (free) + 0.15 * 0.5.
  assert.is(ranked[0]!.score, Math.round((0.6 * 0.62 + 0.075 + 0.1 + 0.075) * 1e6) / 1e6);
});

test('latency, cost and quality are scored against the candidates’ medians, higher is better', () => {
  const ranked = scoreCandidates(
    [
      candidate({ agentKey: 'a:slow', latencyMs: 4000 }),
      candidate({ agentKey: 'a:fast', latencyMs: 100 }),
      candidate({ agentKey: 'a:dear', cost: 10 }),
      candidate({ agentKey: 'a:cheap', cost: 1 }),
      candidate({ agentKey: 'a:good', quality: 0.9 }),
    ],
    { similarity: 0, latency: 1, cost: 0, quality: 0 },
  );
  const byKey = Object.fromEntries(ranked.map((c) => [c.agentKey, c.score]));
  // Median latency 2050 ms: 2050/2150 and 2050/6050; unknown latency is 0.5.
  assert.ok(Math.abs(byKey['a:fast']! - 2050 / 2150) < 1e-6);
  assert.ok(Math.abs(byKey['a:slow']! - 2050 / 6050) < 1e-6);
  assert.is(byKey['a:dear'], 0.5);
  assert.equal(ranked[0]!.agentKey, 'a:fast');
  const byCost = scoreCandidates(
    [
      candidate({ agentKey: 'a:dear', cost: 10 }),
      candidate({ agentKey: 'a:cheap', cost: 1 }),
      candidate({ agentKey: 'a:free' }),
    ],
    { similarity: 0, latency: 0, cost: 1, quality: 0 },
  );
  assert.equal(
    byCost.map((c) => c.agentKey),
    ['a:free', 'a:cheap', 'a:dear'],
  );
  const byQuality = scoreCandidates(
    [candidate({ agentKey: 'a:meh', quality: 0.3 }), candidate({ agentKey: 'a:good', quality: 0.9 })],
    { similarity: 0, latency: 0, cost: 0, quality: 1 },
  );
  assert.is(byQuality[0]!.agentKey, 'a:good');
  assert.is(byQuality[0]!.score, 0.9);
});

test('observed figures: the declared values are the prior, blended by sample count', () => {
  const seen = (samples: number, successRate: number | null, p95Ms: number | null, cost: number | null) => ({
    samples,
    successRate,
    p95Ms,
    cost,
  });
  // Nothing observed (null) or not asked (absent): the declared values as they are.
  assert.equal(blendObserved(candidate({ agentKey: 'a:x', latencyMs: 300, cost: 2, observed: null })), {
    latencyMs: 300,
    cost: 2,
    quality: 0.5,
  });
  // 8 successes of 8 with the neutral prior: (8 + 1) / (8 + 2); p95 and cost weigh 8 against the prior's 2.
  const b = blendObserved(
    candidate({ agentKey: 'a:x', latencyMs: 300, cost: 2, observed: seen(8, 1, 20, 1) }),
  );
  assert.equal(b, { latencyMs: (2 * 300 + 8 * 20) / 10, cost: (2 * 2 + 8 * 1) / 10, quality: 0.9 });
  // Nothing declared: the observed latency alone; no judged task yet: the prior quality.
  assert.equal(blendObserved(candidate({ agentKey: 'a:x', observed: seen(0, null, 40, 0) })), {
    latencyMs: 40,
    cost: 0,
    quality: 0.5,
  });
});

test('the observed fast agent beats the observed slow one; the figures are recorded', () => {
  const [first, second] = scoreCandidates(
    [
      candidate({ agentKey: 'a:slow', observed: { samples: 10, successRate: 1, p95Ms: 400, cost: 0 } }),
      candidate({ agentKey: 'a:fast', observed: { samples: 10, successRate: 1, p95Ms: 20, cost: 0 } }),
      candidate({ agentKey: 'a:new', similarity: 0.6 }),
    ],
    W,
  );
  assert.is(first!.agentKey, 'a:fast');
  assert.equal(first!.observed, { samples: 10, successRate: 1, p95Ms: 20, cost: 0 });
  assert.is(first!.latencyMs, 20);
  assert.is(first!.quality, round(11 / 12));
  assert.is(second!.agentKey, 'a:slow');
  // An agent never observed is scored on its declared values and records none.
  const unobserved = scoreCandidates([candidate({ agentKey: 'a:new' })], W)[0]!;
  assert.not.ok('observed' in unobserved);
  // A flaky fast agent loses to a reliable slower one when quality weighs enough.
  const [best] = scoreCandidates(
    [
      candidate({ agentKey: 'a:flaky', observed: { samples: 20, successRate: 0.2, p95Ms: 20, cost: 0 } }),
      candidate({ agentKey: 'a:steady', observed: { samples: 20, successRate: 1, p95Ms: 60, cost: 0 } }),
    ],
    { similarity: 0, latency: 0.3, cost: 0, quality: 0.7 },
  );
  assert.is(best!.agentKey, 'a:steady');
});

const round = (x: number) => Math.round(x * 1e6) / 1e6;

test('weights are normalised by their sum; all-zero weights are refused', () => {
  const a = scoreCandidates([candidate({ agentKey: 'a:x', similarity: 0.8, quality: 0.4 })], {
    similarity: 2,
    latency: 0,
    cost: 0,
    quality: 2,
  });
  assert.is(a[0]!.score, 0.6);
  assert.throws(
    () => scoreCandidates([], { similarity: 0, latency: 0, cost: 0, quality: 0 }),
    /must not all be 0/,
  );
});

test('hard limits exclude, whatever the score; excluded candidates sink, with the reason', () => {
  const ranked = scoreCandidates(
    [
      candidate({ agentKey: 'a:slow', similarity: 0.9, latencyMs: 5000 }),
      candidate({ agentKey: 'a:dear', similarity: 0.9, cost: 3 }),
      candidate({ agentKey: 'a:ok', similarity: 0.5, latencyMs: 200, cost: 0.5 }),
      candidate({ agentKey: 'a:unknown-latency', similarity: 0.45 }),
    ],
    W,
    { maxLatencyMs: 1000, maxCost: 1 },
  );
  assert.equal(
    ranked.map((c) => [c.agentKey, c.excludedBy]),
    [
      ['a:ok', undefined],
      ['a:unknown-latency', undefined],
      // Excluded, still by score: the slow one is free.
      ['a:slow', 'max-latency'],
      ['a:dear', 'max-cost'],
    ],
  );
});

test('routability: disabled agents, open circuits and taken probes are excluded; a free half-open one is not', () => {
  const ranked = scoreCandidates(
    [
      candidate({ agentKey: 'a:off', status: 'disabled' }),
      candidate({ agentKey: 'a:open', circuit: 'open' }),
      candidate({ agentKey: 'a:busy', circuit: 'half-open', probeInFlight: true }),
      candidate({ agentKey: 'a:probe', circuit: 'half-open' }),
    ],
    W,
  );
  const reasons = Object.fromEntries(ranked.map((c) => [c.agentKey, c.excludedBy ?? null]));
  assert.equal(reasons, {
    'a:off': 'disabled',
    'a:open': 'circuit-open',
    'a:busy': 'probe-in-flight',
    'a:probe': null,
  });
  assert.is(ranked[0]!.agentKey, 'a:probe');
});

test('the minimum similarity applies to semantic-only matches; exact ones are exempt', () => {
  const ranked = scoreCandidates(
    [
      candidate({ agentKey: 'a:vague', similarity: 0.2 }),
      candidate({ agentKey: 'a:tagged', similarity: 0.2, matchedBy: ['tag', 'semantic'] }),
    ],
    W,
    { minSimilarity: 0.35 },
  );
  assert.equal(
    ranked.map((c) => [c.agentKey, c.excludedBy ?? null]),
    [
      ['a:tagged', null],
      ['a:vague', 'min-similarity'],
    ],
  );
});

test('ties are broken deterministically (similarity, then agent key and skill id)', () => {
  const input = [
    candidate({ agentKey: 'b:x' }),
    candidate({ agentKey: 'a:x', skillId: 'z' }),
    candidate({ agentKey: 'a:x', skillId: 'y' }),
  ];
  const once = scoreCandidates(input, W).map((c) => `${c.agentKey}/${c.skillId}`);
  assert.equal(once, ['a:x/y', 'a:x/z', 'b:x/x'.replace('/x', '/translate')]);
  assert.equal(
    scoreCandidates([...input].reverse(), W).map((c) => `${c.agentKey}/${c.skillId}`),
    once,
  );
});

// ---- explainNoRoute / limitsFromMetadata --------------------------------------------------------------------

const excluded = (agentKey: string, excludedBy: string, similarity = 0.5): RoutingCandidate => ({
  agentKey,
  skillId: 's',
  similarity,
  latencyMs: null,
  cost: 0,
  quality: 0.5,
  score: 0.4,
  excludedBy,
});

test('no candidate at all: "none matched"', () => {
  const r = explainNoRoute({ text: 'order a pizza' }, [], {});
  assert.is(r.reason, 'no-match');
  assert.match(r.explanation, /No agent matched "order a pizza": discovery found none/);
});

test('all below the minimum similarity: "none matched", with the best similarity', () => {
  const r = explainNoRoute({ text: 'xyzzy' }, [excluded('a:x', 'min-similarity', 0.21)], {
    minSimilarity: 0.35,
  });
  assert.is(r.reason, 'no-match');
  assert.match(r.explanation, /closest skill has similarity 0\.21, below the minimum 0\.35/);
});

test('all excluded: every reason, with the agents and the limits', () => {
  const r = explainNoRoute(
    { text: 'translate', skillId: 'translate', tags: ['language'] },
    [excluded('a:x', 'circuit-open'), excluded('a:y', 'circuit-open'), excluded('a:z', 'max-latency')],
    { maxLatencyMs: 500 },
  );
  assert.is(r.reason, 'excluded');
  assert.match(
    r.explanation,
    /3 candidate skill\(s\) matched "translate", skill translate, tags language, all excluded/,
  );
  assert.match(r.explanation, /2 with an open circuit \(a:x, a:y\)/);
  assert.match(r.explanation, /1 slower than metadata\.maxLatencyMs 500 ms \(a:z\)/);
});

test('limits come from the metadata, numbers or numeric strings; anything else is an error', () => {
  assert.equal(limitsFromMetadata({ maxLatencyMs: 800, maxCost: '0.5' }, 0.35), {
    limits: { minSimilarity: 0.35, maxLatencyMs: 800, maxCost: 0.5 },
  });
  assert.equal(limitsFromMetadata(undefined, 0.3), { limits: { minSimilarity: 0.3 } });
  const bad = limitsFromMetadata({ maxCost: -1 }, 0.35);
  assert.ok('invalid' in bad && /metadata\.maxCost must be a non-negative number/.test(bad.invalid));
  assert.ok('invalid' in limitsFromMetadata({ maxLatencyMs: 'soon' }, 0.35));
});

// ---- mapping a remote agent's answers ----------------------------------------------------------------------

const at = '2026-11-25T10:00:00.000Z';

test('a streamed task links the remote task; working is written, final states are deferred', () => {
  const first = mapStreamResponse(
    { task: { id: 'r1', contextId: 'rc', status: { state: 'TASK_STATE_SUBMITTED' }, history: [] } },
    at,
  );
  assert.equal(first, { link: { remoteTaskId: 'r1', remoteContextId: 'rc' }, commands: [] });
  const working = mapStreamResponse(
    { statusUpdate: { taskId: 'r1', contextId: 'rc', status: { state: 'TASK_STATE_WORKING' } } },
    at,
  );
  assert.equal(working.commands, [{ type: 'UpdateStatus', state: 'TASK_STATE_WORKING', at }]);
  assert.is(working.clearsFinal, true);
  const done = mapStreamResponse(
    {
      statusUpdate: {
        taskId: 'r1',
        contextId: 'rc',
        status: {
          state: 'TASK_STATE_COMPLETED',
          message: { messageId: 'm', role: 'ROLE_AGENT', parts: [{ text: 'hi', mediaType: 'text/plain' }] },
        },
      },
    },
    at,
  );
  assert.equal(done.commands, []);
  assert.equal(done.final, {
    state: 'TASK_STATE_COMPLETED',
    message: { messageId: 'm', role: 'ROLE_AGENT', parts: [{ text: 'hi', mediaType: 'text/plain' }] },
  });
  assert.is(
    mapStreamResponse(
      { statusUpdate: { taskId: 'r1', contextId: 'rc', status: { state: 'TASK_STATE_INPUT_REQUIRED' } } },
      at,
    ).final?.state,
    'TASK_STATE_INPUT_REQUIRED',
  );
});

test('artifact updates keep append and lastChunk; a direct message completes the task', () => {
  const a = mapStreamResponse(
    {
      artifactUpdate: {
        taskId: 'r1',
        contextId: 'rc',
        artifact: { artifactId: 'a1', name: 'echo', parts: [{ text: 'x' }] },
        append: true,
        lastChunk: true,
      },
    },
    at,
  );
  assert.equal(a.commands, [
    {
      type: 'UpdateArtifact',
      artifact: { artifactId: 'a1', name: 'echo', parts: [{ text: 'x' }] },
      append: true,
      lastChunk: true,
      at,
    },
  ]);
  const m = mapStreamResponse(
    { message: { messageId: 'm1', role: 'ROLE_AGENT', parts: [{ text: 'hello' }] } },
    at,
  );
  assert.equal(m.commands, [
    {
      type: 'AddAgentMessage',
      message: { messageId: 'm1', role: 'ROLE_AGENT', parts: [{ text: 'hello' }] },
      at,
    },
  ]);
  assert.equal(m.final, { state: 'TASK_STATE_COMPLETED' });
});

test('a final task (blocking answer) brings its artifacts and its state', () => {
  const r = mapStreamResponse(
    {
      task: {
        id: 'r1',
        contextId: 'rc',
        status: { state: 'TASK_STATE_FAILED' },
        artifacts: [{ artifactId: 'a1', parts: [{ data: { n: 1 } }] }],
      },
    },
    at,
  );
  assert.equal(r.commands, [
    {
      type: 'UpdateArtifact',
      artifact: { artifactId: 'a1', parts: [{ data: { n: 1 } }] },
      append: false,
      lastChunk: true,
      at,
    },
  ]);
  assert.is(r.final?.state, 'TASK_STATE_FAILED');
});

test('an invalid answer is an error naming what was wrong', () => {
  assert.throws(
    () =>
      mapStreamResponse(
        { artifactUpdate: { taskId: 'r', contextId: 'c', artifact: { artifactId: 'a', parts: [] } } },
        at,
      ),
    /invalid artifact/,
  );
});

// ---- the task aggregate: routing and remote calls ----------------------------------------------------------

const spec = deciderSpec(taskDecider);
const userMessage: Message = { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'translate this' }] };
const submitted: TaskEvent = {
  type: 'TaskSubmitted',
  data: {
    taskId: 't1',
    contextId: 'c1',
    message: { ...userMessage, taskId: 't1', contextId: 'c1' },
    agent: null,
    at,
  },
};
const candidates: RoutingCandidate[] = [
  {
    agentKey: 'acme:translator',
    skillId: 'translate',
    similarity: 0.62,
    latencyMs: null,
    cost: 0,
    quality: 0.5,
    score: 0.622,
  },
];
const limits = { minSimilarity: 0.35 };
const routed: TaskEvent = {
  type: 'TaskRouted',
  data: { agentKey: 'acme:translator', skillId: 'translate', candidates, weights: W, limits, at },
};
const route = {
  type: 'RouteTask' as const,
  agentKey: 'acme:translator',
  skillId: 'translate',
  candidates,
  weights: W,
  limits,
  at,
};
const canceled: TaskEvent = { type: 'TaskStatusUpdated', data: { state: 'TASK_STATE_CANCELED', at } };
const intended = (attempt: number): TaskEvent => ({
  type: 'RemoteCallIntended',
  data: { agentKey: 'acme:translator', callId: 'call1', idempotencyKey: 'ac:t1:call1', attempt, at },
});
const intend = (attempt: number) => ({
  type: 'IntendRemoteCall' as const,
  agentKey: 'acme:translator',
  callId: 'call1',
  idempotencyKey: 'ac:t1:call1',
  attempt,
  at,
});
const complete = {
  type: 'CompleteRemoteCall' as const,
  callId: 'call1',
  ok: true,
  outcome: 'completed' as const,
  latencyMs: 120,
  at,
};
const completed: TaskEvent = {
  type: 'RemoteCallCompleted',
  data: { callId: 'call1', agentKey: 'acme:translator', ok: true, outcome: 'completed', latencyMs: 120, at },
};

test('routing records the decision once; a terminal task is not routed', () => {
  spec([submitted]).when(route).thenEvents([routed]);
  spec([submitted, routed])
    .when(route)
    .thenFails('rule_violated', /already routed/);
  spec([submitted, canceled]).when(route).thenFails('rule_violated');
  spec([]).when(route).thenFails('not_found');
});

test('no route: TaskRoutingFailed and REJECTED with the explanation, in one decision', () => {
  const message: Message = {
    messageId: 'x:routing',
    role: 'ROLE_AGENT',
    parts: [{ text: 'No agent matched' }],
  };
  spec([submitted])
    .when({
      type: 'RejectRouting',
      reason: 'no-match',
      explanation: 'No agent matched',
      message,
      candidates: [],
      weights: W,
      limits,
      at,
    })
    .thenEvents([
      {
        type: 'TaskRoutingFailed',
        data: { reason: 'no-match', explanation: 'No agent matched', candidates: [], weights: W, limits, at },
      },
      {
        type: 'TaskStatusUpdated',
        data: { state: 'TASK_STATE_REJECTED', message: { ...message, taskId: 't1', contextId: 'c1' }, at },
      },
    ]);
});

test('remote calls: intended with the next attempt number only; a second attempt is visible', () => {
  spec([submitted, routed])
    .when(intend(1))
    .thenEvents([intended(1)]);
  spec([submitted, routed, intended(1)])
    .when(intend(2))
    .thenEvents([intended(2)]);
  spec([submitted, routed, intended(1)])
    .when(intend(1))
    .thenFails('rule_violated', /not the next one/);
  spec([submitted, routed, intended(1), completed])
    .when(intend(2))
    .thenFails('rule_violated', /already completed/);
  spec([submitted, routed, canceled]).when(intend(1)).thenFails('rule_violated');
});

test('a call completes once, even on a task canceled meanwhile; never without its intent', () => {
  spec([submitted, routed, intended(1)])
    .when(complete)
    .thenEvents([completed]);
  spec([submitted, routed, intended(1), canceled])
    .when(complete)
    .thenEvents([completed]);
  spec([submitted, routed, intended(1), completed])
    .when(complete)
    .thenEvents([]);
  spec([submitted, routed])
    .when(complete)
    .thenFails('rule_violated', /never intended/);
});

test('the remote task link is recorded when it changes, even on a terminal task', () => {
  const link = {
    type: 'LinkRemoteTask' as const,
    agentKey: 'acme:translator',
    callId: 'call1',
    remoteTaskId: 'r1',
    remoteContextId: 'rc',
    at,
  };
  const linked: TaskEvent = {
    type: 'RemoteTaskLinked',
    data: { agentKey: 'acme:translator', callId: 'call1', remoteTaskId: 'r1', remoteContextId: 'rc', at },
  };
  spec([submitted, routed, intended(1)])
    .when(link)
    .thenEvents([linked]);
  spec([submitted, routed, intended(1), linked])
    .when(link)
    .thenEvents([]);
  spec([submitted, routed, intended(1), canceled])
    .when(link)
    .thenEvents([linked]);
});

test('the aggregate remembers the route, the link and the calls', () => {
  const state = [
    submitted,
    routed,
    intended(1),
    intended(2),
    {
      type: 'RemoteTaskLinked',
      data: { agentKey: 'acme:translator', callId: 'call1', remoteTaskId: 'r1', remoteContextId: 'rc', at },
    } as TaskEvent,
    completed,
  ].reduce(taskDecider.evolve, taskDecider.initialState());
  assert.equal(state.routed, { agentKey: 'acme:translator', skillId: 'translate' });
  assert.equal(state.remote, { agentKey: 'acme:translator', remoteTaskId: 'r1', remoteContextId: 'rc' });
  assert.equal(state.calls?.call1, {
    agentKey: 'acme:translator',
    idempotencyKey: 'ac:t1:call1',
    attempts: 2,
    completed: { ok: true, outcome: 'completed' },
  });
  // Routing and call bookkeeping do not move the task's status.
  assert.is(state.task?.status.state, 'TASK_STATE_SUBMITTED');
});

test.run();
