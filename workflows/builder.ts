/** The typed builder that writes a workflow definition in code, node by node, checked by build(). */
import type { z } from 'zod';
import type { AgentSkillInfo } from '../events/agent.ts';
import { describeZodIssues } from '../events/issues.ts';
import {
  type Condition,
  type MapNode,
  own,
  type SwarmNode,
  type TaskNode,
  WorkflowDefinition,
  type WorkflowNode,
} from '../events/workflow-definition.ts';

type TaskOptions = Omit<z.input<typeof TaskNode>, 'kind'> & {
  /** No successor: the run ends after this step (otherwise it flows to the next node added). */
  end?: boolean;
};

/**
 * Writes a definition node by node. A task node without `next` (and without `end`) flows to the node added
 * after it, so a sequence reads top to bottom; decisions and parallel nodes name where they lead (a
 * branch's last task says `end: true`). build() checks the graph.
 */
export class WorkflowBuilder {
  private readonly order: string[] = [];
  private readonly nodes: Record<string, z.input<typeof WorkflowNode>> = {};
  private readonly implicit = new Set<string>();
  private timeoutMs: number | undefined;

  constructor(
    private readonly name: string,
    private readonly description = '',
    private readonly skills: Array<z.input<typeof AgentSkillInfo>> = [],
  ) {}

  task(id: string, { end, ...node }: TaskOptions): this {
    return this.flowing(id, { kind: 'task', ...node }, end);
  }

  decide(id: string, cases: Array<{ when: z.input<typeof Condition>; next: string }>, otherwise?: string) {
    this.add(id, { kind: 'decision', cases, ...(otherwise ? { otherwise } : {}) });
    return this;
  }

  /** One task per item of step `over`'s output (`{{item}}` in the input); like a task, it flows to the next node added. */
  map(id: string, { end, ...node }: Omit<z.input<typeof MapNode>, 'kind'> & { end?: boolean }): this {
    return this.flowing(id, { kind: 'map', ...node }, end);
  }

  /** A network of agents handing the work on by capability; like a task, it flows to the next node added. */
  swarm(id: string, { end, ...node }: Omit<z.input<typeof SwarmNode>, 'kind'> & { end?: boolean }): this {
    return this.flowing(id, { kind: 'swarm', ...node }, end);
  }

  /** The whole run's time limit. */
  timeout(ms: number): this {
    this.timeoutMs = ms;
    return this;
  }

  /** Fans out to `branches` (their first nodes); the run goes on at `next` once all have ended. */
  parallel(id: string, branches: string[], next?: string): this {
    this.add(id, { kind: 'parallel', branches, ...(next ? { next } : {}) });
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
      skills: this.skills,
      start: this.order[0] ?? '',
      nodes,
      ...(this.timeoutMs !== undefined ? { timeoutMs: this.timeoutMs } : {}),
    });
    if (!parsed.success)
      throw new Error(`workflow "${this.name}": ${describeZodIssues(parsed.error.issues)}`);
    return parsed.data;
  }

  /** A step node: without `next` or `end`, it leads to the node added after it. */
  private flowing(
    id: string,
    node: z.input<typeof TaskNode> | z.input<typeof MapNode> | z.input<typeof SwarmNode>,
    end: boolean | undefined,
  ): this {
    this.add(id, node);
    if (!node.next && !end) this.implicit.add(id);
    return this;
  }

  private add(id: string, node: z.input<typeof WorkflowNode>) {
    if (own(this.nodes, id)) throw new Error(`workflow "${this.name}": node "${id}" is defined twice`);
    this.order.push(id);
    this.nodes[id] = node;
  }
}
