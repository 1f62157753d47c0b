#!/usr/bin/env -S node --import tsx
/**
 * agentcore [all | edge sagas workers projections relay ...]
 *   No DATABASE_URL/NATS_URL: the embedded hub in one process. With them: the chosen roles of the
 *   distributed runtime; run as many copies of each as you like.
 *
 * agentcore agents <command> ... [--hub URL] [--key KEY] [--tenant T] [--json]
 *   Manages the agent registry of a running hub through its admin API (/api/admin). The hub defaults to
 *   $AGENTCORE_HUB_URL or http://127.0.0.1:7700, the key to $AGENTCORE_API_KEY.
 *     register <url> [--id ID] [--cost N]      register a remote A2A agent by its base or card URL
 *     list                                     the tenant's agents and the built-in ones
 *     show <id>                                one agent, card included (JSON)
 *     update <id> [--cost N] [--description D]
 *     disable <id> --reason TEXT
 *     enable <id>
 *     refresh <id> [--unconditional]           re-fetch the card (conditional unless --unconditional)
 *     deregister <id>
 */
import { parseArgs } from 'node:util';
// Static imports: tsx fails to parse a file that has both this shebang and a dynamic import().
import { createRuntime } from '../app/compose.ts';
import { loadConfig, parseRoles } from '../app/config.ts';
import { AUDIT_USAGE, AuditUsageError, auditCommand } from './audit-cli.ts';
import { HUB_OPTIONS, hubClient } from './hub-client.ts';
import { NATS_ACCESS_USAGE, natsAccessCommand } from './nats-access.ts';
import { WEBHOOKS_USAGE, WebhooksUsageError, webhooksCommand } from './webhooks-cli.ts';

const AGENTS_USAGE = `usage: agentcore agents <command> [options]
  register <url> [--id ID] [--cost N]
  list
  show <id>
  update <id> [--cost N] [--description TEXT]
  disable <id> --reason TEXT
  enable <id>
  refresh <id> [--unconditional]
  deregister <id>
options: --hub URL (default $AGENTCORE_HUB_URL or http://127.0.0.1:7700), --key KEY (default $AGENTCORE_API_KEY),
         --tenant T (act for another tenant the key may act for), --json (print the API's JSON)`;

const USAGE = `usage: agentcore [ROLE ...]          run the hub (default: all roles in one process)
       agentcore agents <command> ...  manage the agent registry of a running hub (agentcore agents --help)
       agentcore webhooks <command> ...  manage webhook subscriptions (agentcore webhooks --help)
       agentcore audit verify [--tenant T]  check the audit hash chain of a running hub (agentcore audit --help)
       agentcore nats-access --tenant T  the NATS user an integrator of tenant T may be given (--help)
       agentcore --help                this text
roles: all, edge, sagas, workers, projections, relay
  Without DATABASE_URL/NATS_URL the hub runs embedded (PGlite and an in-process bus under
  $AGENTCORE_DATA_DIR, default ./.agentcore); with them, the chosen roles of the distributed runtime.
  HOST/PORT set the address (default 127.0.0.1:7700); the README lists every other variable.`;

class UsageError extends Error {}

interface AgentSummary {
  agentId: string;
  tenant: string;
  builtIn: boolean;
  name: string;
  status: string;
  disabledReason?: string;
  costPerRequest: number;
  skills: Array<{ id: string }>;
  endpoint: {
    kind: string;
    url?: string;
    protocolBinding?: string;
    protocolVersion?: string;
    streaming?: boolean;
  };
}

const describe = (a: AgentSummary) => {
  const where =
    a.endpoint.kind === 'remote'
      ? `${a.endpoint.protocolBinding} ${a.endpoint.protocolVersion}${a.endpoint.streaming ? ' streaming' : ''} ${a.endpoint.url}`
      : 'in-process';
  const status = a.status === 'disabled' ? `disabled (${a.disabledReason ?? ''})` : a.status;
  return `${a.agentId}${a.builtIn ? ' [built-in]' : ''}  ${a.name}  ${status}  cost=${a.costPerRequest}  skills=${a.skills.map((s) => s.id).join(',')}  ${where}`;
};

