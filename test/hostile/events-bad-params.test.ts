/**
 * Hostile query parameters on the read API, on both runtimes: a bad `after` or `Last-Event-ID` on
 * GET /api/events, and NUL characters or broken Unicode in any string parameter of GET /api/events and
 * GET /api/agents, each answered 400 naming the parameter (they answered 500, or a 200 stream that broke);
 * and the correlation filter of GET /api/events.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimesFor, startHub, type TestHub } from '../support/hub.ts';
import { readSse } from '../support/sse.ts';
import { waitFor } from '../support/wait.ts';

interface Answer {
  status: number;
  message: string;
}

for (const kind of await runtimesFor('read API parameters')) {
  const s = suite(`read API bad parameters (${kind})`);
  let hub: TestHub;

  /** The status and error message of a GET (a 200 stream is closed unread). */
  const get = async (path: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${hub.url}${path}`, { headers: { 'X-API-Key': hub.apiKey, ...headers } });
    if (res.status === 200) {
      await res.body?.cancel();
      return { status: 200, message: '' };
    }
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {}
    return { status: res.status, message };
  };
  const refused = async (path: string, field: RegExp, headers: Record<string, string> = {}) => {
    const answer = await get(path, headers);
    assert.is(answer.status, 400, `${path} ${JSON.stringify(headers)}: ${answer.message}`);
    assert.match(answer.message, field, path);
    assert.not.match(answer.message, /\n\s+at /, 'no stack trace');
  };

  s.before(async () => {
    hub = await startHub(kind);
    await waitFor('the key accepted', async () => (await get('/api/events?types=None')).status !== 401);
    await hub.runtime.store.append(`probe-${randomUUID()}`, [
      {
        id: randomUUID(),
        type: 'ParamsProbed',
        data: {},
        metadata: { tenant: 'default', principal: 'test', correlationId: 'c', causationId: null },
      },
    ]);
  });
  s.after(async () => hub?.stop());

  s('GET /api/events: a bad `after` is 400 naming it', async () => {
    for (const after of ['abc', '-1', '1.5', '1e3', '0x10', '99999999999999999999', '9007199254740993', ''])
      await refused(`/api/events?after=${encodeURIComponent(after)}`, /^after: /);
    // a well-formed position that is not in the log
    await refused(
      '/api/events?after=9007199254740991',
      /^after: position 9007199254740991 is not in the log/,
    );
    await refused('/api/events?after=123456789', /^after: position 123456789 is not in the log/);
  });

  s('GET /api/events: a bad Last-Event-ID is 400 naming it; a good one resumes', async () => {
    for (const id of ['abc', '-5', '1.0', '99999999999999999999'])
      await refused('/api/events', /^Last-Event-ID: /, { 'Last-Event-ID': id });
    await refused('/api/events', /^Last-Event-ID: position 987654321 is not in the log/, {
      'Last-Event-ID': '987654321',
    });
    // a position of the log is fine, as is a whole read from 0
    const res = await fetch(`${hub.url}/api/events?types=ParamsProbed`, {
      headers: { 'X-API-Key': hub.apiKey },
    });
    let position = '';
    for await (const e of readSse(res)) {
      position = e.id ?? '';
      break;
    }
    assert.match(position, /^\d+$/);
    assert.is((await get('/api/events', { 'Last-Event-ID': position })).status, 200);
    assert.is((await get(`/api/events?after=${position}`)).status, 200);
  });

  s(
    'GET /api/events: NUL characters and broken Unicode in types or streamPrefix are 400 naming them',
    async () => {
      await refused('/api/events?types=Task%00Submitted', /^types: must not contain a NUL character/);
      await refused('/api/events?streamPrefix=task-%00', /^streamPrefix: must not contain a NUL character/);
      await refused(`/api/events?streamPrefix=${'x'.repeat(501)}`, /^streamPrefix: at most 500 characters/);
      // invalid UTF-8 percent-escapes are not decoded into anything harmful: never a 500
      for (const bad of ['%ED%A0%80', '%C0%AF', '%FF'])
        assert.ok((await get(`/api/events?streamPrefix=${bad}`)).status < 500, bad);
    },
  );

  s('GET /api/events?correlationId= serves only that correlation; a bad one is 400 naming it', async () => {
    const stream = `corr-${randomUUID()}`;
    const probe = (correlationId: string) => ({
      id: randomUUID(),
      type: 'CorrelationProbed',
      data: { correlationId },
      metadata: { tenant: 'default', principal: 'test', correlationId, causationId: null },
    });
    const run = `run-${randomUUID()}`;
    await hub.runtime.store.append(stream, [probe('other'), probe(run), probe('other'), probe(run)]);
    const res = await fetch(`${hub.url}/api/events?streamPrefix=corr-&correlationId=${run}`, {
      headers: { 'X-API-Key': hub.apiKey },
    });
    const got: Array<{ stream: string; metadata: { correlationId: string } }> = [];
    for await (const e of readSse(res)) {
      got.push(e.data as (typeof got)[number]);
      if (got.length === 2) break;
    }
    assert.equal(
      got.map((e) => [e.stream, e.metadata.correlationId]),
      [
        [stream, run],
        [stream, run],
      ],
    );
    await refused('/api/events?correlationId=a%00b', /^correlationId: must not contain a NUL character/);
    await refused(`/api/events?correlationId=${'x'.repeat(501)}`, /^correlationId: at most 500 characters/);
  });

  s(
    'an unknown query parameter is a 400 naming it and the known ones, on /api/events and /api/agents',
    async () => {
      await refused(
        '/api/events?streamPrefx=task-',
        /^unknown parameter streamPrefx \(known: after, types, streamPrefix, correlationId\)$/,
      );
      await refused('/api/events?status=x&foo=1', /^unknown parameters status, foo \(known: /);
      await refused(
        '/api/agents?skill=echo&limt=5',
        /^unknown parameter limt \(known: q, skill, tags, limit, routable, tenant\)$/,
      );
      assert.is((await get('/api/events?streamPrefix=task-')).status, 200, 'the known ones still answer');
    },
  );

  s('GET /api/agents: NUL characters in any string parameter are 400 naming it, never 500', async () => {
    await refused('/api/agents?skill=a%00b', /^skill: must not contain a NUL character/);
    await refused('/api/agents?q=find%00me', /^q: must not contain a NUL character/);
    await refused('/api/agents?tags=a,b%00c', /^tags: must not contain a NUL character/);
    await refused('/api/agents?skill=echo&tenant=def%00ault', /^tenant: must not contain a NUL character/);
    for (const bad of ['%ED%A0%80', '%C0%AF', '%FF'])
      assert.ok((await get(`/api/agents?skill=${bad}`)).status < 500, bad);
    await refused('/api/agents?skill=echo&limit=1e99', /^limit: /);
    await refused('/api/agents?skill=echo&routable=maybe', /^routable: /);
    assert.is((await get('/api/agents?skill=echo')).status, 200, 'a good query still answers');
  });

  s.run();
}
