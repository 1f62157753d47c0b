/**
 * The circuit-breaker aggregate of one agent (events/circuit.ts), pure: the clock, the threshold and the
 * cooldown come in with the commands (the saga reads them from the configuration).
 */
import { z } from 'zod';
import type { CircuitEvent } from '../events/circuit.ts';
import { RemoteCallOutcome } from '../events/task.ts';
import { at } from './command-time.ts';
import { ruleViolated } from './errors.ts';
import type { Decider } from './handle.ts';

export const CircuitCommand = z.discriminatedUnion('type', [
  /** A remote call's outcome (RemoteCallCompleted), as the saga reads it. */
  z.object({
    type: z.literal('RecordCallOutcome'),
    agentKey: z.string().min(1),
    taskId: z.string().min(1),
    callId: z.string().min(1),
    ok: z.boolean(),
    outcome: RemoteCallOutcome,
    error: z.string().optional(),
    /** Consecutive failures that open the circuit. */
    threshold: z.number().int().min(1),
    /** How long it stays open before a probe may go. */
    cooldownMs: z.number().int().min(0),
    at,
  }),
  /** The timer: an open circuit whose cooldown has passed becomes half-open. */
  z.object({ type: z.literal('HalfOpenCircuit'), agentKey: z.string().min(1), at }),
  /**
   * A task's call wants to go to the agent while the circuit is not closed: it becomes the probe if the
   * circuit is half-open (or open past its cooldown) and no other live probe holds the slot.
   */
  z.object({
    type: z.literal('ClaimProbe'),
    agentKey: z.string().min(1),
    taskId: z.string().min(1),
    /** A probe claimed longer ago than this is taken for lost (its worker died): the slot is free. */
    staleAfterMs: z.number().int().min(0),
    at,
  }),
]);
export type CircuitCommand = z.infer<typeof CircuitCommand>;

export type CircuitPosition = 'closed' | 'open' | 'half-open';

export interface CircuitState {
  state: CircuitPosition;
  /** Consecutive failures (closed), or the count that opened it. */
  failures: number;
  /** End of the cooldown while open. */
  until: string | null;
  /** The call probing a half-open circuit. */
  probe: { taskId: string; at: string } | null;
}

/** Outcomes that say nothing about the agent's health: the user canceled, or the worker lost the answer. */
export const NEUTRAL_OUTCOMES: ReadonlySet<RemoteCallOutcome> = new Set(['canceled', 'abandoned']);

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** Whether a call may go now (without changing anything): what routing reads before it claims. */
export const circuitAdmits = (
  s: CircuitState,
  at: string,
  taskId: string,
  staleAfterMs: number,
): 'closed' | 'probe' | 'probe-in-flight' | 'open' => {
  if (s.state === 'closed') return 'closed';
  if (s.state === 'open' && s.until !== null && Date.parse(at) < Date.parse(s.until)) return 'open';
  if (s.state === 'half-open' && s.probe && s.probe.taskId !== taskId) {
    return Date.parse(at) - Date.parse(s.probe.at) >= staleAfterMs ? 'probe' : 'probe-in-flight';
  }
  return 'probe';
};

export const circuitDecider: Decider<CircuitCommand, CircuitState, CircuitEvent> = {
  initialState: () => ({ state: 'closed', failures: 0, until: null, probe: null }),
  decide(command, s) {
    const { agentKey } = command;
    switch (command.type) {
      case 'RecordCallOutcome': {
        const { callId, taskId, ok, outcome } = command;
        const error = command.error ?? outcome;
        if (NEUTRAL_OUTCOMES.has(outcome)) {
          return s.state === 'half-open' && s.probe?.taskId === taskId
            ? [{ type: 'CircuitProbeReleased', data: { agentKey, taskId, at: command.at } }]
            : [];
        }
        if (s.state === 'open') return []; // a call that left before the circuit opened
        if (s.state === 'half-open') {
          // Only the probe judges a half-open circuit; stragglers from before it opened do not.
          if (s.probe?.taskId !== taskId) return [];
          return ok
            ? [{ type: 'CircuitClosed', data: { agentKey, callId, at: command.at } }]
            : [
                {
                  type: 'CircuitOpened',
                  data: {
                    agentKey,
                    until: plus(command.at, command.cooldownMs),
                    failures: s.failures + 1,
                    reason: `the probe call failed: ${error}`,
                    callId,
                    at: command.at,
                  },
                },
              ];
        }
        if (ok) {
          return s.failures > 0
            ? [{ type: 'CircuitFailuresReset', data: { agentKey, callId, at: command.at } }]
            : [];
        }
        const failures = s.failures + 1;
        if (failures < command.threshold) {
          return [
            { type: 'CircuitFailureRecorded', data: { agentKey, callId, failures, error, at: command.at } },
          ];
        }
        return [
          {
            type: 'CircuitOpened',
            data: {
              agentKey,
              until: plus(command.at, command.cooldownMs),
              failures,
              reason: `${failures} consecutive failed calls, the last: ${error}`,
              callId,
              at: command.at,
            },
          },
        ];
      }
      case 'HalfOpenCircuit':
        return s.state === 'open' && s.until !== null && Date.parse(command.at) >= Date.parse(s.until)
          ? [{ type: 'CircuitHalfOpened', data: { agentKey, at: command.at } }]
          : [];
      case 'ClaimProbe': {
        const verdict = circuitAdmits(s, command.at, command.taskId, command.staleAfterMs);
        if (verdict === 'closed') return [];
        if (verdict === 'open') throw ruleViolated(`the circuit of ${agentKey} is open until ${s.until}`);
        if (verdict === 'probe-in-flight') {
          throw ruleViolated(
            `the circuit of ${agentKey} is half-open and task ${s.probe!.taskId} is probing it`,
          );
        }
        if (s.state === 'half-open' && s.probe?.taskId === command.taskId) return [];
        const claim: CircuitEvent = {
          type: 'CircuitProbeClaimed',
          data: { agentKey, taskId: command.taskId, at: command.at },
        };
        // Open past its cooldown and the timer has not been round yet: half-open it on the way.
        return s.state === 'open'
          ? [{ type: 'CircuitHalfOpened', data: { agentKey, at: command.at } }, claim]
          : [claim];
      }
    }
  },
  evolve(s, event) {
    switch (event.type) {
      case 'CircuitFailureRecorded':
        return { ...s, failures: event.data.failures };
      case 'CircuitFailuresReset':
        return { ...s, failures: 0 };
      case 'CircuitOpened':
        return { state: 'open', failures: event.data.failures, until: event.data.until, probe: null };
      case 'CircuitHalfOpened':
        return { ...s, state: 'half-open', probe: null };
      case 'CircuitProbeClaimed':
        return { ...s, probe: { taskId: event.data.taskId, at: event.data.at } };
      case 'CircuitProbeReleased':
        return { ...s, probe: null };
      case 'CircuitClosed':
        return { state: 'closed', failures: 0, until: null, probe: null };
    }
  },
};
