import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findConfig, liveConfigs, pushConfigDecider } from '../../commands/push-config.ts';
import { type PushConfigData, PushEvent } from '../../events/push.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(pushConfigDecider);
const at = '2026-11-25T10:00:00.000Z';
const config: PushConfigData = {
  id: 'c1',
  taskId: 't1',
  url: 'https://hooks.example/a2a',
  authentication: { scheme: 'Bearer', credentials: 's3cret' },
};
const set = (c: PushConfigData = config): PushEvent => ({ type: 'PushConfigSet', data: { config: c, at } });
const deleted = (id = 'c1'): PushEvent => ({ type: 'PushConfigDeleted', data: { id, at } });
const attempted = (revision: number, attempt = 1, configId = 'c1'): PushEvent => ({
  type: 'PushDeliveryAttempted',
  data: { configId, revision, attempt, at },
});
const succeeded = (revision: number, configId = 'c1'): PushEvent => ({
  type: 'PushDeliverySucceeded',
  data: { configId, revision, status: 200, at },
});
const failed = (revision: number, attempt = 1, final = false): PushEvent => ({
  type: 'PushDeliveryFailed',
  data: { configId: 'c1', revision, attempt, error: 'HTTP 500', final, at },
});
const stateOf = (events: PushEvent[]) =>
  events.reduce(pushConfigDecider.evolve, pushConfigDecider.initialState());

test('setting a config records it; the same config again changes nothing; another id is a second config', () => {
  spec([]).when({ type: 'SetPushConfig', config, at }).thenEvents([set()]);
  spec([set()]).when({ type: 'SetPushConfig', config, at }).thenEvents([]);
  const other = { ...config, id: 'c2', url: 'https://other.example/' };
  spec([set()])
    .when({ type: 'SetPushConfig', config: other, at })
    .thenEvents([set(other)]);
  assert.equal(
    liveConfigs(stateOf([set(), set(other)])).map((c) => c.config.id),
    ['c1', 'c2'],
  );
});

test('setting an existing id replaces the config in place and keeps its delivery progress', () => {
  const replaced = { ...config, url: 'https://new.example/hook', token: 'tok' };
  spec([set(), attempted(0), succeeded(0)])
    .when({ type: 'SetPushConfig', config: replaced, at })
    .thenEvents([set(replaced)]);
  const state = stateOf([set(), set({ ...config, id: 'c2' }), attempted(0), succeeded(0), set(replaced)]);
  assert.equal(
    state.configs.map((c) => c.config.id),
    ['c1', 'c2'],
  );
  assert.equal(findConfig(state, 'c1')?.config, replaced);
  assert.is(findConfig(state, 'c1')?.delivered, 0);
});

test('only http and https webhook URLs', () => {
  spec([])
    .when({ type: 'SetPushConfig', config: { ...config, url: 'ftp://hooks.example/x' }, at })
    .thenFails('validation', /http or https/);
});

test('delete is idempotent: an unknown or already deleted id decides nothing', () => {
  spec([set()]).when({ type: 'DeletePushConfig', id: 'c1', at }).thenEvents([deleted()]);
  spec([set(), deleted()]).when({ type: 'DeletePushConfig', id: 'c1', at }).thenEvents([]);
  spec([]).when({ type: 'DeletePushConfig', id: 'nope', at }).thenEvents([]);
  spec([set()]).when({ type: 'DeletePushConfig', id: 'nope', at }).thenEvents([]);
  assert.equal(liveConfigs(stateOf([set(), deleted()])), []);
});

test('a deleted id set again is a fresh config: its deliveries start over', () => {
  const state = stateOf([set(), attempted(0), succeeded(0), attempted(1), succeeded(1), deleted(), set()]);
  const entry = findConfig(state, 'c1')!;
  assert.is(entry.deleted, false);
  assert.is(entry.delivered, -1);
  assert.equal(entry.attempts, {});
});

