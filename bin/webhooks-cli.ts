/** `agentcore webhooks ...`: manages a running hub's webhook subscriptions through /api/admin/webhooks. */
import { parseArgs } from 'node:util';
import { HUB_OPTIONS, hubClient } from './hub-client.ts';

export const WEBHOOKS_USAGE = `usage: agentcore webhooks <command> [options]
  create <url> [--types T1,T2] [--stream-prefix P] [--correlation-id C] [--secret whsec_...] [--after N]
         [--description TEXT]        prints the subscription and its secret (shown once)
  list
  show <id>
  pause <id> | resume <id> | delete <id>
  replay <id> --after N              deliver again the events after log position N
  dead-letters <id>
  redrive <id> [--event ID ...]      deliver dead letters again (all when no --event)
options: --hub URL (default $AGENTCORE_HUB_URL or http://127.0.0.1:7700), --key KEY (default $AGENTCORE_API_KEY),
         --tenant T (act for another tenant the key may act for), --json (print the API's JSON)`;

export class WebhooksUsageError extends Error {}

interface Subscription {
  id: string;
  url: string;
  status: string;
  filter: Record<string, unknown>;
  deliveredThrough: number | null;
  deadLetters: number;
  secret?: string;
}

const describe = (s: Subscription) =>
  `${s.id}  ${s.status}  ${s.url}  filter=${JSON.stringify(s.filter)}  delivered-through=${s.deliveredThrough ?? '-'}  dead-letters=${s.deadLetters}`;

const whole = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v))
    throw new WebhooksUsageError(`${flag} must be a log position (a whole number), not ${v}`);
  return Number(v);
};

/** Runs one `webhooks` subcommand; resolves to the exit code. */
export const webhooksCommand = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...HUB_OPTIONS,
      types: { type: 'string' },
      'stream-prefix': { type: 'string' },
      'correlation-id': { type: 'string' },
      secret: { type: 'string' },
      after: { type: 'string' },
      description: { type: 'string' },
      event: { type: 'string', multiple: true },
    },
  });
  const [command, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${WEBHOOKS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const request = hubClient(values, (m) => new WebhooksUsageError(m));
  const call = (method: string, path: string, body?: unknown) =>
    request(method, `/api/admin/webhooks${path}`, body);
  const print = (json: unknown, human: () => string) =>
    process.stdout.write(`${values.json ? JSON.stringify(json, null, 2) : human()}\n`);
  const id = () => {
    if (!arg) throw new WebhooksUsageError(`webhooks ${command} needs a subscription id`);
    return `/${encodeURIComponent(arg)}`;
  };

  switch (command) {
    case 'create': {
      if (!arg) throw new WebhooksUsageError('webhooks create needs the receiver URL');
      const filter = {
        ...(values.types ? { types: values.types.split(',').filter(Boolean) } : {}),
        ...(values['stream-prefix'] ? { streamPrefix: values['stream-prefix'] } : {}),
        ...(values['correlation-id'] ? { correlationId: values['correlation-id'] } : {}),
      };
      const after = whole('--after', values.after);
      const s = (await call('POST', '', {
        url: arg,
        filter,
        ...(values.secret ? { secret: values.secret } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(values.description ? { description: values.description } : {}),
      })) as unknown as Subscription;
      print(s, () => `created ${describe(s)}\nsecret (shown once): ${s.secret}`);
      return 0;
    }
    case 'list': {
      const { webhooks } = (await call('GET', '')) as unknown as { webhooks: Subscription[] };
      print({ webhooks }, () => (webhooks.length ? webhooks.map(describe).join('\n') : 'no webhooks'));
      return 0;
    }
    case 'show':
    case 'pause':
    case 'resume': {
      const path = id();
      const s = (await call(
        command === 'show' ? 'GET' : 'POST',
        command === 'show' ? path : `${path}/${command}`,
      )) as unknown as Subscription;
      print(s, () => describe(s));
      return 0;
    }
    case 'replay': {
      const path = id();
      const after = whole('--after', values.after);
      if (after === undefined) throw new WebhooksUsageError('webhooks replay needs --after N');
      const s = (await call('POST', `${path}/replay`, { after })) as unknown as Subscription;
      print(s, () => `replaying after position ${after}: ${describe(s)}`);
      return 0;
    }
    case 'dead-letters': {
      const json = (await call('GET', `${id()}/dead-letters`)) as {
        deadLetters: Array<{
          eventId: string;
          eventType: string;
          stream: string;
          attempts: number;
          error: string;
        }>;
      };
      print(json, () =>
        json.deadLetters.length
          ? json.deadLetters
              .map((d) => `${d.eventId}  ${d.eventType}  ${d.stream}  attempts=${d.attempts}  ${d.error}`)
              .join('\n')
          : 'no dead letters',
      );
      return 0;
    }
    case 'redrive': {
      const path = id();
      const json = (await call(
        'POST',
        `${path}/dead-letters/redrive`,
        values.event?.length ? { eventIds: values.event } : {},
      )) as {
        redriven: string[];
      };
      print(json, () => `re-driving ${json.redriven.length} dead letter(s)`);
      return 0;
    }
    case 'delete': {
      await call('DELETE', id());
      print({ deleted: arg }, () => `deleted ${arg}`);
      return 0;
    }
    default:
      throw new WebhooksUsageError(`unknown webhooks command "${command}"`);
  }
};
