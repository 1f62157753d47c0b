import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CircuitCommand, circuitAdmits, circuitDecider } from '../../commands/circuit.ts';
import type { CircuitEvent } from '../../events/circuit.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(circuitDecider);
const agentKey = 'acme:translator';
const t0 = '2026-11-25T10:00:00.000Z';
const t = (s: number) => new Date(Date.parse(t0) + s * 1000).toISOString();
const outcome = (
  ok: boolean,
  o: Partial<Extract<CircuitCommand, { type: 'RecordCallOutcome' }>> = {},
): CircuitCommand => ({
  type: 'RecordCallOutcome',
  agentKey,
  taskId: 't1',
  callId: 'c1',
  ok,
  outcome: ok ? 'completed' : 'failed',
  error: ok ? undefined : 'boom',
  threshold: 3,
  cooldownMs: 30_000,
  at: t0,
  ...o,
});
const failure = (failures: number, callId = `c${failures}`): CircuitEvent => ({
  type: 'CircuitFailureRecorded',
  data: { agentKey, callId, failures, error: 'boom', at: t0 },
});
const opened = (failures = 3, at = t0, until = t(30)): CircuitEvent => ({
  type: 'CircuitOpened',
  data: {
    agentKey,
    until,
    failures,
    reason: `${failures} consecutive failed calls, the last: boom`,
    callId: 'c3',
    at,
  },
});
const halfOpened: CircuitEvent = { type: 'CircuitHalfOpened', data: { agentKey, at: t(30) } };
const probe = (taskId = 'probe-task', at = t(31)): CircuitEvent => ({
  type: 'CircuitProbeClaimed',
  data: { agentKey, taskId, at },
});

test('a success on a healthy circuit records nothing', () => spec([]).when(outcome(true)).thenEvents([]));

test('failures below the threshold are counted; a success resets the count', () => {
  spec([])
    .when(outcome(false, { callId: 'c1' }))
    .thenEvents([failure(1, 'c1')]);
  spec([failure(1)])
    .when(outcome(false, { callId: 'c2' }))
    .thenEvents([failure(2, 'c2')]);
  spec([failure(1), failure(2)])
    .when(outcome(true, { callId: 'c3' }))
    .thenEvents([{ type: 'CircuitFailuresReset', data: { agentKey, callId: 'c3', at: t0 } }]);
});

test('the threshold-th consecutive failure opens the circuit until now + cooldown', () => {
  spec([failure(1), failure(2)])
    .when(outcome(false, { callId: 'c3' }))
    .thenEvents([opened()]);
  // Timeouts count like failures.
  spec([failure(1), failure(2)])
    .when(outcome(false, { callId: 'c3', outcome: 'timeout', error: 'boom' }))
    .thenEvents([opened()]);
  // A threshold of 1 opens on the first failure.
  spec([])
    .when(outcome(false, { callId: 'c3', threshold: 1 }))
    .thenEvents([opened(1)]);
});

test('an open circuit ignores outcomes of calls that left before it opened', () => {
  spec([failure(1), failure(2), opened()])
    .when(outcome(false))
    .thenEvents([]);
  spec([failure(1), failure(2), opened()])
    .when(outcome(true))
    .thenEvents([]);
});

test('the timer half-opens it only once the cooldown has passed', () => {
  const given = [failure(1), failure(2), opened()];
  spec(given)
    .when({ type: 'HalfOpenCircuit', agentKey, at: t(29) })
    .thenEvents([]);
  spec(given)
    .when({ type: 'HalfOpenCircuit', agentKey, at: t(30) })
    .thenEvents([halfOpened]);
  spec([...given, halfOpened])
    .when({ type: 'HalfOpenCircuit', agentKey, at: t(40) })
    .thenEvents([]);
  spec([])
    .when({ type: 'HalfOpenCircuit', agentKey, at: t(40) })
    .thenEvents([]);
});

