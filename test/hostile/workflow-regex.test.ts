/**
 * Regular-expression denial of service through a workflow, end to end on both runtimes: runs whose decision
 * tests `^(a+)+$` on a crafted 30,000-character output complete at once, and another tenant's SendMessage,
 * sent meanwhile, still answers quickly (with a backtracking engine the saga froze: embedded, the whole hub).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readWorkflowRun } from '../../workflows/service.ts';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { rpc } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

const kinds = await runtimesFor('workflow regex');
const evil = `${'a'.repeat(30_000)}b`;
const redos = {
  name: 'redos',
  start: 'gen',
  nodes: {
    gen: { kind: 'task', agent: 'echo', input: '{{input}}', next: 'check' },
    check: {
      kind: 'decision',
      cases: [{ when: { step: 'gen', matches: '^(a+)+$' }, next: 'matched' }],
      otherwise: 'unmatched',
    },
    matched: { kind: 'task', agent: 'echo', input: 'matched' },
    unmatched: { kind: 'task', agent: 'echo', input: 'unmatched' },
  },
};

for (const kind of kinds) {
  const s = suite(`workflow regex (${kind})`);
  let hub: TestHub;
  let otherKey: string;
  const api = (path: string, body?: unknown) =>
    fetch(`${hub.url}/api/admin${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'X-API-Key': hub.apiKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  s.before(async () => {
    hub = await startHub(kind);
    otherKey = await hub.addTenant('regex-bystander');
  });
  s.after(async () => hub?.stop());

  s('a pattern with lookarounds is refused at definition, naming the node and the field', async () => {
    const lookahead = structuredClone(redos);
    lookahead.nodes.check.cases[0]!.when.matches = '^(?=a)a+$';
    const res = await api('/workflows', lookahead);
    assert.is(res.status, 400);
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /nodes\.check\.cases\.0\.when\.matches: .*lookarounds.*`\(\?=`/);
  });

  s("crafted outputs decide at once, and another tenant's message is answered meanwhile", async () => {
    assert.is((await api('/workflows', redos)).status, 201);
    const started = Date.now();
    const runs = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const res = await api('/workflows/redos/runs', { input: evil });
        assert.is(res.status, 202);
        return ((await res.json()) as { runId: string }).runId;
      }),
    );
    // While the runs decide: another tenant's ordinary message.
    const sent = Date.now();
    const reply = await rpc(hub.url, otherKey, 'SendMessage', {
      message: { messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ text: 'still there?' }] },
    });
    const answeredMs = Date.now() - sent;
    assert.is(reply.status, 200);
    assert.ok(((await reply.json()) as { result?: unknown }).result, 'a result');
    assert.ok(answeredMs < 3000, `the other tenant waited ${answeredMs} ms`);
    for (const runId of runs) {
      const run = await waitFor(
        `run ${runId} to complete`,
        async () => {
          const r = await readWorkflowRun(hub.runtime.store, 'default', runId);
          return r?.status === 'completed' || r?.status === 'failed' ? r : null;
        },
        20_000,
      );
      assert.is(run.status, 'completed');
      assert.is(run.output, 'unmatched');
    }
    assert.ok(Date.now() - started < 20_000, `the runs took ${Date.now() - started} ms`);
  });

  s.run();
}