test('attempts are numbered per revision, from 1, and recorded before the POST', () => {
  spec([set()])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 1, at })
    .thenEvents([attempted(0)]);
  spec([set(), attempted(0), failed(0)])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 2, at })
    .thenEvents([attempted(0, 2)]);
  // A crash between the intent and the outcome: the retry is the second attempt, visibly.
  spec([set(), attempted(0)])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 2, at })
    .thenEvents([attempted(0, 2)]);
  // A stale attempt number (another copy of the saga got there first) is refused.
  spec([set(), attempted(0)])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 1, at })
    .thenFails('rule_violated', /the next attempt is 2/);
  const open = findConfig(stateOf([set(), attempted(0), failed(0), attempted(0, 2)]), 'c1')!;
  assert.equal(open.open, { revision: 0, attempt: 2, at });
  assert.is(findConfig(stateOf([set(), attempted(0), failed(0)]), 'c1')!.open, null);
});

test('nothing is attempted again once delivered, nor after the config is deleted', () => {
  spec([set(), attempted(0), succeeded(0)])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 2, at })
    .thenEvents([]);
  spec([set(), attempted(3), succeeded(3)])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 2, attempt: 1, at })
    .thenEvents([]);
  spec([set(), deleted()])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 1, at })
    .thenEvents([]);
  spec([])
    .when({ type: 'RecordDeliveryAttempt', configId: 'c1', revision: 0, attempt: 1, at })
    .thenFails('not_found');
});

test('a success is recorded once per revision and moves the delivered mark', () => {
  spec([set(), attempted(0)])
    .when({ type: 'RecordDeliverySuccess', configId: 'c1', revision: 0, status: 200, at })
    .thenEvents([succeeded(0)]);
  spec([set(), attempted(0), succeeded(0)])
    .when({ type: 'RecordDeliverySuccess', configId: 'c1', revision: 0, status: 200, at })
    .thenEvents([]);
  spec([set()])
    .when({ type: 'RecordDeliverySuccess', configId: 'c1', revision: 0, status: 200, at })
    .thenFails('rule_violated', /no delivery attempt/);
  // The POST happened even if the config was deleted while it was in flight: the outcome is recorded.
  spec([set(), attempted(0), deleted()])
    .when({ type: 'RecordDeliverySuccess', configId: 'c1', revision: 0, status: 202, at })
    .thenEvents([{ type: 'PushDeliverySucceeded', data: { configId: 'c1', revision: 0, status: 202, at } }]);
  const entry = findConfig(
    stateOf([set(), attempted(0), failed(0), attempted(0, 2), succeeded(0), attempted(1)]),
    'c1',
  )!;
  assert.is(entry.delivered, 0);
  assert.equal(entry.attempts, { 1: 1 });
  assert.equal(entry.open, { revision: 1, attempt: 1, at });
});

test('failures are recorded with their attempt and whether they are final', () => {
  spec([set(), attempted(0)])
    .when({
      type: 'RecordDeliveryFailure',
      configId: 'c1',
      revision: 0,
      attempt: 1,
      error: 'HTTP 500',
      final: true,
      at,
    })
    .thenEvents([failed(0, 1, true)]);
  spec([set()])
    .when({
      type: 'RecordDeliveryFailure',
      configId: 'c1',
      revision: 0,
      attempt: 1,
      error: 'x',
      final: false,
      at,
    })
    .thenFails('rule_violated', /never recorded as attempted/);
  spec([])
    .when({
      type: 'RecordDeliveryFailure',
      configId: 'c1',
      revision: 0,
      attempt: 1,
      error: 'x',
      final: false,
      at,
    })
    .thenFails('not_found');
});

test('every event the decider emits matches the event schemas', () => {
  for (const e of [set(), deleted(), attempted(0), succeeded(0), failed(0, 1, true)]) {
    assert.equal(PushEvent.parse(e), e);
  }
  assert.not.ok(
    PushEvent.safeParse({ type: 'PushDeliveryAttempted', data: { configId: 'c1', revision: -1 } }).success,
  );
});

test.run();
