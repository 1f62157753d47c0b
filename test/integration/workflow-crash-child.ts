/**
 * A process of the workflow crash test (workflow-crash.test.ts), killed with SIGKILL at random: with
 * CRASH_ROLES=sagas it runs the relay and the sagas (the workflow saga among them), with CRASH_ROLES=workers
 * the agent workers with the test's agent. The agent records its effect per task, idempotently (a task run
 * again after a crash adds no second effect) and counts how often it ran.
 */
import pino from 'pino';
import type { Agent } from '../../agents/agent.ts';
import { textOf } from '../../agents/agent.ts';
import { agentDirectory } from '../../agents/directory.ts';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig, type Role } from '../../app/config.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';

export const EFFECTS_DDL = `CREATE TABLE IF NOT EXISTS wf_effects (
  task_id text PRIMARY KEY, text text NOT NULL, runs int NOT NULL)`;

let db: SqlDatabase | undefined;
/** Does its step's work (a row per task), slowly enough for kills to land mid-step; `ship` of a FAIL order fails. */
const effectAgent: Agent = {
  id: 'effect',
  name: 'effect',
  description: 'records an effect per task',
  skills: [],
  async *run({ task, input }) {
    const text = textOf(input);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
    await db!.query(
      `INSERT INTO wf_effects (task_id, text, runs) VALUES ($1, $2, 1)
       ON CONFLICT (task_id) DO UPDATE SET runs = wf_effects.runs + 1`,
      [task.id, text],
    );
    if (text.startsWith('ship') && text.includes('FAIL')) {
      yield { kind: 'status', state: 'TASK_STATE_FAILED', parts: [{ text: 'carrier refused' }] };
      return;
    }
    yield { kind: 'artifact', artifact: { artifactId: 'out', parts: [{ text: `done(${text})` }] } };
  },
};

const main = async () => {
  const roles = (process.env.CRASH_ROLES === 'sagas' ? ['relay', 'sagas'] : ['workers']) as Role[];
  const runtime = await createRuntime(loadConfig(), {
    log: pino({ level: 'warn' }),
    agents: agentDirectory([effectAgent], 'effect'),
  });
  db = runtime.db;
  await db.exec(EFFECTS_DDL);
  await runtime.start(roles);
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => void runtime.stop().then(() => process.exit(0)));
};

if (process.argv[1]?.endsWith('workflow-crash-child.ts')) {
  main().catch((error) => {
    process.stderr.write(
      `workflow crash child failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  });
}
