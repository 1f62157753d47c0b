/** The circuit breaker aggregate's events, one circuit per agent. */
import { z } from 'zod';

/**
 * The circuit breaker of one agent (sagas/circuit-breaker.ts), stream `circuit-<agent key>` where the
 * agent key is `<tenant>:<agentId>` (the agent's stream name without `agent-`, events/agent.ts).
 *
 *   closed --(threshold consecutive failed calls)--> open --(until passed)--> half-open
 *   half-open --(the probe call succeeds)--> closed;  --(the probe fails)--> open again
 *
 * Every event carries `agentKey`, which the discovery projection reads to set the agent's routability.
 */
const agentKey = z.string().min(1);

/** A failed call while closed (not yet at the threshold). */
export const CircuitFailureRecorded = z.object({
  type: z.literal('CircuitFailureRecorded'),
  data: z.object({
    agentKey,
    callId: z.string(),
    failures: z.number().int().min(1),
    error: z.string(),
    at: z.string(),
  }),
});
/** A successful call while closed after failures: the count starts again. */
export const CircuitFailuresReset = z.object({
  type: z.literal('CircuitFailuresReset'),
  data: z.object({ agentKey, callId: z.string(), at: z.string() }),
});
export const CircuitOpened = z.object({
  type: z.literal('CircuitOpened'),
  data: z.object({
    agentKey,
    /** When the cooldown ends: from then on the circuit may be half-opened. */
    until: z.string(),
    failures: z.number().int().min(1),
    reason: z.string(),
    /** The call that opened it (the threshold failure, or a failed probe). */
    callId: z.string(),
    at: z.string(),
  }),
});
export const CircuitHalfOpened = z.object({
  type: z.literal('CircuitHalfOpened'),
  data: z.object({ agentKey, at: z.string() }),
});
/** One task's call is the probe of a half-open circuit: no other call goes until its outcome is known. */
export const CircuitProbeClaimed = z.object({
  type: z.literal('CircuitProbeClaimed'),
  data: z.object({ agentKey, taskId: z.string(), at: z.string() }),
});
/** The probe's task did not judge the agent (canceled): another call may probe. */
export const CircuitProbeReleased = z.object({
  type: z.literal('CircuitProbeReleased'),
  data: z.object({ agentKey, taskId: z.string(), at: z.string() }),
});
export const CircuitClosed = z.object({
  type: z.literal('CircuitClosed'),
  data: z.object({ agentKey, callId: z.string(), at: z.string() }),
});

export const CircuitEvent = z.discriminatedUnion('type', [
  CircuitFailureRecorded,
  CircuitFailuresReset,
  CircuitOpened,
  CircuitHalfOpened,
  CircuitProbeClaimed,
  CircuitProbeReleased,
  CircuitClosed,
]);
export type CircuitEvent = z.infer<typeof CircuitEvent>;

export const CIRCUIT_STREAM_PREFIX = 'circuit-';
export const circuitStream = (agentKey: string) => `${CIRCUIT_STREAM_PREFIX}${agentKey}`;
export const agentKeyOfCircuit = (stream: string): string | null =>
  stream.startsWith(CIRCUIT_STREAM_PREFIX) ? stream.slice(CIRCUIT_STREAM_PREFIX.length) : null;

/** The tenant an agent key (`tenant:agentId`) belongs to; '' for a key without one. */
export const tenantOfAgentKey = (agentKey: string) => agentKey.slice(0, Math.max(0, agentKey.indexOf(':')));
