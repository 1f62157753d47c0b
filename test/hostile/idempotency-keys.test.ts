/**
 * `Idempotency-Key` on the admin and read APIs' POSTs: 20 concurrent identical requests (over two edge
 * processes sharing Redis, on the distributed runtime) start one workflow run and all get the same answer;
 * the same key with another body is refused; keys are per tenant; a malformed key is a 400. Both runtimes
 * (embedded: the keys live in PGlite; distributed: in Redis).
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { REDIS_URL, requireService } from '../support/services.ts';

const redis = await requireService('redis');

const post = (url: string, key: string, path: string, body: unknown, idempotencyKey?: string) =>
  fetch(`${url}/api/admin${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': key,
      ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}),
    },
    body: JSON.stringify(body),
  });

const kinds = (await runtimesFor('Idempotency-Key')).filter((k) => k === 'embedded' || redis);
for (const kind of kinds) {
  const s = suite(`Idempotency-Key (${kind})`);
  let hub: TestHub;
  let urls: string[];
  const workflow = `greet-${randomUUID().slice(0, 8)}`;
  s.before(async () => {
    hub = await startHub(kind, kind === 'distributed' ? { env: { REDIS_URL } } : {});
    urls = [hub.url];
    if (kind === 'distributed') urls.push((await hub.startPeer()).url);
    const defined = await post(hub.url, hub.apiKey, '/workflows', {
      name: workflow,
      start: 'hello',
      nodes: { hello: { kind: 'task', agent: 'echo', input: 'hello {{input}}' } },
    });
    assert.ok(defined.ok, await defined.text());
  });
  s.after(async () => hub?.stop());

  s('20 concurrent identical POSTs with one key start one run and get one answer', async () => {
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(urls[i % urls.length]!, hub.apiKey, `/workflows/${workflow}/runs`, { input: 'Ada' }, key),
      ),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    for (const [i, r] of responses.entries()) assert.is(r.status, 202, bodies[i]);
    assert.is(new Set(bodies).size, 1, `one answer, got ${new Set(bodies).size}`);
    const replayed = responses.filter((r) => r.headers.get('idempotent-replayed') === 'true').length;
    assert.is(replayed, 19, 'all but the first are replays');
    const { runId } = JSON.parse(bodies[0]!) as { runId: string };
    const runs = (
      await hub.runtime.store.readAll({ filter: { types: ['WorkflowRunStarted'] }, maxCount: 10_000 })
    ).filter((e) => (e.data as { input?: unknown }).input === 'Ada');
    assert.equal(
      runs.map((e) => (e.data as { runId: string }).runId),
      [runId],
      'one run started',
    );
  });

  s('the same key with a different body is refused and starts nothing', async () => {
    const key = randomUUID();
    const first = await post(hub.url, hub.apiKey, `/workflows/${workflow}/runs`, { input: 'Grace' }, key);
    assert.is(first.status, 202);
    const other = await post(
      urls.at(-1)!,
      hub.apiKey,
      `/workflows/${workflow}/runs`,
      { input: 'Linus' },
      key,
    );
    assert.is(other.status, 422);
    assert.match(await other.text(), /different request/);
    const runs = await hub.runtime.store.readAll({
      filter: { types: ['WorkflowRunStarted'] },
      maxCount: 10_000,
    });
    assert.is(runs.filter((e) => (e.data as { input?: unknown }).input === 'Linus').length, 0);
  });

  s("another tenant's equal key is its own", async () => {
    const otherKey = await hub.addTenant(`t${randomUUID().slice(0, 8)}`);
    const key = randomUUID();
    const mine = await post(hub.url, hub.apiKey, `/workflows/${workflow}/runs`, { input: 'Ada' }, key);
    const theirs = await post(hub.url, otherKey, `/workflows/${workflow}/runs`, { input: 'Ada' }, key);
    assert.is(mine.status, 202);
    assert.is(
      theirs.status,
      404,
      'the other tenant has no such workflow: its request ran, it was not a replay',
    );
    assert.is(theirs.headers.get('idempotent-replayed'), null);
  });

  s('a body over the limit is a 413 before any key is taken, and the key stays free', async () => {
    const key = randomUUID();
    const huge = { input: 'h'.repeat(2 * 1024 * 1024) };
    const tooBig = await post(hub.url, hub.apiKey, `/workflows/${workflow}/runs`, huge, key);
    assert.is(tooBig.status, 413);
    assert.match(await tooBig.text(), /AGENTCORE_BODY_LIMIT_BYTES/);
    // The server answered without reading the body; it drains for up to 500 ms, then closes that
    // connection. Let it, so that the client's pool does not hand the closing socket to the next request.
    await new Promise((r) => setTimeout(r, 700));
    const ok = await post(hub.url, hub.apiKey, `/workflows/${workflow}/runs`, { input: 'fits' }, key);
    assert.is(ok.status, 202, 'the key was not spent on the refused request');
  });

  s('a malformed key is a 400 naming the header', async () => {
    const bad = await post(
      hub.url,
      hub.apiKey,
      `/workflows/${workflow}/runs`,
      { input: 'x' },
      'a'.repeat(300),
    );
    assert.is(bad.status, 400);
    assert.match(await bad.text(), /Idempotency-Key/);
  });

  s.run();
}
