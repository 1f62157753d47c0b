/**
 * Multi-agent patterns as ready-made workflow definitions: each is an ordinary workflow (versioned, run by
 * the saga, an A2A agent of its tenant), so everything a run does is in its log.
 *
 * - supervisor: the supervisor agent splits the task into subtasks (one per line, or a JSON array), the
 *   workers run them all at once (a map node), the supervisor writes the answer from their results;
 * - hierarchical: a supervisor whose workers are themselves supervisor workflows (`workflow:<team>`);
 * - handoff: a triage agent answers, or hands the conversation to a specialist by answering
 *   `handoff:<specialist> <note>`; the specialist gets the user's words and the triage note, in the same
 *   A2A context (every task of a run shares the run's contextId);
 * - network (swarm): agents address each other by capability (`handoff:<skill or tag> <note>`), each hop
 *   routed to the best agent that has it, until one answers; the hop bound ends a run that goes round.
 */
import type { Capability, WorkflowDefinition } from '../events/workflow-definition.ts';
import { WorkflowBuilder } from './builder.ts';

export interface SupervisorOptions {
  supervisor: string;
  worker: string;
  maxSubtasks?: number;
  /** Attempts per subtask (default 2). */
  attempts?: number;
  description?: string;
}

export const PLAN_PROMPT =
  'Break this task into independent subtasks, one per line, nothing else:\n{{input}}';
export const SYNTHESIS_PROMPT =
  'Task: {{input}}\nResults of its subtasks, one per line:\n{{steps.work.output}}\nWrite the final answer.';

export const supervisorWorkflow = (name: string, o: SupervisorOptions): WorkflowDefinition =>
  new WorkflowBuilder(
    name,
    o.description ?? `${o.supervisor} plans, ${o.worker} works, ${o.supervisor} answers`,
  )
    .task('plan', { agent: o.supervisor, input: PLAN_PROMPT })
    .map('work', {
      over: 'plan',
      agent: o.worker,
      input: '{{item}}',
      maxItems: o.maxSubtasks ?? 10,
      retry: { maxAttempts: o.attempts ?? 2, backoffMs: 200 },
    })
    .task('answer', { agent: o.supervisor, input: SYNTHESIS_PROMPT })
    .build();

/** Supervisors of supervisors: each subtask goes to the team workflow `team` (itself a supervisor). */
export const hierarchicalWorkflow = (
  name: string,
  o: Omit<SupervisorOptions, 'worker'> & { team: string },
): WorkflowDefinition => supervisorWorkflow(name, { ...o, worker: `workflow:${o.team}` });

export interface HandoffOptions {
  triage: string;
  /** By the name the triage agent hands off with: the specialist agent. */
  specialists: Record<string, string>;
  description?: string;
}

export const handoffWorkflow = (name: string, o: HandoffOptions): WorkflowDefinition => {
  const names = Object.keys(o.specialists);
  const b = new WorkflowBuilder(
    name,
    o.description ?? `${o.triage} answers or hands off to ${names.join(', ')}`,
  )
    .task('triage', { agent: o.triage, input: '{{input}}', next: 'route' })
    .decide(
      'route',
      names.map((n) => ({ when: { step: 'triage', matches: `^handoff:${n}\\b` }, next: `to-${n}` })),
    );
  for (const n of names) {
    b.task(`to-${n}`, {
      agent: o.specialists[n]!,
      input: '{{input}}\n\n(handed over by the triage agent: {{steps.triage.output}})',
      end: true,
    });
  }
  return b.build();
};

export interface NetworkOptions {
  /** The agent that takes the work first (by id), or the capability to route it to. */
  entry: string | { capability: Capability };
  maxHops?: number;
  /** Attempts per hop (default 1). */
  attempts?: number;
  description?: string;
}

export const networkWorkflow = (name: string, o: NetworkOptions): WorkflowDefinition =>
  new WorkflowBuilder(
    name,
    o.description ??
      `agents hand the work to each other by capability until one answers (at most ${o.maxHops ?? 8} hops)`,
  )
    .swarm('solve', {
      ...(typeof o.entry === 'string' ? { agent: o.entry } : o.entry),
      input: '{{input}}',
      maxHops: o.maxHops ?? 8,
      ...(o.attempts && o.attempts > 1 ? { retry: { maxAttempts: o.attempts } } : {}),
    })
    .build();
