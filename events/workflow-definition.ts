/**
 * Workflow definitions as data: the zod schema of what WorkflowDefined events carry, and its graph checks.
 * (workflows/builder.ts writes them in code.) A definition is a graph of nodes:
 * - task: one A2A task for an agent named by id or found by capability (routed), its input a template over
 *   the run's input and earlier steps' outputs (`{{input}}`, `{{steps.<id>.output}}`); optional retries,
 *   a timeout, and a compensating task run, in reverse order of completion, when a later step fails for good;
 * - decision: the first case whose condition holds on an earlier step's result picks the next node;
 * - parallel: its branches run at once (fan-out); once every branch has ended, the run goes on at its
 *   `next` (fan-in). A branch is the part of the graph reached from its first node, closed: it leads
 *   nowhere outside itself, and ends where a path has no next node;
 * - map: one task per item of an earlier output (a dynamic fan-out);
 * - swarm: agents hand the work to each other by capability until one answers, at most `maxHops` hops.
 * A task may also repeat (a bounded loop): it runs again, its previous output in `{{steps.<id>.output}}`,
 * until its output meets a condition or it has run `maxIterations` times.
 * A node without `next` ends the run (or its branch). The graph is acyclic (checked): every run terminates.
 * A definition may bound the whole run's time (`timeoutMs`).
 */
import { z } from 'zod';
import { TaskState } from './a2a.ts';
import { AgentSkillInfo } from './agent.ts';
import { patternProblem } from './workflow-pattern.ts';

const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const NODE_ID_RULE = 'node ids are 1-63 chars of a-z, 0-9, "_" or "-"';
const nodeId = z.string().regex(NODE_ID, NODE_ID_RULE);
export const workflowName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'workflow names are 1-63 chars of a-z, 0-9, "_" or "-"');

/**
 * An agent found by what it can do rather than by name: the step's task is routed (sagas/routing.ts) to the
 * best agent of the tenant with this skill id or one of these tags, or whose skills are closest in meaning
 * to `query` (by default, to the step's input).
 */
export const Capability = z
  .object({
    skill: z.string().min(1).max(200).optional(),
    tags: z.array(z.string().min(1).max(100)).max(20).optional(),
    query: z.string().min(1).max(2000).optional(),
  })
  .refine((c) => c.skill !== undefined || (c.tags?.length ?? 0) > 0 || c.query !== undefined, {
    message: 'a capability names a skill, tags or a query',
  });
export type Capability = z.output<typeof Capability>;

/** Who runs a step: an agent by id, or a capability (exactly one of the two, checked with the graph). */
export const StepCall = z.object({
  agent: z.string().min(1).optional(),
  capability: Capability.optional(),
  /** Template: `{{input}}` is the run's input text, `{{steps.<id>.output}}` a completed step's output. */
  input: z.string(),
});
export type StepCall = z.output<typeof StepCall>;
export const Retry = z.object({
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(10),
  /** Wait before the second attempt, doubled for each one after (0: at once). */
  backoffMs: z.number().int().min(0).max(3_600_000).default(0),
  /** The longest wait between attempts. */
  maxBackoffMs: z.number().int().min(0).max(86_400_000).default(300_000),
});
const tests = {
  state: TaskState.optional(),
  contains: z.string().optional(),
  equals: z.string().optional(),
  /**
   * A regular expression in RE2 syntax (events/workflow-pattern.ts: matched in linear time, so no backreferences
   * or lookarounds; at most 1,000 characters), found anywhere in the step's output.
   */
  matches: z.string().optional(),
};
type Tests = { state?: string; contains?: string; equals?: string; matches?: string };
const testsSomething = (c: Tests) => (c.state ?? c.contains ?? c.equals ?? c.matches) !== undefined;
/** A pattern RE2 cannot run is refused with the definition, at its field (`nodes.<id>.cases.0.when.matches`). */
const checkMatches = (c: Tests, ctx: z.RefinementCtx) => {
  const problem = c.matches === undefined ? null : patternProblem(c.matches);
  if (problem) ctx.addIssue({ code: 'custom', path: ['matches'], message: problem });
};
export const Condition = z
  .object({ step: nodeId, ...tests })
  .refine(testsSomething, 'a condition tests something')
  .superRefine(checkMatches);
