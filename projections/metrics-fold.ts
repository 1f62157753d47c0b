/**
 * The metrics read model's fold, pure: a batch of events, with the open tasks, open runs and agent costs
 * they touch, gives what each terminal task or run adds to the minute buckets and the latency samples.
 *
 * Times are the events' `occurredAt` (never a clock), so a rebuild folds exactly what the live run folded.
 * Attribution:
 * - agent: TaskRouted's `agentKey` when routed; else the agent the task names (`<tenant>:<name>` when the
 *   tenant registered one, else the hub's `system:<name>`), corrected by RemoteCallIntended's `agentKey`.
 *   None (routing rejected it, canceled before routing): agent ''.
 * - skill: TaskRouted's `skillId`; else `metadata.skill` when the sender gave one; else ''.
 * - cost: per task bound to an agent, once, at its terminal state: the agent's `costPerRequest` from its
 *   registration (AgentRegistered/Updated) when the task was bound; an agent with no registration in the log
 *   is charged the declared `cost` routing recorded for it (TaskRouted, a candidate without observations).
 * - call latency: RemoteCallCompleted's `latencyMs` (the remote agent's own time, without the hub's queues),
 *   under the called agent and the task's skill.
 * - tokens: artifacts' `metadata.usage = { promptTokens, completionTokens }` (what agents/llm.ts writes on
 *   an answer's last chunk), summed over the task.
 * - workflow: a run's own counts and latency (started → completed/failed; failed after a cancel or a
 *   timeout counts as canceled), plus the cost and tokens of its step tasks (correlation `wfrun:<run id>`).
 */
import { AUTO_AGENT } from '../commands/task.ts';
import { type TaskState, TERMINAL_STATES } from '../events/a2a.ts';
import { parseAgentStream } from '../events/agent.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { TaskEvent } from '../events/task.ts';
import { runIdOfCorrelation, runIdOfStream } from '../events/workflow.ts';

export interface OpenTask {
  taskId: string;
  tenant: string;
  agent: string;
  skill: string;
  /** The workflow run the task is a step of (its correlation), if any. */
  runId: string | null;
  submittedAt: string;
  workingAt: string | null;
  cost: number;
  promptTokens: number;
  completionTokens: number;
}

export interface OpenRun {
  runId: string;
  tenant: string;
  workflow: string;
  startedAt: string;
  canceled: boolean;
}

export type Scope = 'task' | 'run';
export type TerminalCount = 'completed' | 'failed' | 'canceled' | 'rejected';
/** submitted → first working, submitted → terminal, and a remote agent's call (RemoteCallCompleted). */
export type LatencyKind = 'working' | 'terminal' | 'call';

/** The dimensions of one row: agent and skill for tasks, workflow for runs ('' where not applicable). */
export interface MetricKey {
  tenant: string;
  scope: Scope;
  agent: string;
  skill: string;
  workflow: string;
}

/** What one terminal task or run (or a step task's cost, to its workflow) adds at an instant. */
export interface Contribution extends MetricKey {
  at: string;
  outcome: TerminalCount | null;
  cost: number;
  promptTokens: number;
  completionTokens: number;
}

export interface LatencySample extends MetricKey {
  at: string;
  kind: LatencyKind;
  ms: number;
}

/** What the batch reads and changes; `null` means deleted (closed task or run, deregistered agent). */
export interface FoldState {
  tasks: Map<string, OpenTask | null>;
  runs: Map<string, OpenRun | null>;
  /** costPerRequest by agent key; a key present means the agent is registered. */
  costs: Map<string, number | null>;
}

export interface FoldOutput {
  contributions: Contribution[];
  samples: LatencySample[];
}

/** The metrics event types (the projection's filter). */
export const METRICS_EVENT_TYPES = [
  'TaskSubmitted',
  'TaskStatusUpdated',
  'TaskArtifactUpdated',
  'TaskRouted',
  'RemoteCallIntended',
  'RemoteCallCompleted',
  'AgentRegistered',
  'AgentUpdated',
  'AgentDeregistered',
  'WorkflowRunStarted',
  'WorkflowRunCancelRequested',
  'WorkflowRunTimedOut',
  'WorkflowRunCompleted',
  'WorkflowRunFailed',
];

const OUTCOME: Partial<Record<TaskState, TerminalCount>> = {
  TASK_STATE_COMPLETED: 'completed',
  TASK_STATE_FAILED: 'failed',
  TASK_STATE_CANCELED: 'canceled',
  TASK_STATE_REJECTED: 'rejected',
};

const elapsed = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from));

const taskKey = (t: OpenTask): MetricKey => ({
  tenant: t.tenant,
  scope: 'task',
  agent: t.agent,
  skill: t.skill,
  workflow: '',
});
const runKey = (r: OpenRun): MetricKey => ({
  tenant: r.tenant,
  scope: 'run',
  agent: '',
  skill: '',
  workflow: r.workflow,
});

/** Tokens an artifact reports (`metadata.usage`), zero when it reports none or something else. */
export const usageOf = (metadata: Record<string, unknown> | undefined) => {
  const usage = metadata?.usage as { promptTokens?: unknown; completionTokens?: unknown } | undefined;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  return { prompt: count(usage?.promptTokens), completion: count(usage?.completionTokens) };
};

/** The agent keys a task naming `name` may mean, in the order they are tried (the workers' rule). */
export const namedAgentKeys = (tenant: string, name: string) => [`${tenant}:${name}`, `system:${name}`];

/** Folds the batch into `state` (changed in place) and returns what it adds to the buckets. */
export const foldMetrics = (events: ReadonlyArray<RecordedEvent>, state: FoldState): FoldOutput => {
  const out: FoldOutput = { contributions: [], samples: [] };
  for (const event of events) {
    if (event.stream.startsWith('task-')) foldTask(event, state, out);
    else if (event.stream.startsWith('wfrun-')) foldRun(event, state, out);
    else foldAgent(event, state);
  }
  return out;
};

