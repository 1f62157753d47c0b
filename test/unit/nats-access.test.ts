/** The NATS access of an integrator (infra/bus/tenant-access.ts, bin/nats-access.ts) and NATS_URL credentials. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { natsAccessCommand } from '../../bin/nats-access.ts';
import { natsConnectTarget } from '../../infra/bus/nats-url.ts';
import { tenantNatsPermissions } from '../../infra/bus/tenant-access.ts';

test('permissions name only the tenant’s subjects, its inbox and its listed durables', () => {
  const p = tenantNatsPermissions({
    namespace: 'hub1',
    tenant: 'acme',
    consumers: ['int_acme', 'audit_acme'],
  });
  assert.equal(p.subscribe.allow, ['hub1.evt.acme.>', '_INBOX_acme.>']);
  assert.ok(p.publish.allow.includes('$JS.API.CONSUMER.CREATE.HUB1_EVENTS.audit_acme.hub1.evt.acme.>'));
  assert.ok(
    p.publish.allow.every((s) => !s.includes('evt.>') && !s.startsWith('hub1.')),
    'no event publishing',
  );
  assert.throws(() => tenantNatsPermissions({ namespace: 'a', tenant: 't', consumers: ['x.>'] }), /letters/);
});

test('the CLI prints a user entry, or a usage error for a bad tenant', () => {
  const ok = natsAccessCommand(['--tenant', 'acme', '--password', 'pw', '--namespace', 'ns']);
  assert.is(ok.code, 0);
  const user = JSON.parse(ok.text.slice(0, ok.text.lastIndexOf('}') + 1)) as {
    user: string;
    password: string;
  };
  assert.equal([user.user, user.password], ['int_acme', 'pw']);
  assert.match(ok.text, /inboxPrefix "_INBOX_acme"/);
  const generated = natsAccessCommand(['--tenant', 'acme']);
  assert.not.match(generated.text, /"password": "pw"/);
  const bad = natsAccessCommand(['--tenant', 'Acme.*']);
  assert.is(bad.code, 2);
  assert.match(bad.text, /--tenant: tenant must be/);
});

test('NATS_URL credentials become connect options, never part of the server list', () => {
  assert.equal(natsConnectTarget('nats://hub:p%40ss@10.0.0.1:4222, nats://hub:p%40ss@10.0.0.2:4222'), {
    servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'],
    user: 'hub',
    pass: 'p@ss',
  });
  assert.equal(natsConnectTarget('127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'] });
  assert.equal(natsConnectTarget('nats://s3cret@h:1'), { servers: ['nats://h:1'], token: 's3cret' });
  assert.throws(() => natsConnectTarget('nats://a:b@h:1,nats://c:d@h:2'), /same credentials/);
});

test.run();
