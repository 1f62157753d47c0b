/**
 * Integrators inside the cluster read their tenant's events from JetStream with a NATS user limited to that
 * tenant's subjects (infra/bus/tenant-access.ts): a second nats-server with generated users and permissions,
 * a distributed hub connected to it as an unrestricted user, and one user per tenant.
 */
import { randomUUID } from 'node:crypto';
import { AckPolicy, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { tenantInboxPrefix, tenantNatsPermissions } from '../../infra/bus/tenant-access.ts';
import { startHub, type TestHub } from '../support/hub.ts';
import { natsServerAvailable, type PrivateNatsServer, startNatsServer } from '../support/nats-server.ts';
import { requireService } from '../support/services.ts';

const ready = (await requireService('pgvector')) && natsServerAvailable();
if (!ready) {
  const why = 'nats tenant access needs PostgreSQL with pgvector and /usr/sbin/nats-server';
  if (process.env.CI === 'true') throw new Error(`CI: ${why}`);
  console.warn(`\n!!! SKIPPED: ${why} !!!\n`);
}
const it = ready ? test : test.skip;

const namespace = `t${Math.random().toString(36).slice(2, 9)}`;
const stream = `${namespace.toUpperCase()}_EVENTS`;
const passwords = { hub: randomUUID(), alpha: randomUUID(), beta: randomUUID() };
let server: PrivateNatsServer;
let hub: TestHub;
const connections: NatsConnection[] = [];

const integrator = async (tenant: 'alpha' | 'beta') => {
  const nc = await connect({
    servers: server.url,
    user: tenant,
    pass: passwords[tenant],
    inboxPrefix: tenantInboxPrefix(tenant),
  });
  connections.push(nc);
  return nc;
};

const append = (tenant: string, n: number) =>
  hub.runtime.store.append(
    `probe-${tenant}`,
    Array.from({ length: n }, (_, i) => ({
      id: randomUUID(),
      type: 'IntegrationProbed',
      data: { i },
      metadata: { tenant, principal: 'test', correlationId: 'c', causationId: null },
    })),
  );

/** A permission violation shows as an error naming it (the server closes nothing else). */
const refused = async (what: string, attempt: () => Promise<unknown>) => {
  try {
    await attempt();
  } catch (error) {
    assert.match(String((error as Error).message), /Permissions Violation|permission/i, what);
    return;
  }
  assert.unreachable(`${what} was allowed`);
};

test.before(async () => {
  if (!ready) return;
  const user = (name: 'alpha' | 'beta') => ({
    user: name,
    password: passwords[name],
    permissions: tenantNatsPermissions({ namespace, tenant: name }),
  });
  server = await startNatsServer({
    authorization: { users: [{ user: 'hub', password: passwords.hub }, user('alpha'), user('beta')] },
  });
  // The hub authenticates with the credentials in its NATS_URL (infra/bus/nats-url.ts).
  hub = await startHub('distributed', {
    env: {
      NATS_URL: `nats://hub:${passwords.hub}@127.0.0.1:${server.port}`,
      AGENTCORE_NAMESPACE: namespace,
    },
  });
});
test.after(async () => {
  for (const nc of connections) await nc.close().catch(() => {});
  await hub?.stop().catch(() => {});
  await server?.stop();
});

it("a tenant's durable consumer gets that tenant's events, in log order, and none of another's", async () => {
  await append('alpha', 3);
  await append('beta', 2);
  await append('alpha', 2);
  const nc = await integrator('alpha');
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await jsm.consumers.add(stream, {
    durable_name: 'int_alpha',
    filter_subject: `${namespace}.evt.alpha.>`,
    ack_policy: AckPolicy.Explicit,
  });
  const consumer = await jetstream(nc, { checkAPI: false }).consumers.get(stream, 'int_alpha');
  const got: RecordedEvent[] = [];
  for (const deadline = Date.now() + 10_000; got.length < 5 && Date.now() < deadline; ) {
    const m: JsMsg | null = await consumer.next({ expires: 1000 });
    if (!m) continue;
    got.push(m.json<RecordedEvent>());
    m.ack();
  }
  assert.is(got.length, 5, 'every event of alpha arrived');
  assert.ok(got.every((e) => e.metadata.tenant === 'alpha' && e.stream === 'probe-alpha'));
  assert.equal(
    got.map((e) => e.revision),
    [0, 1, 2, 3, 4],
  );
  assert.is(await consumer.next({ expires: 1000 }), null, 'nothing of beta follows');
});

it("a tenant's user is refused another tenant's subjects, the hub's durables and inboxes, and publishing", async () => {
  const nc = await integrator('alpha');
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await refused('a consumer filtered on beta', () =>
    jsm.consumers.add(stream, {
      durable_name: 'int_alpha',
      filter_subject: `${namespace}.evt.beta.>`,
      ack_policy: AckPolicy.Explicit,
    }),
  );
  await refused('a consumer over every tenant', () =>
    jsm.consumers.add(stream, {
      durable_name: 'int_alpha',
      filter_subject: `${namespace}.evt.>`,
      ack_policy: AckPolicy.Explicit,
    }),
  );
  await refused('a durable of its own choosing', () =>
    jsm.consumers.add(stream, {
      durable_name: 'push-delivery',
      filter_subject: `${namespace}.evt.alpha.>`,
      ack_policy: AckPolicy.Explicit,
    }),
  );
  const subscribeRefused = async (subject: string) => {
    const sub = nc.subscribe(subject);
    await refused(`subscribing to ${subject}`, async () => {
      for await (const _ of sub) break;
    });
  };
  await subscribeRefused(`${namespace}.evt.beta.>`);
  await subscribeRefused('_INBOX.>');
  await refused('publishing an event', async () => {
    await jetstream(nc, { checkAPI: false }).publish(`${namespace}.evt.alpha.probe.probe-alpha.Forged`, '{}');
  });
});

it("beta's user reads beta's events live on core NATS; alpha's appends never reach it", async () => {
  const nc = await integrator('beta');
  const sub = nc.subscribe(`${namespace}.evt.beta.>`);
  await nc.flush();
  const got: RecordedEvent[] = [];
  const reading = (async () => {
    for await (const m of sub) {
      got.push(m.json<RecordedEvent>());
      if (got.length === 2) break;
    }
  })();
  await append('alpha', 2);
  await append('beta', 2);
  await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
  assert.equal(
    got.map((e) => [e.metadata.tenant, e.revision]),
    [
      ['beta', 2],
      ['beta', 3],
    ],
  );
});

it('secrets never reach the bus: an API key issued to beta comes to its integrator redacted', async () => {
  const nc = await integrator('beta');
  const sub = nc.subscribe(`${namespace}.evt.beta.tenant.>`);
  await nc.flush();
  const issued = (async () => {
    for await (const m of sub) {
      const e = m.json<RecordedEvent<string, { keyHash?: string }>>();
      if (e.type === 'ApiKeyIssued') return e;
    }
    return null;
  })();
  await hub.addTenant('beta');
  const event = await Promise.race([issued, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  assert.ok(event, 'ApiKeyIssued reached the tenant');
  assert.is(event.data.keyHash, '[redacted]');
  // The log keeps it whole: the key works (addTenant waited for it to be readable by its hash).
  const [stored] = await hub.runtime.store.readStream(event.stream, {
    fromRevision: event.revision,
    maxCount: 1,
  });
  assert.match(String((stored!.data as { keyHash: string }).keyHash), /^[0-9a-f]{64}$/);
});

test.run();
