/** The push aggregate's decider: a task's webhook configs and the intent and outcome of every delivery. */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import {
  type PushConfigData,
  PushConfigData as PushConfigDataSchema,
  type PushEvent,
} from '../events/push.ts';
import { CommandError, notFound, ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

const at = z.string().min(1);
const revision = z.number().int().min(0);

/** Live push-notification configs a task may have (AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK). */
export const DEFAULT_MAX_PUSH_CONFIGS_PER_TASK = 10;

export const PushConfigCommand = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SetPushConfig'),
    config: PushConfigDataSchema,
    at,
    /** The most live configs the task may have with this one (default DEFAULT_MAX_PUSH_CONFIGS_PER_TASK). */
    maxConfigs: z.number().int().min(1).optional(),
  }),
  z.object({ type: z.literal('DeletePushConfig'), id: z.string().min(1), at }),
  z.object({
    type: z.literal('RecordDeliveryAttempt'),
    configId: z.string().min(1),
    revision,
    attempt: z.number().int().min(1),
    at,
  }),
  z.object({
    type: z.literal('RecordDeliverySuccess'),
    configId: z.string().min(1),
    revision,
    status: z.number().int(),
    at,
  }),
  z.object({
    type: z.literal('RecordDeliveryFailure'),
    configId: z.string().min(1),
    revision,
    attempt: z.number().int().min(1),
    error: z.string(),
    final: z.boolean(),
    at,
  }),
]);
export type PushConfigCommand = z.infer<typeof PushConfigCommand>;

export interface PushConfigEntry {
  config: PushConfigData;
  deleted: boolean;
  /** Highest task revision delivered (answered 2xx) to this config; -1 before the first. */
  delivered: number;
  /** Attempts recorded per task revision not delivered yet. */
  attempts: Readonly<Record<number, number>>;
  /** The latest attempt with no outcome recorded: in flight, or the process making it died. */
  open: { revision: number; attempt: number; at: string } | null;
}

export interface PushConfigState {
  /** In the order they were first set; deleted ones stay (a stable order for page tokens). */
  configs: readonly PushConfigEntry[];
}

export const findConfig = (state: PushConfigState, id: string): PushConfigEntry | undefined =>
  state.configs.find((c) => c.config.id === id);
export const liveConfigs = (state: PushConfigState): PushConfigEntry[] =>
  state.configs.filter((c) => !c.deleted);

const attemptsOf = (entry: PushConfigEntry, rev: number) => entry.attempts[rev] ?? 0;
const known = (state: PushConfigState, id: string): PushConfigEntry => {
  const entry = findConfig(state, id);
  if (!entry) throw notFound(`push notification config ${id}`);
  return entry;
};
const replace = (state: PushConfigState, id: string, f: (e: PushConfigEntry) => PushConfigEntry) => ({
  ...state,
  configs: state.configs.map((c) => (c.config.id === id ? f(c) : c)),
});

/**
 * Push-notification configs of one task and the record of their deliveries. Delivery is in task-revision
 * order per config: an attempt at a revision already delivered decides nothing, so a redelivered bus
 * message or a restarted saga never POSTs an event twice after its success was recorded.
 */