const foldAgent = (event: RecordedEvent, state: FoldState) => {
  const agent = parseAgentStream(event.stream);
  if (!agent) return;
  const key = `${agent.tenant}:${agent.agentId}`;
  const data = event.data as { costPerRequest?: unknown };
  const cost = typeof data.costPerRequest === 'number' ? data.costPerRequest : undefined;
  if (event.type === 'AgentRegistered') state.costs.set(key, cost ?? 0);
  else if (event.type === 'AgentUpdated' && cost !== undefined && state.costs.get(key) != null)
    state.costs.set(key, cost);
  else if (event.type === 'AgentDeregistered') state.costs.set(key, null);
};

const costOf = (state: FoldState, agentKey: string) => state.costs.get(agentKey) ?? 0;

const foldTask = (recorded: RecordedEvent, state: FoldState, out: FoldOutput) => {
  const parsed = TaskEvent.safeParse({ type: recorded.type, data: recorded.data });
  if (!parsed.success) return;
  const event = parsed.data;
  const taskId = recorded.stream.slice('task-'.length);
  const at = recorded.occurredAt;
  if (event.type === 'TaskSubmitted') {
    if (recorded.revision !== 0 || state.tasks.get(taskId)) return;
    const tenant = recorded.metadata.tenant;
    const { agent: name, metadata } = event.data;
    let agent = '';
    if (name !== null && name !== AUTO_AGENT) {
      const [own, system] = namedAgentKeys(tenant, name) as [string, string];
      agent = state.costs.get(own) != null ? own : system;
    }
    const skill = typeof metadata?.skill === 'string' ? metadata.skill.trim().slice(0, 200) : '';
    state.tasks.set(taskId, {
      taskId,
      tenant,
      agent,
      skill,
      runId: runIdOfCorrelation(recorded.metadata.correlationId),
      submittedAt: at,
      workingAt: null,
      cost: agent ? costOf(state, agent) : 0,
      promptTokens: 0,
      completionTokens: 0,
    });
    return;
  }
  const task = state.tasks.get(taskId);
  if (!task) return;
  switch (event.type) {
    case 'TaskRouted': {
      task.agent = event.data.agentKey;
      task.skill = event.data.skillId;
      // The registered price; the candidate's `cost` is what routing scored (blended with observations).
      const declared = state.costs.get(task.agent);
      const chosen = event.data.candidates.find((c) => c.agentKey === task.agent && c.skillId === task.skill);
      task.cost = declared ?? (chosen && !chosen.observed ? chosen.cost : 0);
      return;
    }
    case 'RemoteCallIntended':
      if (task.agent !== event.data.agentKey) {
        task.agent = event.data.agentKey;
        task.cost = costOf(state, task.agent);
      }
      return;
    case 'RemoteCallCompleted': {
      const { latencyMs, agentKey } = event.data;
      if (latencyMs === null) return;
      out.samples.push({ ...taskKey(task), agent: agentKey, at, kind: 'call', ms: latencyMs });
      return;
    }
    case 'TaskArtifactUpdated': {
      const usage = usageOf(event.data.artifact.metadata);
      task.promptTokens += usage.prompt;
      task.completionTokens += usage.completion;
      return;
    }
    case 'TaskStatusUpdated': {
      const s = event.data.state;
      if (s === 'TASK_STATE_WORKING' && task.workingAt === null) {
        task.workingAt = at;
        out.samples.push({ ...taskKey(task), at, kind: 'working', ms: elapsed(task.submittedAt, at) });
      }
      if (!TERMINAL_STATES.has(s)) return;
      const cost = task.agent ? task.cost : 0;
      const usage = { promptTokens: task.promptTokens, completionTokens: task.completionTokens };
      out.contributions.push({ ...taskKey(task), at, outcome: OUTCOME[s] ?? null, cost, ...usage });
      out.samples.push({ ...taskKey(task), at, kind: 'terminal', ms: elapsed(task.submittedAt, at) });
      const run = task.runId ? state.runs.get(task.runId) : null;
      if (run && run.tenant === task.tenant && (cost > 0 || usage.promptTokens || usage.completionTokens))
        out.contributions.push({ ...runKey(run), at, outcome: null, cost, ...usage });
      state.tasks.set(taskId, null);
      return;
    }
  }
};

const foldRun = (event: RecordedEvent, state: FoldState, out: FoldOutput) => {
  const runId = runIdOfStream(event.stream);
  const at = event.occurredAt;
  if (event.type === 'WorkflowRunStarted') {
    const workflow = (event.data as { workflow?: unknown }).workflow;
    if (typeof workflow !== 'string' || state.runs.get(runId)) return;
    state.runs.set(runId, { runId, tenant: event.metadata.tenant, workflow, startedAt: at, canceled: false });
    return;
  }
  const run = state.runs.get(runId);
  if (!run) return;
  if (event.type === 'WorkflowRunCancelRequested' || event.type === 'WorkflowRunTimedOut') {
    run.canceled = true;
    return;
  }
  if (event.type !== 'WorkflowRunCompleted' && event.type !== 'WorkflowRunFailed') return;
  const outcome = event.type === 'WorkflowRunCompleted' ? 'completed' : run.canceled ? 'canceled' : 'failed';
  const none = { cost: 0, promptTokens: 0, completionTokens: 0 };
  out.contributions.push({ ...runKey(run), at, outcome, ...none });
  out.samples.push({ ...runKey(run), at, kind: 'terminal', ms: elapsed(run.startedAt, at) });
  state.runs.set(runId, null);
};
