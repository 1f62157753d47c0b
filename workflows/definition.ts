/**
 * Workflow definitions: data (zod-checked, stored in WorkflowDefined events) and the typed builder that
 * writes them. A definition is a graph of nodes:
 * - task: one A2A task for an in-hub or registered agent, its input a template over the run's input and
 *   earlier steps' outputs (`{{input}}`, `{{steps.<id>.output}}`); optional retries and a compensating task
 *   run, in reverse order of completion, when a later step fails for good;
 * - decision: the first case whose condition holds on an earlier step's result picks the next node.
 * A node without `next` ends the run. The graph is acyclic (checked): every run terminates.
 */
import { z } from 'zod';
import { TaskState } from '../events/a2a.ts';

const nodeId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'node ids are 1-63 chars of a-z, 0-9, "_" or "-"');
export const workflowName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'workflow names are 1-63 chars of a-z, 0-9, "_" or "-"');

export const StepCall = z.object({
  agent: z.string().min(1),
  /** Template: `{{input}}` is the run's input text, `{{steps.<id>.output}}` a completed step's output. */
  input: z.string(),
});
export const Retry = z.object({
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(10),
});
export const TaskNode = StepCall.extend({
  kind: z.literal('task'),
  next: nodeId.optional(),
  retry: Retry.optional(),
  /** Undoes the step's effect; runs only if the step completed and a later step failed for good. */
  compensate: StepCall.optional(),
});
export const Condition = z
  .object({
    step: nodeId,
    state: TaskState.optional(),
    contains: z.string().optional(),
    equals: z.string().optional(),
    /** A regular expression (JavaScript syntax, no flags) tested against the step's output. */
    matches: z.string().optional(),
  })
  .refine((c) => c.state ?? c.contains ?? c.equals ?? c.matches, 'a condition tests something')
  .refine((c) => c.matches === undefined || validRegExp(c.matches), 'matches is not a valid regex');
export const DecisionNode = z.object({
  kind: z.literal('decision'),
  cases: z.array(z.object({ when: Condition, next: nodeId })).min(1),
  /** Taken when no case holds; absent, the run ends there. */
  otherwise: nodeId.optional(),
});
export const WorkflowNode = z.discriminatedUnion('kind', [TaskNode, DecisionNode]);

export const WorkflowDefinition = z
  .object({
    name: workflowName,
    description: z.string().default(''),
    start: nodeId,
    nodes: z.record(nodeId, WorkflowNode),
  })
  .superRefine((d, ctx) => {
    for (const problem of graphProblems(d)) ctx.addIssue({ code: 'custom', message: problem });
  });
export type WorkflowDefinition = z.output<typeof WorkflowDefinition>;
export type WorkflowNode = z.output<typeof WorkflowNode>;
export type TaskNode = z.output<typeof TaskNode>;
export type Condition = z.output<typeof Condition>;

function validRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const successors = (node: WorkflowNode): string[] =>
  node.kind === 'task'
    ? node.next
      ? [node.next]
      : []
    : [...node.cases.map((c) => c.next), ...(node.otherwise ? [node.otherwise] : [])];

