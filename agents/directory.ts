/** The in-process agents this hub runs, by id, and which one takes a task that names none. */
import type { Agent } from './agent.ts';
import { echoAgent, scenarioAgent } from './scenario.ts';

/** The agents running inside this hub, by id; `fallback` takes tasks that name none. */
export interface AgentDirectory {
  get(id: string): Agent | undefined;
  list(): Agent[];
  fallback: Agent;
}

export const agentDirectory = (agents: Agent[], fallbackId: string): AgentDirectory => {
  const byId = new Map(agents.map((a) => [a.id, a]));
  const fallback = byId.get(fallbackId);
  if (!fallback) throw new Error(`default agent ${fallbackId} is not among ${[...byId.keys()].join(', ')}`);
  return { get: (id) => byId.get(id), list: () => [...byId.values()], fallback };
};

/** What `npm start` registers: the scenario agent (the default) and the echo agent. */
export const builtInAgents = () => agentDirectory([scenarioAgent, echoAgent], scenarioAgent.id);