test('one probe at a time: claimed, refused to another task, idempotent for its own, taken over when stale', () => {
  const half = [failure(1), failure(2), opened(), halfOpened];
  const claim = (taskId: string, at = t(31)): CircuitCommand => ({
    type: 'ClaimProbe',
    agentKey,
    taskId,
    staleAfterMs: 60_000,
    at,
  });
  spec(half).when(claim('probe-task')).thenEvents([probe()]);
  spec([...half, probe()])
    .when(claim('probe-task'))
    .thenEvents([]);
  spec([...half, probe()])
    .when(claim('other'))
    .thenFails('rule_violated', /probing it/);
  spec([...half, probe()])
    .when(claim('other', t(91)))
    .thenEvents([probe('other', t(91))]);
  // Closed: no probe needed. Open: refused with when it reopens.
  spec([]).when(claim('x')).thenEvents([]);
  spec([failure(1), failure(2), opened()])
    .when(claim('x', t(10)))
    .thenFails('rule_violated', /open until/);
  // Open past the cooldown (the timer has not come round): half-opened and claimed in one go.
  spec([failure(1), failure(2), opened()])
    .when(claim('x', t(31)))
    .thenEvents([{ type: 'CircuitHalfOpened', data: { agentKey, at: t(31) } }, probe('x', t(31))]);
});

test('the probe decides: success closes, failure reopens with a new cooldown; other calls do not count', () => {
  const probing = [failure(1), failure(2), opened(), halfOpened, probe()];
  spec(probing)
    .when(outcome(true, { taskId: 'probe-task', callId: 'p1', at: t(32) }))
    .thenEvents([{ type: 'CircuitClosed', data: { agentKey, callId: 'p1', at: t(32) } }]);
  spec(probing)
    .when(outcome(false, { taskId: 'probe-task', callId: 'p1', at: t(32) }))
    .thenEvents([
      {
        type: 'CircuitOpened',
        data: {
          agentKey,
          until: t(62),
          failures: 4,
          reason: 'the probe call failed: boom',
          callId: 'p1',
          at: t(32),
        },
      },
    ]);
  spec(probing)
    .when(outcome(false, { taskId: 'straggler', at: t(32) }))
    .thenEvents([]);
  spec(probing)
    .when(outcome(true, { taskId: 'straggler', at: t(32) }))
    .thenEvents([]);
});

test('canceled and abandoned calls say nothing about health; a canceled probe frees the slot', () => {
  const probing = [failure(1), failure(2), opened(), halfOpened, probe()];
  spec([failure(1)])
    .when(outcome(true, { outcome: 'canceled' }))
    .thenEvents([]);
  spec([failure(1)])
    .when(outcome(false, { outcome: 'abandoned' }))
    .thenEvents([]);
  spec(probing)
    .when(outcome(true, { taskId: 'probe-task', outcome: 'canceled', at: t(33) }))
    .thenEvents([{ type: 'CircuitProbeReleased', data: { agentKey, taskId: 'probe-task', at: t(33) } }]);
});

test('after closing, the failure count starts from zero', () => {
  const closed: CircuitEvent = { type: 'CircuitClosed', data: { agentKey, callId: 'p1', at: t(32) } };
  spec([failure(1), failure(2), opened(), halfOpened, probe(), closed])
    .when(outcome(false, { callId: 'c9' }))
    .thenEvents([failure(1, 'c9')]);
});

test('circuitAdmits reads the state without changing it', () => {
  const fold = (events: CircuitEvent[]) =>
    events.reduce(circuitDecider.evolve, circuitDecider.initialState());
  assert.is(circuitAdmits(fold([]), t0, 'a', 1000), 'closed');
  assert.is(circuitAdmits(fold([opened()]), t(10), 'a', 1000), 'open');
  assert.is(circuitAdmits(fold([opened()]), t(30), 'a', 1000), 'probe');
  assert.is(circuitAdmits(fold([opened(), halfOpened]), t(31), 'a', 1000), 'probe');
  assert.is(circuitAdmits(fold([opened(), halfOpened, probe('b')]), t(31), 'a', 10_000), 'probe-in-flight');
  assert.is(circuitAdmits(fold([opened(), halfOpened, probe('b')]), t(31), 'b', 10_000), 'probe');
  assert.is(circuitAdmits(fold([opened(), halfOpened, probe('b', t(31))]), t(45), 'a', 10_000), 'probe');
});

test.run();
