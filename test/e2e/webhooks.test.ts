/**
 * Webhook subscriptions end to end, on both runtimes: registered through the admin API, delivered by the
 * hub's sagas role to a receiver on loopback as signed CloudEvents; dead letters and re-drive, pause and
 * resume, replay, tenant isolation, and bad input.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { waitFor } from '../support/wait.ts';
import { type Receiver, startReceiver } from '../support/webhook-receiver.ts';

const run = promisify(execFile);
const kinds = await runtimesFor('webhooks');
const env = {
  AGENTCORE_WEBHOOK_MAX_ATTEMPTS: '3',
  AGENTCORE_WEBHOOK_BACKOFF_BASE_MS: '20',
  AGENTCORE_WEBHOOK_BACKOFF_MAX_MS: '100',
  AGENTCORE_WEBHOOK_TIMEOUT_MS: '2000',
};

interface Created {
  id: string;
  secret: string;
  status: string;
  url: string;
}

for (const kind of kinds) {
  const s = suite(`webhooks (${kind})`);
  let hub: TestHub;
  let otherKey: string;
  let receiver: Receiver;

  const api = async (method: string, path: string, body?: unknown, key = hub.apiKey) => {
    const res = await fetch(`${hub.url}/api/admin/webhooks${path}`, {
      method,
      headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as Record<string, unknown> };
  };
  const subscribe = async (body: Record<string, unknown>, key = hub.apiKey) => {
    const { status, json } = await api('POST', '', body, key);
    assert.is(status, 201, JSON.stringify(json));
    return json as unknown as Created;
  };
  const append = (tenant: string, stream: string, data: Array<Record<string, unknown>>) =>
    hub.runtime.store.append(
      stream,
      data.map((d) => ({
        id: randomUUID(),
        type: 'IntegrationProbed',
        data: d,
        metadata: { tenant, principal: 'test', correlationId: `c-${stream}`, causationId: null },
      })),
    );
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

  s.before(async () => {
    receiver = await startReceiver();
    hub = await startHub(kind, { env });
    otherKey = await hub.addTenant('other');
  });
  s.after(async () => {
    await hub.stop();
    await receiver.close();
  });

  s('delivers the tenant matching events, signed, as CloudEvents, in order per stream', async () => {
    const mine = await subscribe({ url: `${receiver.url}/a`, filter: { streamPrefix: 'probe-a-' } });
    assert.match(mine.secret, /^whsec_/);
    const theirs = await subscribe(
      { url: `${receiver.url}/b`, filter: { streamPrefix: 'probe-' } },
      otherKey,
    );
    await append('default', 'probe-a-1', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await append('default', 'probe-a-2', [{ n: 1 }, { n: 2 }]);
    await append('default', 'probe-x', [{ n: 1 }]);
    await append('other', 'probe-o', [{ n: 1 }, { n: 2 }]);
    await waitFor('5 deliveries to /a', async () => receiver.delivered('/a').length >= 5);
    await waitFor('2 deliveries to /b', async () => receiver.delivered('/b').length >= 2);
    await settle(300);
    const a = receiver.delivered('/a');
    assert.is(a.length, 5);
    for (const r of a) {
      const verified = new Webhook(mine.secret).verify(r.body, r.headers) as { id: string };
      assert.is(verified.id, r.event.id);
      assert.match(r.headers['content-type']!, /^application\/cloudevents\+json/);
      assert.is(r.event.type, 'agentcore.IntegrationProbed');
      assert.is(r.event.tenant, 'default');
    }
    for (const stream of ['probe-a-1', 'probe-a-2']) {
      const revisions = a.filter((r) => r.event.stream === stream).map((r) => r.event.revision);
      assert.equal(revisions, [...revisions.keys()], `${stream} in order`);
    }
    const b = receiver.delivered('/b');
    assert.equal(
      b.map((r) => [r.event.tenant, r.event.stream]),
      [
        ['other', 'probe-o'],
        ['other', 'probe-o'],
      ],
    );
    assert.throws(
      () => new Webhook(mine.secret).verify(b[0]!.body, b[0]!.headers),
      'signed with its own secret',
    );
    assert.ok(new Webhook(theirs.secret).verify(b[0]!.body, b[0]!.headers));
  });

  s('a tenant sees and manages only its own subscriptions; the secret is never shown again', async () => {
    const { json: list } = await api('GET', '');
    const ids = (list.webhooks as Array<{ id: string; secret?: string }>).map((w) => w.id);
    assert.is(ids.length, 1);
    const { json: theirs } = await api('GET', '', undefined, otherKey);
    const theirId = (theirs.webhooks as Array<{ id: string }>)[0]!.id;
    assert.is.not(theirId, ids[0]);
    const one = await api('GET', `/${ids[0]}`);
    assert.is(one.status, 200);
    assert.is(one.json.secret, undefined);
    assert.ok(!JSON.stringify(list).includes('whsec_'));
    assert.is((await api('GET', `/${theirId}`)).status, 404);
    assert.is((await api('POST', `/${theirId}/pause`)).status, 404);
    assert.is((await api('DELETE', `/${theirId}`)).status, 404);
    assert.is((await api('GET', `/${theirId}`, undefined, otherKey)).json.status, 'active');
  });

  s('failing N times dead-letters the event, later ones go on; re-drive delivers it', async () => {
    const sub = await subscribe({ url: `${receiver.url}/dl`, filter: { streamPrefix: 'dl-' } });
    receiver.setFailing((path, e) => path === '/dl' && e.data.fail === true);
    await append('default', 'dl-1', [{ fail: true }, { n: 2 }]);
    await waitFor('the next event delivered', async () => receiver.delivered('/dl').length >= 1);
    const attempts = receiver.received.filter((r) => r.path === '/dl' && r.status === 500);
    assert.is(attempts.length, 3, 'AGENTCORE_WEBHOOK_MAX_ATTEMPTS attempts');
    assert.is(
      new Set(attempts.map((r) => r.headers['webhook-id'])).size,
      1,
      'one webhook-id for every attempt',
    );
    const letters = await waitFor('the dead letter', async () => {
      const { json } = await api('GET', `/${sub.id}/dead-letters`);
      const list = json.deadLetters as Array<{ eventId: string; attempts: number; error: string }>;
      return list.length ? list : null;
    });
    assert.is(letters[0]!.eventId, attempts[0]!.event.id);
    assert.is(letters[0]!.attempts, 3);
    assert.match(letters[0]!.error, /HTTP 500/);

    receiver.setFailing(() => false);
    const redrive = await api('POST', `/${sub.id}/dead-letters/redrive`, {});
    assert.is(redrive.status, 202);
    assert.equal(redrive.json.redriven, [letters[0]!.eventId]);
    await waitFor('the re-driven event delivered', async () =>
      receiver.delivered('/dl').some((r) => r.event.id === letters[0]!.eventId),
    );
    const redelivered = receiver.delivered('/dl').find((r) => r.event.id === letters[0]!.eventId)!;
    assert.is(redelivered.headers['webhook-id'], attempts[0]!.headers['webhook-id']);
    await waitFor('the list emptied', async () => {
      const { json } = await api('GET', `/${sub.id}/dead-letters`);
      return (json.deadLetters as unknown[]).length === 0;
    });
  });

  s('pause stops delivery, resume continues where it stopped, replay delivers again', async () => {
    const sub = await subscribe({ url: `${receiver.url}/pr`, filter: { streamPrefix: 'pr-' } });
    await append('default', 'pr-1', [{ n: 0 }, { n: 1 }]);
    await waitFor('2 deliveries', async () => receiver.delivered('/pr').length >= 2);
    const paused = await api('POST', `/${sub.id}/pause`);
    assert.is(paused.json.status, 'paused');
    // The deliverer learns of the pause from the log (README: within about a second).
    await settle(1500);
    await append('default', 'pr-1', [{ n: 2 }, { n: 3 }]);
    await settle(800);
    assert.is(receiver.delivered('/pr').length, 2, 'nothing delivered while paused');
    assert.is((await api('POST', `/${sub.id}/resume`)).json.status, 'active');
    await waitFor('4 deliveries', async () => receiver.delivered('/pr').length >= 4);
    await settle(300);
    const first = receiver.delivered('/pr');
    assert.equal(
      first.map((r) => r.event.revision),
      [0, 1, 2, 3],
      'each once, in order',
    );
    const from = Number(first[0]!.event.position);
    assert.is((await api('POST', `/${sub.id}/replay`, { after: from })).status, 202);
    await waitFor('3 more deliveries', async () => receiver.delivered('/pr').length >= 7);
    const again = receiver.delivered('/pr').slice(4);
    assert.equal(
      again.map((r) => r.event.revision),
      [1, 2, 3],
    );
    assert.equal(
      again.map((r) => r.headers['webhook-id']),
      first.slice(1).map((r) => r.headers['webhook-id']),
    );
    const last = Number(again[2]!.event.position);
    await waitFor('the checkpoint at the last delivery', async () => {
      const { json } = await api('GET', `/${sub.id}`);
      return json.deliveredThrough === last;
    });
  });

  s('bad input is a precise 400 and creates nothing; unsubscribed stops being found', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ url: 'ftp://example.com/x' }, /url: ftp URLs are not allowed/],
      [{ url: 'not a url' }, /url/],
      [{ url: `${receiver.url}/x`, colour: 'red' }, /colour/],
      [{ url: `${receiver.url}/x`, filter: { types: 'TaskSubmitted' } }, /filter\.types/],
      [{ url: `${receiver.url}/x`, filter: { stream: 'task-' } }, /stream/],
      [{ url: `${receiver.url}/x`, secret: 'hunter2' }, /secret: must be a Standard Webhooks secret/],
      [{ url: `${receiver.url}/x`, after: 10 ** 12 }, /after: position 1000000000000 is not in the log/],
      [{ url: `${receiver.url}/x`, after: -1 }, /after/],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await api('POST', '', body);
      assert.is(status, 400, JSON.stringify(body));
      assert.match((json.error as { message: string }).message, message);
    }
    const bad = await fetch(`${hub.url}/api/admin/webhooks`, {
      method: 'POST',
      headers: { 'x-api-key': hub.apiKey, 'content-type': 'application/json' },
      body: '{',
    });
    assert.is(bad.status, 400);
    const sub = await subscribe({ url: `${receiver.url}/gone` });
    const replay = await api('POST', `/${sub.id}/replay`, { after: 'yesterday' });
    assert.is(replay.status, 400);
    assert.match((replay.json.error as { message: string }).message, /after/);
    assert.is((await api('DELETE', `/${sub.id}`)).status, 204);
    assert.is((await api('GET', `/${sub.id}`)).status, 404);
    assert.is((await api('DELETE', `/${sub.id}`)).status, 404);
    // The list reads the log, which PostgreSQL readers see a moment late: once the deletion shows, so would
    // anything the refused requests had written before it.
    const listed = await waitFor('the deletion in the list', async () => {
      const list = (await api('GET', '')).json.webhooks as Array<{ id: string; url: string }>;
      return list.some((w) => w.id === sub.id) ? null : list;
    });
    assert.equal(
      listed.filter((w) => w.url.endsWith('/x') || !w.url.startsWith('http')),
      [],
      'no refused request created a subscription',
    );
  });

  s('the CLI creates, lists and pauses a subscription', async () => {
    const cli = async (...args: string[]) => {
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', 'bin/agentcore.ts', 'webhooks', ...args, '--hub', hub.url, '--key', hub.apiKey],
        { cwd: new URL('../..', import.meta.url).pathname },
      );
      return stdout;
    };
    const created = JSON.parse(
      await cli('create', `${receiver.url}/cli`, '--types', 'A,B', '--stream-prefix', 'cli-', '--json'),
    ) as Created & { filter: unknown };
    assert.match(created.secret, /^whsec_/);
    assert.equal(created.filter, { types: ['A', 'B'], streamPrefix: 'cli-' });
    assert.match(await cli('list'), new RegExp(`${created.id}  active`));
    assert.match(await cli('pause', created.id), /paused/);
  });

  if (kind === 'embedded') {
    s('a URL to a private address fails the SSRF guard when private URLs are not allowed', async () => {
      const strict = await startHub('embedded', { env: { ...env, AGENTCORE_ALLOW_PRIVATE_URLS: 'false' } });
      try {
        for (const url of ['http://127.0.0.1:9/x', 'http://10.0.0.1/x', 'http://localhost/x']) {
          const res = await fetch(`${strict.url}/api/admin/webhooks`, {
            method: 'POST',
            headers: { 'x-api-key': strict.apiKey, 'content-type': 'application/json' },
            body: JSON.stringify({ url }),
          });
          assert.is(res.status, 400, url);
          const { error } = (await res.json()) as { error: { message: string } };
          assert.match(error.message, /^url: .*(loopback|private)/);
        }
      } finally {
        await strict.stop();
      }
    });
  }

  s.run();
}
