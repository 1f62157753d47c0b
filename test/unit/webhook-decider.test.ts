import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type SubscriptionSpec, webhookDecider } from '../../commands/webhook.ts';
import type { WebhookEvent } from '../../events/webhook.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(webhookDecider);
const at = '2026-11-25T10:00:00.000Z';
const subscriptionId = 's1';
const sub: SubscriptionSpec = {
  subscriptionId,
  url: 'https://hooks.example/in',
  filter: { types: ['TaskSubmitted'] },
  secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0',
  after: null,
};
const subscribed: WebhookEvent = { type: 'WebhookSubscribed', data: { ...sub, at } };
const paused: WebhookEvent = { type: 'WebhookPaused', data: { subscriptionId, at } };
const resumed: WebhookEvent = { type: 'WebhookResumed', data: { subscriptionId, at } };
const unsubscribed: WebhookEvent = { type: 'WebhookUnsubscribed', data: { subscriptionId, at } };
const letter = {
  eventId: 'e1',
  stream: 'task-1',
  revision: 0,
  position: 7,
  eventType: 'TaskSubmitted',
  attempts: 3,
  error: 'the receiver answered HTTP 500',
  at,
};
const deadLettered: WebhookEvent = {
  type: 'WebhookDeliveryDeadLettered',
  data: { subscriptionId, ...letter },
};
const redriven: WebhookEvent = {
  type: 'WebhookDeadLetterRedriven',
  data: { subscriptionId, eventIds: ['e1'], at },
};
const state = (events: WebhookEvent[]) => events.reduce(webhookDecider.evolve, webhookDecider.initialState());

test('subscribing records the subscription; the same again changes nothing; another spec on the id conflicts', () => {
  spec([])
    .when({ type: 'Subscribe', ...sub, at })
    .thenEvents([subscribed]);
  spec([subscribed])
    .when({ type: 'Subscribe', ...sub, at })
    .thenEvents([]);
  spec([subscribed])
    .when({ type: 'Subscribe', ...sub, url: 'https://other.example/', at })
    .thenFails('conflict', /exists already/);
});

test('pause and resume are idempotent; an unknown or unsubscribed subscription is not found', () => {
  spec([subscribed]).when({ type: 'Pause', at }).thenEvents([paused]);
  spec([subscribed, paused]).when({ type: 'Pause', at }).thenEvents([]);
  spec([subscribed, paused]).when({ type: 'Resume', at }).thenEvents([resumed]);
  spec([subscribed]).when({ type: 'Resume', at }).thenEvents([]);
  spec([]).when({ type: 'Pause', at }).thenFails('not_found');
  spec([subscribed, unsubscribed]).when({ type: 'Resume', at }).thenFails('not_found');
  spec([subscribed]).when({ type: 'Unsubscribe', at }).thenEvents([unsubscribed]);
  assert.is(state([subscribed, paused]).status, 'paused');
});

test('each replay request is recorded and counted, paused or not', () => {
  spec([subscribed, paused])
    .when({ type: 'RequestReplay', after: 42, at })
    .thenEvents([{ type: 'WebhookReplayRequested', data: { subscriptionId, after: 42, at } }]);
  const s = state([
    subscribed,
    { type: 'WebhookReplayRequested', data: { subscriptionId, after: 42, at } },
    { type: 'WebhookReplayRequested', data: { subscriptionId, after: 3, at } },
  ]);
  assert.equal([s.replays, s.replayAfter], [2, 3]);
});

test('a dead letter is recorded once, however often the failure is seen again', () => {
  spec([subscribed])
    .when({ type: 'RecordDeadLetter', ...letter })
    .thenEvents([deadLettered]);
  spec([subscribed, deadLettered])
    .when({ type: 'RecordDeadLetter', ...letter })
    .thenEvents([]);
  // Re-driven and failed again: a new letter.
  spec([subscribed, deadLettered, redriven])
    .when({ type: 'RecordDeadLetter', ...letter })
    .thenEvents([deadLettered]);
  assert.equal(state([subscribed, deadLettered, redriven, deadLettered]).deadLetters, [
    { ...letter, redriving: false },
  ]);
});

test('re-drive marks the named (or all) letters; an unknown id is not found; delivered letters leave the list', () => {
  spec([subscribed, deadLettered]).when({ type: 'RedriveDeadLetters', at }).thenEvents([redriven]);
  spec([subscribed, deadLettered])
    .when({ type: 'RedriveDeadLetters', eventIds: ['e1'], at })
    .thenEvents([redriven]);
  spec([subscribed, deadLettered, redriven]).when({ type: 'RedriveDeadLetters', at }).thenEvents([]);
  spec([subscribed, deadLettered])
    .when({ type: 'RedriveDeadLetters', eventIds: ['nope'], at })
    .thenFails('not_found', /nope/);
  const delivered: WebhookEvent = {
    type: 'WebhookDeadLetterDelivered',
    data: { subscriptionId, eventId: 'e1', at },
  };
  spec([subscribed, deadLettered, redriven])
    .when({ type: 'RecordDeadLetterDelivered', eventId: 'e1', at })
    .thenEvents([delivered]);
  spec([subscribed, deadLettered])
    .when({ type: 'RecordDeadLetterDelivered', eventId: 'e1', at })
    .thenEvents([]);
  assert.equal(state([subscribed, deadLettered, redriven, delivered]).deadLetters, []);
});

test.run();
