import { randomUUID } from 'node:crypto';
import { type AgentSkillInfo, agentStream } from '../events/agent.ts';
import type { RecordedEvent } from '../events/envelope.ts';

const AT = '2026-01-01T00:00:00.000Z';

/** The AgentRegistered event of a synthetic in-process agent, as the benchmarks feed it to the projection. */
export const syntheticAgentRegistered = (
  tenant: string,
  agent: { id: string; skills: AgentSkillInfo[]; cost?: number },
  position: number,
): RecordedEvent => ({
  id: randomUUID(),
  stream: agentStream(tenant, agent.id),
  revision: 0,
  position,
  type: 'AgentRegistered',
  schemaVersion: 1,
  occurredAt: AT,
  data: {
    agentId: agent.id,
    name: agent.id,
    description: '',
    endpoint: { kind: 'in-process' },
    skills: agent.skills,
    costPerRequest: agent.cost ?? 0,
    at: AT,
  },
  metadata: { tenant, principal: 'bench', correlationId: 'bench', causationId: null },
});