/** Unknown references, cycles, unreachable nodes, conditions on steps that cannot have run yet. */
function graphProblems(d: { start: string; nodes: Record<string, WorkflowNode> }): string[] {
  const problems: string[] = [];
  const { nodes } = d;
  if (!nodes[d.start]) return [`start node "${d.start}" is not defined`];
  for (const [id, node] of Object.entries(nodes)) {
    for (const next of successors(node))
      if (!nodes[next]) problems.push(`node "${id}" leads to "${next}", which is not defined`);
  }
  if (problems.length) return problems;
  // Depth-first from the start: a back edge is a cycle; what was never visited is unreachable.
  const state = new Map<string, 'open' | 'done'>();
  const postorder: string[] = [];
  const visit = (id: string, path: string[]) => {
    if (state.get(id) === 'open') {
      problems.push(`cycle: ${[...path.slice(path.indexOf(id)), id].join(' -> ')}`);
      return;
    }
    if (state.get(id) === 'done') return;
    state.set(id, 'open');
    for (const next of successors(nodes[id]!)) visit(next, [...path, id]);
    state.set(id, 'done');
    postorder.push(id);
  };
  visit(d.start, []);
  if (problems.length) return problems;
  // In topological order: the task nodes run on every path from the start to a node.
  const before = new Map<string, Set<string>>([[d.start, new Set()]]);
  for (const id of postorder.reverse()) {
    const node = nodes[id]!;
    const ran = new Set(before.get(id));
    if (node.kind === 'task') ran.add(id);
    for (const next of successors(node)) {
      const known = before.get(next);
      before.set(next, known ? new Set([...known].filter((s) => ran.has(s))) : new Set(ran));
    }
  }
  for (const id of Object.keys(nodes)) if (!state.has(id)) problems.push(`node "${id}" is unreachable`);
  for (const [id, node] of Object.entries(nodes)) {
    if (node.kind !== 'decision') continue;
    for (const c of node.cases) {
      if (nodes[c.when.step]?.kind !== 'task')
        problems.push(`decision "${id}" tests "${c.when.step}", which is not a task node`);
      else if (!before.get(id)?.has(c.when.step))
        problems.push(`decision "${id}" tests "${c.when.step}", which has not always run before it`);
    }
  }
  return problems;
}

/** A step's result as conditions and templates see it. */
export interface StepResult {
  state: string;
  output: string;
}

export const conditionHolds = (c: Condition, result: StepResult | undefined): boolean => {
  if (!result) return false;
  if (c.state !== undefined && result.state !== c.state) return false;
  if (c.equals !== undefined && result.output !== c.equals) return false;
  if (c.contains !== undefined && !result.output.includes(c.contains)) return false;
  if (c.matches !== undefined && !new RegExp(c.matches).test(result.output)) return false;
  return true;
};

/** Fills `{{input}}` and `{{steps.<id>.output}}`; a step that did not run leaves an empty string. */
export const renderInput = (
  template: string,
  input: string,
  results: Readonly<Record<string, StepResult>>,
): string =>
  template.replace(
    /\{\{\s*(input|steps\.([a-z0-9_-]+)\.output)\s*\}\}/g,
    (_, whole: string, step?: string) => (whole === 'input' ? input : (results[step!]?.output ?? '')),
  );

type TaskOptions = Omit<z.input<typeof TaskNode>, 'kind'> & {
  /** No successor: the run ends after this step (otherwise it flows to the next node added). */
  end?: boolean;
};

/**
 * Writes a definition node by node. A task node without `next` (and without `end`) flows to the node added
 * after it, so a sequence reads top to bottom; decisions name their branches. build() checks the graph.
 */
export class WorkflowBuilder {
  private readonly order: string[] = [];
  private readonly nodes: Record<string, z.input<typeof WorkflowNode>> = {};
  private readonly implicit = new Set<string>();

  constructor(
    private readonly name: string,
    private readonly description = '',
  ) {}

  task(id: string, options: TaskOptions): this {
    const { end, ...node } = options;
    this.add(id, { kind: 'task', ...node });
    if (!node.next && !end) this.implicit.add(id);
    return this;
  }

  decide(id: string, cases: Array<{ when: z.input<typeof Condition>; next: string }>, otherwise?: string) {
    this.add(id, { kind: 'decision', cases, ...(otherwise ? { otherwise } : {}) });
    return this;
  }

  build(): WorkflowDefinition {
    const nodes = structuredClone(this.nodes);
    this.order.forEach((id, i) => {
      const following = this.order[i + 1];
      if (this.implicit.has(id) && following) (nodes[id] as { next?: string }).next = following;
    });
    const parsed = WorkflowDefinition.safeParse({
      name: this.name,
      description: this.description,
      start: this.order[0] ?? '',
      nodes,
    });
    if (!parsed.success)
      throw new Error(`workflow "${this.name}": ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    return parsed.data;
  }

  private add(id: string, node: z.input<typeof WorkflowNode>) {
    if (this.nodes[id]) throw new Error(`workflow "${this.name}": node "${id}" is defined twice`);
    this.order.push(id);
    this.nodes[id] = node;
  }
}