const agentsCommand = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...HUB_OPTIONS,
      id: { type: 'string' },
      cost: { type: 'string' },
      description: { type: 'string' },
      reason: { type: 'string' },
      unconditional: { type: 'boolean', default: false },
    },
  });
  const [command, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${AGENTS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const request = hubClient(values, (m) => new UsageError(m));
  const cost = () => {
    if (values.cost === undefined) return undefined;
    const n = Number(values.cost);
    if (!Number.isFinite(n) || n < 0)
      throw new UsageError(`--cost must be a number >= 0, not ${values.cost}`);
    return n;
  };
  const needId = () => {
    if (!arg) throw new UsageError(`agents ${command} needs an agent id`);
    return encodeURIComponent(arg);
  };
  const call = (method: string, path: string, body?: unknown, query: Record<string, string> = {}) =>
    request(method, `/api/admin${path}`, body, query);
  const print = (json: unknown, human: () => string) =>
    process.stdout.write(`${values.json ? JSON.stringify(json, null, 2) : human()}\n`);

  switch (command) {
    case 'register': {
      if (!arg) throw new UsageError('agents register needs the agent URL');
      const agent = (await call('POST', '/agents', {
        url: arg,
        ...(values.id ? { agentId: values.id } : {}),
        ...(cost() !== undefined ? { costPerRequest: cost() } : {}),
      })) as unknown as AgentSummary;
      print(agent, () => `registered ${describe(agent)}`);
      return 0;
    }
    case 'list': {
      const { agents } = (await call('GET', '/agents')) as unknown as { agents: AgentSummary[] };
      print({ agents }, () => (agents.length ? agents.map(describe).join('\n') : 'no agents'));
      return 0;
    }
    case 'show': {
      const agent = await call('GET', `/agents/${needId()}`);
      process.stdout.write(`${JSON.stringify(agent, null, 2)}\n`);
      return 0;
    }
    case 'update': {
      const id = needId();
      const change = {
        ...(cost() !== undefined ? { costPerRequest: cost() } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
      };
      if (!Object.keys(change).length)
        throw new UsageError('agents update needs --cost and/or --description');
      const agent = (await call('PATCH', `/agents/${id}`, change)) as unknown as AgentSummary;
      print(agent, () => `updated ${describe(agent)}`);
      return 0;
    }
    case 'disable': {
      const id = needId();
      if (!values.reason) throw new UsageError('agents disable needs --reason TEXT');
      const agent = (await call('POST', `/agents/${id}/disable`, {
        reason: values.reason,
      })) as unknown as AgentSummary;
      print(agent, () => `disabled ${describe(agent)}`);
      return 0;
    }
    case 'enable': {
      const agent = (await call('POST', `/agents/${needId()}/enable`)) as unknown as AgentSummary;
      print(agent, () => `enabled ${describe(agent)}`);
      return 0;
    }
    case 'refresh': {
      const id = needId();
      const result = (await call(
        'POST',
        `/agents/${id}/refresh`,
        undefined,
        values.unconditional ? { unconditional: 'true' } : {},
      )) as unknown as {
        outcome: string;
        agent: AgentSummary;
      };
      print(result, () => `${result.outcome}: ${describe(result.agent)}`);
      return 0;
    }
    case 'deregister': {
      const id = needId();
      await call('DELETE', `/agents/${id}`);
      print({ deregistered: arg }, () => `deregistered ${arg}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown agents command "${command}"`);
  }
};

const runHub = async (args: string[]) => {
  const config = loadConfig();
  const roles = parseRoles(args);
  const runtime = await createRuntime(config);
  const { log } = runtime;
  const started = await runtime.start(roles);
  log.info(
    { roles, mode: config.mode, dataDir: config.mode === 'embedded' ? config.dataDir : undefined },
    'started',
  );
  if (started.url) {
    process.stdout.write(
      `AgentCore ${config.mode} hub listening on ${started.url} (roles: ${roles.join(', ')})\n`,
    );
  }
  if (started.devApiKey) {
    process.stdout.write(
      `First start: development API key for tenant "default" (shown once): ${started.devApiKey}\n`,
    );
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining in-flight work');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 30s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    await runtime.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
};

/** The commands that talk to a running hub (or print configuration), each with its usage and usage errors. */
const SUBCOMMANDS: Record<
  string,
  { run: (argv: string[]) => Promise<number>; usage: string; usageError: new (...a: never[]) => Error }
> = {
  agents: { run: agentsCommand, usage: AGENTS_USAGE, usageError: UsageError },
  audit: { run: auditCommand, usage: AUDIT_USAGE, usageError: AuditUsageError },
  webhooks: { run: webhooksCommand, usage: WEBHOOKS_USAGE, usageError: WebhooksUsageError },
  'nats-access': {
    run: async (argv) => {
      const { text, code } = natsAccessCommand(argv);
      (code === 0 ? process.stdout : process.stderr).write(`${text}\n`);
      return code;
    },
    usage: NATS_ACCESS_USAGE,
    usageError: UsageError,
  },
};

const main = async () => {
  const args = process.argv.slice(2);
  const sub = args[0] !== undefined ? SUBCOMMANDS[args[0]] : undefined;
  if (sub) {
    try {
      process.exitCode = await sub.run(args.slice(1));
    } catch (error) {
      const usage =
        error instanceof sub.usageError ||
        (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
      if (!usage) throw error;
      process.stderr.write(`agentcore: ${(error as Error).message}\n${sub.usage}\n`);
      process.exitCode = 2;
    }
    return;
  }
  if (args.some((a) => a === '--help' || a === '-h' || a === 'help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  try {
    parseRoles(args);
  } catch (error) {
    process.stderr.write(`agentcore: ${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  await runHub(args);
};

main().catch((error) => {
  process.stderr.write(`agentcore: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