export const Repeat = z.object({
  /** Tested on each iteration's own result; when it holds, the step is done. */
  until: z.object(tests).refine(testsSomething, 'a condition tests something').superRefine(checkMatches),
  maxIterations: z.number().int().min(1).max(100),
});
export const TaskNode = StepCall.extend({
  kind: z.literal('task'),
  next: nodeId.optional(),
  retry: Retry.optional(),
  repeat: Repeat.optional(),
  /** A task still running this long after it was submitted is canceled, and the attempt counts as failed. */
  timeoutMs: z.number().int().min(10).max(86_400_000).optional(),
  /** Undoes the step's effect; runs only if the step completed and a later step failed for good. */
  compensate: StepCall.optional(),
});
export const DecisionNode = z.object({
  kind: z.literal('decision'),
  cases: z.array(z.object({ when: Condition, next: nodeId })).min(1),
  /** Taken when no case holds; absent, the run ends there. */
  otherwise: nodeId.optional(),
});
export const ParallelNode = z.object({
  kind: z.literal('parallel'),
  /** The first node of each branch. */
  branches: z.array(nodeId).min(2),
  /** Where the run goes once every branch has ended; absent, the run (or the enclosing branch) ends. */
  next: nodeId.optional(),
});
/**
 * A dynamic fan-out: one task per item of an earlier step's output (a JSON array, or its non-empty lines),
 * all at once, the item in `{{item}}`; the node's output is the items' outputs, one per line, in order.
 */
export const MapNode = StepCall.extend({
  kind: z.literal('map'),
  /** The step whose output lists the items. */
  over: nodeId,
  maxItems: z.number().int().min(1).max(1000).default(50),
  next: nodeId.optional(),
  retry: Retry.optional(),
  timeoutMs: z.number().int().min(10).max(86_400_000).optional(),
});
/**
 * A network of agents (swarm): the first hop's agent answers, or hands the work on by capability with a
 * first line `handoff:<capability> <note>` (a skill id or tag of the agent wanted); the next hop goes to
 * the agent routing finds for it, its input the step's input and every note so far. The first answer that
 * hands nothing on is the node's output; `maxHops` hops without one fail the step.
 */
export const SwarmNode = StepCall.extend({
  kind: z.literal('swarm'),
  maxHops: z.number().int().min(1).max(50).default(8),
  next: nodeId.optional(),
  /** Per hop. */
  retry: Retry.optional(),
  /** Per hop. */
  timeoutMs: z.number().int().min(10).max(86_400_000).optional(),
});
export const WorkflowNode = z.discriminatedUnion('kind', [
  TaskNode,
  DecisionNode,
  ParallelNode,
  MapNode,
  SwarmNode,
]);

export const WorkflowDefinition = z
  .object({
    name: workflowName,
    description: z.string().default(''),
    /** What the workflow offers as an A2A agent (its card's skills); one skill named after it if empty. */
    skills: z.array(AgentSkillInfo).default([]),
    start: nodeId,
    nodes: z.preprocess(refuseInheritedKeys, z.record(nodeId, WorkflowNode)),
    /**
     * The whole run's time limit: past it, the steps in flight are canceled and the completed ones
     * compensated (compensations are not cut short), and the run fails.
     */
    timeoutMs: z
      .number()
      .int()
      .min(10)
      .max(30 * 86_400_000)
      .optional(),
  })
  .superRefine((d, ctx) => {
    for (const problem of graphProblems(d)) ctx.addIssue({ code: 'custom', message: problem });
  });
export type WorkflowDefinition = z.output<typeof WorkflowDefinition>;
export type WorkflowNode = z.output<typeof WorkflowNode>;
export type TaskNode = z.output<typeof TaskNode>;
export type Condition = z.output<typeof Condition>;
export type ParallelNode = z.output<typeof ParallelNode>;
export type MapNode = z.output<typeof MapNode>;
export type SwarmNode = z.output<typeof SwarmNode>;
/** The nodes that run tasks (their results are what decisions, templates and maps read). */
export type StepNode = TaskNode | MapNode | SwarmNode;
export const isStepNode = (node: WorkflowNode | undefined): node is StepNode =>
  node?.kind === 'task' || node?.kind === 'map' || node?.kind === 'swarm';

