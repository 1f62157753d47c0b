/**
 * The audit trail end to end, on both runtimes: accepted and refused commands (A2A and admin) with who,
 * which key, which request and from where; filters, cursor paging, bad input; tenant isolation; a row
 * changed directly in the database named by GET /api/audit/verify and `agentcore audit verify`; and
 * secrets never served by GET /api/events.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashApiKey } from '../../commands/bootstrap.ts';
import type { AuditView } from '../../projections/audit-query.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { DATABASE_URL } from '../support/services.ts';
import { readSse } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

type Page = { entries: AuditView[]; nextCursor: string | null };
type ErrorBody = { error: { code: number; status: string; message: string } };

const run = promisify(execFile);

for (const kind of await runtimesFor('audit e2e')) {
  const s = suite(`audit (${kind})`);
  let hub: TestHub;
  let otherKey: string;
  let taskId: string;
  let sendRequestId: string;
  let cancelRequestId: string;

  const rpc = async (method: string, params: unknown, key = hub.apiKey) => {
    const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'A2A-Version': '1.0', 'x-api-key': key },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    const body = (await res.json()) as {
      result?: { task?: { id: string; status: { state: string } } };
      error?: unknown;
    };
    return { body, requestId: res.headers.get('x-request-id')! };
  };
  const admin = (path: string, body: unknown, key = hub.apiKey) =>
    fetch(`${hub.url}/api/admin${path}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const audit = async (query = '', key = hub.apiKey) => {
    const res = await fetch(`${hub.url}/api/audit${query}`, { headers: { 'x-api-key': key } });
    return { status: res.status, body: (await res.json()) as Page & ErrorBody };
  };
  /** The page once it holds `count` entries (the projection runs asynchronously). */
  const auditHas = (query: string, count: number, key = hub.apiKey) =>
    waitFor(`${count} audit entries for ${query}`, async () => {
      const { body } = await audit(query, key);
      return body.entries.length >= count ? body.entries : null;
    });

  s.before(async () => {
    hub = await startHub(kind);
    otherKey = await hub.addTenant('audit-other');
    const sent = await rpc('SendMessage', {
      message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'hi' }] },
      configuration: { returnImmediately: true },
    });
    taskId = sent.body.result!.task!.id;
    sendRequestId = sent.requestId;
    await waitFor('the task completed', async () => {
      const got = await rpc('GetTask', { id: taskId });
      return (
        got.body.result &&
        (got.body.result as { status: { state: string } }).status.state === 'TASK_STATE_COMPLETED'
      );
    });
    const cancel = await rpc('CancelTask', { id: taskId });
    assert.ok(cancel.body.error, 'a completed task cannot be canceled');
    cancelRequestId = cancel.requestId;
  });
  s.after(async () => hub?.stop());

  s('an accepted SendMessage is one entry: who, which key, which request, from where', async () => {
    const [entry] = await auditHas(`?commandType=SubmitTask&streamPrefix=task-${taskId}`, 1);
    assert.is(entry!.outcome, 'accepted');
    assert.is(entry!.stream, `task-${taskId}`);
    assert.is(entry!.tenant, 'default');
    assert.ok(entry!.keyId, 'the key id');
    assert.is(entry!.principal, `apikey:default/${entry!.keyId}`);
    assert.is(entry!.requestId, sendRequestId);
    assert.match(entry!.source ?? '', /127\.0\.0\.1|::1/);
    assert.is(entry!.reason, null);
    assert.not.ok(JSON.stringify(entry).includes(hashApiKey(hub.apiKey)), 'never the key hash');
  });

  s(
    'a refused CancelTask is an entry with outcome refused and its reason; nothing in the task stream',
    async () => {
      const [entry] = await auditHas('?outcome=refused&commandType=CancelTask', 1);
      assert.is(entry!.stream, `task-${taskId}`);
      assert.is(entry!.requestId, cancelRequestId);
      assert.match(entry!.reason ?? '', /^FAILED_PRECONDITION: .*/);
      const events = await hub.runtime.store.readStream(`task-${taskId}`);
      assert.ok(
        events.every((e) => e.type !== 'CommandRefused'),
        'refusals stay out of domain streams',
      );
    },
  );

  s(
    "refused admin requests (a rule, invalid input); another tenant's refusal is in its own trail",
    async () => {
      assert.is((await admin('/agents/no-such-agent/disable', { reason: 'why not' })).status, 404);
      assert.is((await admin('/agents', { url: 'not a url' })).status, 400);
      const refused = await auditHas('?outcome=refused', 3);
      const byCommand = Object.fromEntries(refused.map((e) => [e.commandType, e]));
      assert.match(byCommand.DisableAgent?.reason ?? '', /^NOT_FOUND: agent no-such-agent not found/);
      assert.match(byCommand.RegisterAgent?.reason ?? '', /^INVALID_ARGUMENT: url/);
      assert.ok(refused.every((e) => e.tenant === 'default'));
      // Another tenant's refusal is in its own trail: a CancelTask of a task it cannot see.
      assert.ok((await rpc('CancelTask', { id: taskId }, otherKey)).body.error);
      const [theirs] = await auditHas('?outcome=refused', 1, otherKey);
      assert.is(theirs!.commandType, 'CancelTask');
      assert.match(theirs!.reason ?? '', /^NOT_FOUND/);
      assert.is(theirs!.stream, null, 'refused before a stream of its tenant was known');
      assert.is(theirs!.tenant, 'audit-other');
      assert.is(
        (await audit('?outcome=refused&commandType=CancelTask')).body.entries.length,
        1,
        'not in default',
      );
    },
  );

  s('filters, cursor paging, and tenant isolation', async () => {
    const all = (await audit('?limit=500')).body.entries;
    assert.ok(all.length >= 4);
    assert.ok(
      all.every((e) => e.tenant === 'default'),
      "only the caller's tenant",
    );
    assert.equal(
      all.map((e) => e.seq),
      [...all.map((e) => e.seq)].sort((a, b) => b - a),
      'newest first',
    );
    const pages: AuditView[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const { status, body } = await audit(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.is(status, 200);
      pages.push(...body.entries);
      cursor = body.nextCursor;
    }
    assert.equal(
      pages.slice(0, all.length).map((e) => e.id),
      all.map((e) => e.id),
    );
    const principal = all.find((e) => e.keyId)!.principal;
    const byPrincipal = (await audit(`?principal=${encodeURIComponent(principal)}&limit=500`)).body.entries;
    assert.ok(byPrincipal.length > 0 && byPrincipal.every((e) => e.principal === principal));
    const accepted = (await audit('?outcome=accepted&limit=500')).body.entries;
    assert.ok(accepted.every((e) => e.outcome === 'accepted'));
    const at = all[0]!.at;
    const fromLast = (await audit(`?from=${at}&limit=500`)).body.entries;
    assert.ok(fromLast.length >= 1 && fromLast.every((e) => e.at >= at));
    const beforeLast = (await audit(`?to=${at}&limit=500`)).body.entries;
    assert.ok(beforeLast.every((e) => e.at < at));
    const theirs = (await audit('?limit=500', otherKey)).body.entries;
    assert.ok(theirs.length >= 1 && theirs.every((e) => e.tenant === 'audit-other'));
  });

  s('bad input is a precise 400; no key is 401', async () => {
    const cases: Array<[string, RegExp]> = [
      ['?cursor=bm9wZQ', /cursor: is not a cursor this API gave/],
      ['?outcome=maybe', /outcome: must be accepted or refused/],
      ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', /from must be before to/],
      ['?from=yesterday', /from: must be an ISO 8601 instant/],
      ['?limit=0', /limit: must be at least 1/],
      ['?actor=me', /unknown parameter actor/],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await audit(query);
      assert.is(status, 400, query);
      assert.match(body.error.message, message, query);
    }
    assert.is((await fetch(`${hub.url}/api/audit`)).status, 401);
    assert.is((await fetch(`${hub.url}/api/audit/verify`)).status, 401);
  });

  s('verify: ok, then a row changed directly in the database is named, by the API and the CLI', async () => {
    const verify = async (key = hub.apiKey) =>
      (await (await fetch(`${hub.url}/api/audit/verify`, { headers: { 'x-api-key': key } })).json()) as {
        ok: boolean;
        entries: number;
        broken?: { id: string; seq: number; reason: string };
      };
    const sound = await verify();
    assert.is(sound.ok, true);
    assert.ok(sound.entries >= 4);
    const [victim] = (await audit('?outcome=refused&commandType=CancelTask')).body.entries;
    const tamper = `UPDATE rm_audit SET reason = 'nothing to see' WHERE tenant = 'default' AND seq = ${victim!.seq}`;
    if (kind === 'distributed') {
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`SET search_path TO ${hub.runtime.config.pgSchema}`);
        await sql.unsafe(tamper);
      } finally {
        await sql.end();
      }
    } else {
      await hub.runtime.db.query(tamper); // the hub's PGlite
    }
    const broken = await verify();
    assert.is(broken.ok, false);
    assert.equal(broken.broken?.seq, victim!.seq);
    assert.is(broken.broken?.id, victim!.id);
    assert.match(broken.broken?.reason ?? '', /changed after it was recorded/);
    assert.is((await verify(otherKey)).ok, true, "another tenant's chain is its own");

    const cli = await run(
      process.execPath,
      ['--import', 'tsx', 'bin/agentcore.ts', 'audit', 'verify', '--hub', hub.url, '--key', hub.apiKey],
      { cwd: new URL('../..', import.meta.url).pathname },
    ).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    assert.is(cli.code, 1, 'exit code 1: broken');
    assert.match(
      cli.stdout,
      new RegExp(`BROKEN: tenant default, entry seq ${victim!.seq} \\(id ${victim!.id}\\)`),
    );
  });

  s('GET /api/events never serves an API key hash (ApiKeyIssued comes redacted)', async () => {
    const stop = new AbortController();
    try {
      const res = await fetch(`${hub.url}/api/events?types=ApiKeyIssued`, {
        headers: { 'x-api-key': otherKey },
        signal: stop.signal,
      });
      assert.is(res.status, 200);
      for await (const e of readSse(res)) {
        const data = (e.data as { data: { keyHash: string; keyId: string } }).data;
        assert.is(data.keyHash, '[redacted]');
        assert.ok(data.keyId, 'the rest of the event is served');
        break;
      }
    } finally {
      stop.abort();
    }
  });

  s.run();
}
