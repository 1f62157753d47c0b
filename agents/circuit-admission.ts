/**
 * Circuit admission, what the remote worker asks before it calls an agent: closed goes; half-open goes as
 * the probe if this task gets the slot (ClaimProbe); open, or another task probing, is refused with the
 * reason. The circuit breaker saga (sagas/circuit-breaker.ts) opens and closes the circuits.
 */
import { type CircuitState, circuitAdmits, circuitDecider } from '../commands/circuit.ts';
import { isRuleViolation } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { type CircuitEvent, circuitStream, tenantOfAgentKey } from '../events/circuit.ts';
import type { EventStore } from '../infra/event-store/port.ts';

export type Admission = { go: 'closed' | 'probe' } | { refused: string };

/**
 * May a call to the agent go now, for this task? Closed: yes. Half-open (or open past its cooldown): yes
 * if this task holds, or gets, the probe slot. Open, or another task probing: no, and why.
 */
export const admitCall = async (
  store: EventStore,
  agentKey: string,
  taskId: string,
  options: { staleAfterMs: number; now: string; correlationId?: string },
): Promise<Admission> => {
  const stream = circuitStream(agentKey);
  const events = await store.readStream(stream);
  const state = fold<CircuitState, CircuitEvent>(circuitDecider, events);
  const verdict = circuitAdmits(state, options.now, taskId, options.staleAfterMs);
  if (verdict === 'closed') return { go: 'closed' };
  if (state.state === 'half-open' && state.probe?.taskId === taskId) return { go: 'probe' }; // routing claimed it
  if (verdict === 'open') return { refused: `the circuit of agent ${agentKey} is open until ${state.until}` };
  if (verdict === 'probe-in-flight') {
    return { refused: `the circuit of agent ${agentKey} is half-open and another task is probing it` };
  }
  try {
    await handle(
      store,
      stream,
      { type: 'ClaimProbe', agentKey, taskId, staleAfterMs: options.staleAfterMs, at: options.now },
      circuitDecider,
      {
        tenant: tenantOfAgentKey(agentKey),
        principal: 'agent-worker:remote',
        // Per circuit revision: a later probe of the same task (a follow-up) is a new claim.
        commandId: `probe:${taskId}:${events.length}`,
        ...(options.correlationId ? { correlationId: options.correlationId } : {}),
      },
    );
    return { go: 'probe' };
  } catch (error) {
    if (isRuleViolation(error)) return { refused: error.message };
    throw error;
  }
};