/** `nodes.check.cases.0.when.matches: <message>`: where in the definition, and what is wrong there. */
const _describeIssue = (issue: z.core.$ZodIssue): string =>
  `${issue.path.length ? `${issue.path.map(String).join('.')}: ` : ''}${issue.message}`;

/**
 * A node map's own property, never one it inherits: a node id such as `constructor` is a valid id, and a
 * lookup of a missing one must not find `Object.prototype.constructor`.
 */
export const own = <T>(record: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;

/**
 * `__proto__` (which JSON.parse makes an own key) is dropped by a zod record without a word, and would set
 * the parsed object's prototype: refused by name, as any other invalid node id.
 */
function refuseInheritedKeys(raw: unknown, ctx: z.core.$RefinementCtx): unknown {
  if (raw === null || typeof raw !== 'object') return raw;
  if (Object.hasOwn(raw, '__proto__'))
    ctx.addIssue({ code: 'custom', path: ['__proto__'], message: `node id "__proto__": ${NODE_ID_RULE}` });
  return raw;
}

/** Where a node leads: a parallel node to its branches and to its join continuation. */
const successors = (node: WorkflowNode): string[] => {
  if (isStepNode(node)) return node.next ? [node.next] : [];
  if (node.kind === 'parallel') return [...node.branches, ...(node.next ? [node.next] : [])];
  return [...node.cases.map((c) => c.next), ...(node.otherwise ? [node.otherwise] : [])];
};
/** Where a node leads within its own branch (a parallel node: past its join). */
const within = (node: WorkflowNode): string[] =>
  node.kind === 'parallel' ? (node.next ? [node.next] : []) : successors(node);

/**
 * For each node inside a branch, the parallel node whose branch it is in (the innermost one: a walk along
 * `within` from a branch never enters a nested parallel's branches): where its path arrives when it ends.
 * `shared` lists nodes found in the branches of two parallel nodes (an invalid definition).
 */
export const branchOwners = (nodes: Record<string, WorkflowNode>) => {
  const owner = new Map<string, string>();
  const shared = new Set<string>();
  for (const [id, node] of Object.entries(nodes)) {
    if (node.kind !== 'parallel') continue;
    const inBranch = new Map<string, string>();
    for (const branch of node.branches) {
      const seen = new Set<string>();
      const stack = [branch];
      while (stack.length) {
        const n = stack.pop()!;
        if (seen.has(n) || !own(nodes, n)) continue;
        seen.add(n);
        // A branch leading to its own join (or back to its parallel node) is open: reported by the caller.
        if (n === node.next || n === id) continue;
        // In two branches (of this parallel node or of two): it would run once per branch.
        if ((inBranch.has(n) && inBranch.get(n) !== branch) || (owner.has(n) && owner.get(n) !== id))
          shared.add(n);
        inBranch.set(n, branch);
        owner.set(n, id);
        stack.push(...within(own(nodes, n)!));
      }
    }
  }
  return { owner, shared };
};

/** Unknown references, cycles, unreachable nodes, open branches, conditions on steps that may not have run. */
function graphProblems(d: { start: string; nodes: Record<string, WorkflowNode> }): string[] {
  const problems: string[] = [];
  const { nodes } = d;
  if (!own(nodes, d.start)) return [`start node "${d.start}" is not defined`];
  for (const [id, node] of Object.entries(nodes)) {
    for (const next of successors(node))
      if (!own(nodes, next)) problems.push(`node "${id}" leads to "${next}", which is not defined`);
    if (isStepNode(node)) {
      const calls: Array<[string, StepCall]> = [[`node "${id}"`, node]];
      if (node.kind === 'task' && node.compensate)
        calls.push([`the compensation of "${id}"`, node.compensate]);
      for (const [what, call] of calls)
        if ((call.agent === undefined) === (call.capability === undefined))
          problems.push(`${what} names an agent or a capability (one of the two)`);
    }
  }
  if (problems.length) return problems;
  const state = new Map<string, 'open' | 'done'>();
  const postorder: string[] = [];
  const visit = (id: string, path: string[]) => {
    if (state.get(id) === 'open') {
      problems.push(`cycle: ${[...path.slice(path.indexOf(id)), id].join(' -> ')}`);
      return;
    }
    if (state.get(id) === 'done') return;
    state.set(id, 'open');
    for (const next of successors(own(nodes, id)!)) visit(next, [...path, id]);
    state.set(id, 'done');
    postorder.push(id);
  };
  visit(d.start, []);
  for (const id of Object.keys(nodes)) if (!state.has(id)) problems.push(`node "${id}" is unreachable`);
  if (problems.length) return problems;
  // Branches are closed: entered only from their parallel node, and leading nowhere outside themselves.
  const { owner, shared } = branchOwners(nodes);
  for (const n of shared) problems.push(`node "${n}" is in two branches`);
  for (const [id, node] of Object.entries(nodes)) {
    for (const next of within(node))
      if (owner.get(next) !== owner.get(id))
        problems.push(`node "${id}" leads out of its branch to "${next}"`);
    for (const next of node.kind === 'parallel' ? node.branches : [])
      if (owner.get(next) !== id) problems.push(`branch "${next}" of "${id}" is entered from elsewhere`);
    if (node.kind === 'parallel' && new Set(node.branches).size !== node.branches.length)
      problems.push(`parallel "${id}" lists a branch twice`);
  }
  if (problems.length) return problems;
  // definite(n): the task nodes run on every path from n to the end of n's branch (or of the run).
  const memo = new Map<string, Set<string>>();
  const definite = (id: string): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const node = own(nodes, id)!;
    let out: Set<string>;
    if (isStepNode(node)) out = new Set([id, ...(node.next ? definite(node.next) : [])]);
    else if (node.kind === 'parallel')
      out = new Set([
        ...node.branches.flatMap((b) => [...definite(b)]),
        ...(node.next ? definite(node.next) : []),
      ]);
    else {
      const paths = [
        ...node.cases.map((c) => definite(c.next)),
        node.otherwise ? definite(node.otherwise) : new Set<string>(),
      ];
      out = new Set([...paths[0]!].filter((t) => paths.every((p) => p.has(t))));
    }
    memo.set(id, out);
    return out;
  };
  // before(n): the task nodes run on every path from the start to n (the join: each branch's too).
  const before = new Map<string, Set<string>>([[d.start, new Set()]]);
  const meet = (target: string, ran: Set<string>) => {
    const known = before.get(target);
    before.set(target, known ? new Set([...known].filter((t) => ran.has(t))) : new Set(ran));
  };
  for (const id of postorder.reverse()) {
    const node = own(nodes, id)!;
    const here = before.get(id) ?? new Set<string>();
    if (isStepNode(node)) {
      if (node.next) meet(node.next, new Set([...here, id]));
    } else if (node.kind === 'decision') {
      for (const next of successors(node)) meet(next, here);
    } else {
      for (const b of node.branches) meet(b, here);
      if (node.next) meet(node.next, new Set([...here, ...node.branches.flatMap((b) => [...definite(b)])]));
    }
  }
  const isStep = (n: string) => isStepNode(own(nodes, n));
  for (const [id, node] of Object.entries(nodes)) {
    if (node.kind === 'map') {
      if (!isStep(node.over))
        problems.push(`map "${id}" is over "${node.over}", which is not a step that runs tasks`);
      else if (!before.get(id)?.has(node.over))
        problems.push(`map "${id}" is over "${node.over}", which has not always run before it`);
    }
    if (node.kind !== 'decision') continue;
    for (const c of node.cases) {
      if (!isStep(c.when.step))
        problems.push(`decision "${id}" tests "${c.when.step}", which is not a task node`);
      else if (!before.get(id)?.has(c.when.step))
        problems.push(`decision "${id}" tests "${c.when.step}", which has not always run before it`);
    }
  }
  return problems;
}
