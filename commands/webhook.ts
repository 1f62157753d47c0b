/** The webhook subscription's decider: subscribe, pause, resume, replay, unsubscribe, dead letters. */
import { isDeepStrictEqual } from 'node:util';
import type { WebhookEvent, WebhookFilter } from '../events/webhook.ts';
import { CommandError, notFound } from './errors.ts';
import type { Decider } from './handle.ts';

export interface SubscriptionSpec {
  subscriptionId: string;
  url: string;
  filter: WebhookFilter;
  secret: string;
  after: number | null;
  description?: string;
}

export type WebhookCommand =
  | ({ type: 'Subscribe'; at: string } & SubscriptionSpec)
  | { type: 'Pause'; at: string }
  | { type: 'Resume'; at: string }
  | { type: 'RequestReplay'; after: number; at: string }
  | { type: 'Unsubscribe'; at: string }
  | {
      type: 'RecordDeadLetter';
      eventId: string;
      stream: string;
      revision: number;
      position: number;
      eventType: string;
      attempts: number;
      error: string;
      at: string;
    }
  /** No ids: every dead letter not being re-driven already. */
  | { type: 'RedriveDeadLetters'; eventIds?: string[]; at: string }
  | { type: 'RecordDeadLetterDelivered'; eventId: string; at: string };

export interface DeadLetter {
  eventId: string;
  stream: string;
  revision: number;
  position: number;
  eventType: string;
  attempts: number;
  error: string;
  at: string;
  /** Re-driven and not delivered (nor dead again) yet. */
  redriving: boolean;
}

export interface WebhookState {
  status: 'none' | 'active' | 'paused' | 'unsubscribed';
  subscription: (SubscriptionSpec & { createdAt: string }) | null;
  /** Replays requested so far and the latest one's position: the saga applies each once. */
  replays: number;
  replayAfter: number | null;
  deadLetters: readonly DeadLetter[];
}

const initialState = (): WebhookState => ({
  status: 'none',
  subscription: null,
  replays: 0,
  replayAfter: null,
  deadLetters: [],
});

/** The subscription, if it exists and was not unsubscribed; else not_found. */
const live = (state: WebhookState): SubscriptionSpec => {
  if (!state.subscription || state.status === 'unsubscribed' || state.status === 'none')
    throw notFound('webhook subscription');
  return state.subscription;
};

const subscribe = (
  c: Extract<WebhookCommand, { type: 'Subscribe' }>,
  state: WebhookState,
): WebhookEvent[] => {
  const { type: _type, at, ...spec } = c;
  if (state.subscription) {
    const { createdAt: _created, ...existing } = state.subscription;
    if (state.status !== 'unsubscribed' && isDeepStrictEqual(existing, spec)) return [];
    throw new CommandError('conflict', `webhook subscription ${c.subscriptionId} exists already`, {
      reason: 'ALREADY_EXISTS',
    });
  }
  const { description, ...rest } = spec;
  return [
    {
      type: 'WebhookSubscribed',
      data: { ...rest, ...(description !== undefined ? { description } : {}), at },
    },
  ];
};

const pause = (at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  return state.status === 'paused' ? [] : [{ type: 'WebhookPaused', data: { subscriptionId, at } }];
};

const resume = (at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  return state.status === 'active' ? [] : [{ type: 'WebhookResumed', data: { subscriptionId, at } }];
};

const requestReplay = (after: number, at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  return [{ type: 'WebhookReplayRequested', data: { subscriptionId, after, at } }];
};

const unsubscribe = (at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  return [{ type: 'WebhookUnsubscribed', data: { subscriptionId, at } }];
};

const recordDeadLetter = (
  c: Extract<WebhookCommand, { type: 'RecordDeadLetter' }>,
  state: WebhookState,
): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  // The same failure seen again (a delivery repeated after a restart): it is in the list already.
  const known = state.deadLetters.find((d) => d.eventId === c.eventId);
  if (known && !known.redriving) return [];
  const { type: _type, ...data } = c;
  return [{ type: 'WebhookDeliveryDeadLettered', data: { subscriptionId, ...data } }];
};

const redrive = (ids: string[] | undefined, at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  const unknown = ids?.filter((id) => !state.deadLetters.some((d) => d.eventId === id)) ?? [];
  if (unknown.length)
    throw notFound(`dead letter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} of this subscription`);
  const eventIds = state.deadLetters
    .filter((d) => !d.redriving && (!ids || ids.includes(d.eventId)))
    .map((d) => d.eventId);
  return eventIds.length
    ? [{ type: 'WebhookDeadLetterRedriven', data: { subscriptionId, eventIds, at } }]
    : [];
};

const recordDelivered = (eventId: string, at: string, state: WebhookState): WebhookEvent[] => {
  const { subscriptionId } = live(state);
  return state.deadLetters.some((d) => d.eventId === eventId && d.redriving)
    ? [{ type: 'WebhookDeadLetterDelivered', data: { subscriptionId, eventId, at } }]
    : [];
};

const decide = (command: WebhookCommand, state: WebhookState): WebhookEvent[] => {
  const { type } = command;
  switch (type) {
    case 'Subscribe':
      return subscribe(command, state);
    case 'Pause':
      return pause(command.at, state);
    case 'Resume':
      return resume(command.at, state);
    case 'RequestReplay':
      return requestReplay(command.after, command.at, state);
    case 'Unsubscribe':
      return unsubscribe(command.at, state);
    case 'RecordDeadLetter':
      return recordDeadLetter(command, state);
    case 'RedriveDeadLetters':
      return redrive(command.eventIds, command.at, state);
    case 'RecordDeadLetterDelivered':
      return recordDelivered(command.eventId, command.at, state);
    default: {
      const _never: never = type;
      throw new CommandError('validation', `unknown webhook command ${String(_never)}`);
    }
  }
};

const evolve = (state: WebhookState, event: WebhookEvent): WebhookState => {
  switch (event.type) {
    case 'WebhookSubscribed': {
      const { at, ...spec } = event.data;
      return { ...state, status: 'active', subscription: { ...spec, createdAt: at } };
    }
    case 'WebhookPaused':
      return { ...state, status: 'paused' };
    case 'WebhookResumed':
      return { ...state, status: 'active' };
    case 'WebhookReplayRequested':
      return { ...state, replays: state.replays + 1, replayAfter: event.data.after };
    case 'WebhookUnsubscribed':
      return { ...state, status: 'unsubscribed' };
    case 'WebhookDeliveryDeadLettered': {
      const { subscriptionId: _id, ...letter } = event.data;
      const others = state.deadLetters.filter((d) => d.eventId !== letter.eventId);
      return { ...state, deadLetters: [...others, { ...letter, redriving: false }] };
    }
    case 'WebhookDeadLetterRedriven': {
      const ids = new Set(event.data.eventIds);
      return {
        ...state,
        deadLetters: state.deadLetters.map((d) => (ids.has(d.eventId) ? { ...d, redriving: true } : d)),
      };
    }
    case 'WebhookDeadLetterDelivered':
      return { ...state, deadLetters: state.deadLetters.filter((d) => d.eventId !== event.data.eventId) };
  }
};

/**
 * One integrator's webhook subscription. Pause, resume and unsubscribe are idempotent; a dead letter is
 * recorded once however often its failure is seen again; re-drive marks dead letters for the saga.
 */
export const webhookDecider: Decider<WebhookCommand, WebhookState, WebhookEvent> = {
  initialState,
  decide,
  evolve,
};
