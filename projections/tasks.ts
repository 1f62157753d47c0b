import { type TaskAggregate, taskDecider } from '../commands/task.ts';
import type { Task } from '../events/a2a.ts';
import { TaskEvent } from '../events/task.ts';
import type { Projection } from './projection.ts';

/** Tasks as ListTasks reads them: one row per task, the A2A Task JSON folded with the aggregate's own evolve. */
export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['rm_tasks'],
  filter: { streamPrefix: 'task-' },
  migrations: [
    `CREATE TABLE rm_tasks (
       id text PRIMARY KEY, tenant text NOT NULL, context_id text NOT NULL, state text NOT NULL,
       status_at timestamptz NOT NULL, agent text, revision int NOT NULL, task jsonb NOT NULL);
     CREATE INDEX rm_tasks_list ON rm_tasks (tenant, status_at DESC, id DESC);
     CREATE INDEX rm_tasks_context ON rm_tasks (tenant, context_id, status_at DESC)`,
  ],
  async apply(recorded, tx) {
    const parsed = TaskEvent.safeParse({ type: recorded.type, data: recorded.data });
    if (!parsed.success) return;
    const event = parsed.data;
    const [row] = await tx.query<{ task: Task; agent: string | null }>(
      'SELECT task, agent FROM rm_tasks WHERE id = $1',
      [recorded.stream.slice('task-'.length)],
    );
    const before: TaskAggregate = row
      ? { task: row.task, agent: row.agent, inputs: 0 }
      : taskDecider.initialState();
    const { task, agent } = taskDecider.evolve(before, event);
    if (!task) return;
    await tx.query(
      `INSERT INTO rm_tasks (id, tenant, context_id, state, status_at, agent, revision, task)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)
       ON CONFLICT (id) DO UPDATE SET state = $4, status_at = $5, agent = $6, revision = $7, task = $8::text::jsonb`,
      [
        task.id,
        recorded.metadata.tenant,
        task.contextId,
        task.status.state,
        task.status.timestamp,
        agent,
        recorded.revision,
        JSON.stringify(task),
      ],
    );
  },
};