export const pushConfigDecider: Decider<PushConfigCommand, PushConfigState, PushEvent> = {
  initialState: () => ({ configs: [] }),
  decide(command, state) {
    switch (command.type) {
      case 'SetPushConfig': {
        const { config } = command;
        const protocol = URL.canParse(config.url) ? new URL(config.url).protocol : '';
        if (protocol !== 'http:' && protocol !== 'https:') {
          throw new CommandError('validation', `url: push notification URLs must be http or https`);
        }
        const existing = findConfig(state, config.id);
        if (existing && !existing.deleted && isDeepStrictEqual(existing.config, config)) return [];
        // Decided on the stream's state, so the limit holds however many edges set configs at once.
        const max = command.maxConfigs ?? DEFAULT_MAX_PUSH_CONFIGS_PER_TASK;
        const live = liveConfigs(state).length;
        if (!(existing && !existing.deleted) && live >= max) {
          throw new CommandError(
            'validation',
            `pushNotificationConfig: task ${config.taskId} has ${live} push notification configs, the most allowed (AGENTCORE_MAX_PUSH_CONFIGS_PER_TASK=${max}): delete one first`,
          );
        }
        return [{ type: 'PushConfigSet', data: { config, at: command.at } }];
      }
      case 'DeletePushConfig': {
        const existing = findConfig(state, command.id);
        return existing && !existing.deleted
          ? [{ type: 'PushConfigDeleted', data: { id: command.id, at: command.at } }]
          : [];
      }
      case 'RecordDeliveryAttempt': {
        const entry = known(state, command.configId);
        // Deleted, or delivered meanwhile (by a redelivery or another copy of the saga): nothing to do.
        if (entry.deleted || command.revision <= entry.delivered) return [];
        const expected = attemptsOf(entry, command.revision) + 1;
        if (command.attempt !== expected) {
          throw ruleViolated(
            `attempt ${command.attempt} of revision ${command.revision} for push config ${command.configId}: the next attempt is ${expected}`,
          );
        }
        const { configId, revision: rev, attempt, at: when } = command;
        return [{ type: 'PushDeliveryAttempted', data: { configId, revision: rev, attempt, at: when } }];
      }
      case 'RecordDeliverySuccess': {
        const entry = known(state, command.configId);
        if (command.revision <= entry.delivered) return [];
        if (attemptsOf(entry, command.revision) === 0) {
          throw ruleViolated(`no delivery attempt of revision ${command.revision} was recorded`);
        }
        const { configId, revision: rev, status, at: when } = command;
        return [{ type: 'PushDeliverySucceeded', data: { configId, revision: rev, status, at: when } }];
      }
      case 'RecordDeliveryFailure': {
        const entry = known(state, command.configId);
        // A failure is recorded even when another attempt delivered the event meanwhile: it happened.
        if (command.revision > entry.delivered && command.attempt > attemptsOf(entry, command.revision)) {
          throw ruleViolated(
            `attempt ${command.attempt} of revision ${command.revision} was never recorded as attempted`,
          );
        }
        const { configId, revision: rev, attempt, error, final, at: when } = command;
        return [
          {
            type: 'PushDeliveryFailed',
            data: { configId, revision: rev, attempt, error, final, at: when },
          },
        ];
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'PushConfigSet': {
        const { config } = event.data;
        const existing = findConfig(state, config.id);
        const fresh: PushConfigEntry = { config, deleted: false, delivered: -1, attempts: {}, open: null };
        if (!existing) return { ...state, configs: [...state.configs, fresh] };
        // Replacing a live config keeps its delivery progress; setting a deleted id again starts afresh.
        return replace(state, config.id, (e) => (e.deleted ? fresh : { ...e, config }));
      }
      case 'PushConfigDeleted':
        return replace(state, event.data.id, (e) => ({ ...e, deleted: true, open: null }));
      case 'PushDeliveryAttempted': {
        const { configId, revision: rev, attempt, at: when } = event.data;
        return replace(state, configId, (e) => ({
          ...e,
          attempts: { ...e.attempts, [rev]: Math.max(attempt, attemptsOf(e, rev)) },
          open: { revision: rev, attempt, at: when },
        }));
      }
      case 'PushDeliverySucceeded': {
        const { configId, revision: rev } = event.data;
        return replace(state, configId, (e) => {
          const delivered = Math.max(e.delivered, rev);
          const attempts = Object.fromEntries(
            Object.entries(e.attempts).filter(([r]) => Number(r) > delivered),
          ) as Record<number, number>;
          const open = e.open && e.open.revision > delivered ? e.open : null;
          return { ...e, delivered, attempts, open };
        });
      }
      case 'PushDeliveryFailed': {
        const { configId, revision: rev, attempt } = event.data;
        return replace(state, configId, (e) => ({
          ...e,
          open: e.open && e.open.revision === rev && e.open.attempt === attempt ? null : e.open,
        }));
      }
    }
  },
};
