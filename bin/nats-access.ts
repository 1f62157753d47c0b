/**
 * `agentcore nats-access`: prints the nats-server user entry that lets an integrator read one tenant's events
 * from JetStream and nothing else (infra/bus/tenant-access.ts), for the server's `authorization.users`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { tenantId } from '../events/envelope.ts';
import { tenantInboxPrefix, tenantNatsPermissions } from '../infra/bus/tenant-access.ts';

export const NATS_ACCESS_USAGE = `usage: agentcore nats-access --tenant T [--user U] [--password P] [--consumer NAME ...]
  Prints a nats-server user (JSON, valid in its config) allowed only tenant T's event subjects, its own inbox
  (the client must set inboxPrefix to the printed value) and the named durable consumers (default int_T).
  --namespace NS   the hub's AGENTCORE_NAMESPACE (default $AGENTCORE_NAMESPACE or ac)
  --password P     default: 24 random bytes, printed once`;

export const natsAccessCommand = (argv: string[]): { text: string; code: number } => {
  const { values } = parseArgs({
    args: argv,
    options: {
      tenant: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      consumer: { type: 'string', multiple: true },
      namespace: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { text: NATS_ACCESS_USAGE, code: 0 };
  const tenant = tenantId.safeParse(values.tenant);
  if (!tenant.success)
    return { text: `--tenant: ${tenant.error.issues[0]?.message}\n${NATS_ACCESS_USAGE}`, code: 2 };
  const namespace = values.namespace ?? process.env.AGENTCORE_NAMESPACE ?? 'ac';
  try {
    const permissions = tenantNatsPermissions({
      namespace,
      tenant: tenant.data,
      ...(values.consumer?.length ? { consumers: values.consumer } : {}),
    });
    const user = {
      user: values.user ?? `int_${tenant.data}`,
      password: values.password ?? randomBytes(24).toString('base64url'),
      permissions,
    };
    const text = `${JSON.stringify(user, null, 2)}\n// client: inboxPrefix "${tenantInboxPrefix(tenant.data)}", filter subject "${permissions.subscribe.allow[0]}"`;
    return { text, code: 0 };
  } catch (error) {
    return { text: `${(error as Error).message}\n${NATS_ACCESS_USAGE}`, code: 2 };
  }
};
