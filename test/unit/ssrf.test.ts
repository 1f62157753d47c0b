/**
 * The SSRF guard. Nothing here sends traffic anywhere but 127.0.0.1: public addresses are only checked
 * (literal IPs, or names resolved by an injected lookup), and requests "to" them go to a fake transport.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assertPublicUrl,
  classifyAddress,
  type Lookup,
  safeFetch,
  UnsafeUrlError,
} from '../../infra/ssrf.ts';

const deny = { allowPrivate: false };
const allow = { allowPrivate: true };

const refused = async (p: Promise<unknown>, message?: RegExp) => {
  try {
    await p;
  } catch (error) {
    assert.instance(error, UnsafeUrlError);
    if (message) assert.match((error as Error).message, message);
    return error as UnsafeUrlError;
  }
  assert.unreachable('expected an UnsafeUrlError');
};

const fakeLookup =
  (table: Record<string, string[]>): Lookup =>
  async (host) => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

/**
 * Every address class the guard must tell apart: [address, null when it may be called, or what the
 * refusal must say]. IPv4, IPv6, IPv4 in IPv6 (mapped, compatible, translated, NAT64, 6to4, Teredo) and
 * IANA's special-purpose ranges.
 */
const ADDRESSES: Array<[string, RegExp | null]> = [
  // public IPv4 and IPv6
  ['8.8.8.8', null],
  ['1.1.1.1', null],
  ['93.184.216.34', null],
  ['172.32.0.1', null],
  ['100.128.0.1', null],
  ['198.20.0.1', null],
  ['2606:4700::1111', null],
  ['2a00:1450:4007:80e::200e', null],
  ['::ffff:8.8.8.8', null], // IPv4-mapped: judged as the IPv4 address it is
  // IPv4 special ranges
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['10.1.2.3', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.168.1.1', /private/],
  ['169.254.169.254', /link-local/],
  ['100.64.0.1', /CGNAT/],
  ['100.127.255.255', /CGNAT/],
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['255.255.255.255', /broadcast/],
  ['192.0.0.8', /reserved/],
  ['192.0.2.1', /reserved/],
  ['198.51.100.7', /reserved/],
  ['203.0.113.9', /reserved/],
  ['198.18.0.1', /reserved/],
  ['198.19.255.255', /reserved/],
  ['240.0.0.1', /reserved/],
  ['192.88.99.1', /reserved/],
  // IPv6 special ranges
  ['::1', /loopback/],
  ['::', /unspecified/],
  ['fc00::1', /private \(unique local\)/],
  ['fd12:3456::1', /private \(unique local\)/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['fec0::1', /site-local/],
  ['ff02::1', /multicast/],
  ['2001:db8::1', /reserved/],
  ['100::1', /reserved \(discard\)/],
  ['2001:2::1', /reserved \(benchmarking\)/],
  ['3fff::1', /reserved/],
  // IPv4 addresses in IPv6 clothing
  ['::ffff:127.0.0.1', /loopback \(IPv4-mapped\)/],
  ['::ffff:7f00:1', /loopback \(IPv4-mapped\)/],
  ['::ffff:169.254.169.254', /link-local \(IPv4-mapped\)/],
  ['::ffff:10.0.0.1', /private \(IPv4-mapped\)/],
  ['::ffff:192.0.2.1', /reserved .*\(IPv4-mapped\)/],
  ['::ffff:0:7f00:1', /loopback \(IPv4-translated\)/],
  ['::ffff:0:808:808', /IPv4 address in IPv6 form \(IPv4-translated\)/],
  // ipaddr.js reads the dotted form ::a.b.c.d as IPv4-mapped; URL parsing writes it ::7f00:1 (compatible)
  ['::127.0.0.1', /loopback \(IPv4-(mapped|compatible)\)/],
  ['::7f00:1', /loopback \(IPv4-compatible\)/],
  ['::10.0.0.1', /private \(IPv4-(mapped|compatible)\)/],
  ['64:ff9b::7f00:1', /loopback \(NAT64\)/],
  ['64:ff9b::a9fe:a9fe', /link-local \(NAT64\)/],
  ['64:ff9b::808:808', /IPv4 address in IPv6 form \(NAT64\)/],
  ['64:ff9b:1::a00:1', /NAT64/],
  ['2002:7f00:1::', /loopback \(6to4\)/],
  ['2002:a9fe:a9fe::1', /link-local \(6to4\)/],
  ['2002:808:808::1', /IPv4 address in IPv6 form \(6to4\)/],
  // Teredo: server 65.54.227.120, client 127.0.0.1 with every bit flipped (80ff:fffe)
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', /loopback \(Teredo\)/],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /\(Teredo\)/],
  // not addresses at all
  ['example.com', /not an IP address/],
  ['', /not an IP address/],
];

test(`addresses: ${ADDRESSES.length} of them, public ones pass, every other one is named`, () => {
  assert.ok(ADDRESSES.length >= 40);
  for (const [address, why] of ADDRESSES) {
    const got = classifyAddress(address);
    if (why === null) assert.is(got, null, `${address} is public`);
    else assert.match(got ?? 'public', why, `${address}: ${got ?? 'public'}`);
  }
});

test('URLs: every refused address is refused as a URL host, in every spelling URL parsing lets through', async () => {
  for (const [address, why] of ADDRESSES) {
    if (!why || /not an IP|%/.test(`${why} ${address}`)) continue;
    const host = address.includes(':') ? `[${address}]` : address;
    await refused(assertPublicUrl(`http://${host}:8080/hook`, deny), why);
  }
  // WHATWG URL parsing turns these IPv4 spellings into dotted decimal (and IPv6 into its short form)
  // before the check sees them; each must still be refused.
  const spellings: Array<[string, RegExp]> = [
    ['http://2130706433/', /loopback/], // decimal
    ['http://0x7f.1/', /loopback/], // hex
    ['http://0x7f000001/', /loopback/],
    ['http://0177.0.0.1/', /loopback/], // octal
    ['http://017700000001/', /loopback/],
    ['http://127.1/', /loopback/],
    ['http://0/', /unspecified/],
    ['http://0xa9.0xfe.0xa9.0xfe/', /link-local/],
    ['http://[::ffff:0:7f00:1]/', /loopback \(IPv4-translated\)/],
    ['http://[::ffff:127.0.0.1]/', /loopback \(IPv4-mapped\)/],
    ['http://[::127.0.0.1]/', /loopback \(IPv4-compatible\)/],
    ['http://[0:0:0:0:0:ffff:7f00:0001]/', /loopback \(IPv4-mapped\)/],
    ['http://[64:ff9b::127.0.0.1]/', /loopback \(NAT64\)/],
  ];
  for (const [url, why] of spellings) {
    await refused(assertPublicUrl(url, deny), why);
    assert.ok(await assertPublicUrl(url, allow), `${url} passes with private URLs allowed`);
  }
});

test('names: every resolved address is checked, IPv6 forms of private IPv4 included', async () => {
  const lookup = fakeLookup({
    'nat64.example': ['93.184.216.34', '64:ff9b::a00:1'],
    'translated.example': ['::ffff:0:a9fe:a9fe'],
    'sixtofour.example': ['2002:c0a8:101::1', '8.8.8.8'],
    'doc.example': ['203.0.113.5'],
  });
  await refused(assertPublicUrl('https://nat64.example/', { ...deny, lookup }), /private \(NAT64\)/);
  await refused(
    assertPublicUrl('https://translated.example/', { ...deny, lookup }),
    /link-local \(IPv4-translated\)/,
  );
  await refused(assertPublicUrl('https://sixtofour.example/', { ...deny, lookup }), /private \(6to4\)/);
  await refused(assertPublicUrl('https://doc.example/', { ...deny, lookup }), /reserved/);
});

test('literal IPs in URLs: refused unless private targets are allowed', async () => {
  for (const url of [
    'http://127.0.0.1:8080/hook',
    'http://[::1]/hook',
    'http://10.0.0.5/',
    'http://192.168.0.10/',
    'http://172.20.1.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.1.1/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://224.0.0.251/',
    'http://255.255.255.255/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fe80::1]/',
    'http://[fd00::1]/',
    // WHATWG URL parsing normalises these to 127.0.0.1 before the check sees them.
    'http://2130706433/',
    'http://0x7f.1/',
    'http://127.1/',
  ]) {
    await refused(assertPublicUrl(url, deny));
    assert.is((await assertPublicUrl(url, allow)).href, new URL(url).href);
  }
  const err = await refused(assertPublicUrl('http://169.254.169.254/x', deny), /link-local/);
  assert.is(err?.url, 'http://169.254.169.254/x');
  assert.is((await assertPublicUrl('https://8.8.8.8/hook', deny)).hostname, '8.8.8.8');
  assert.is((await assertPublicUrl('http://[2606:4700::1111]:8443/', deny)).port, '8443');
});

test('only http and https, whatever allowPrivate says; garbage is refused readably', async () => {
  for (const url of ['ftp://8.8.8.8/x', 'file:///etc/passwd', 'gopher://8.8.8.8/', 'javascript:alert(1)']) {
    await refused(assertPublicUrl(url, deny), /not allowed: use http or https/);
    await refused(assertPublicUrl(url, allow), /not allowed: use http or https/);
  }
  await refused(assertPublicUrl('not a url', allow), /not an absolute URL/);
});

test('localhost (and *.localhost) is loopback, with or without a resolver', async () => {
  await refused(assertPublicUrl('http://localhost:3000/hook', deny), /loopback/);
  await refused(assertPublicUrl('http://LOCALHOST./hook', deny), /loopback/);
  await refused(assertPublicUrl('http://api.localhost/hook', deny), /loopback/);
  assert.is((await assertPublicUrl('http://localhost:3000/hook', allow)).port, '3000');
});

test('names: refused when ANY resolved address is not public; unresolvable names are refused', async () => {
  const lookup = fakeLookup({
    'hooks.example': ['93.184.216.34', '2606:2800:220:1::1'],
    'rebind.example': ['93.184.216.34', '10.0.0.7'],
    'mapped.example': ['::ffff:127.0.0.1'],
    'meta.example': ['169.254.169.254'],
  });
  assert.is(
    (await assertPublicUrl('https://hooks.example/a2a', { ...deny, lookup })).hostname,
    'hooks.example',
  );
  await refused(
    assertPublicUrl('https://rebind.example/a2a', { ...deny, lookup }),
    /private address \(rebind\.example resolves to 10\.0\.0\.7\)/,
  );
  await refused(assertPublicUrl('https://mapped.example/', { ...deny, lookup }), /loopback \(IPv4-mapped\)/);
  await refused(assertPublicUrl('https://meta.example/', { ...deny, lookup }), /link-local/);
  await refused(
    assertPublicUrl('https://nowhere.example/', { ...deny, lookup }),
    /cannot resolve nowhere\.example/,
  );
  // allowPrivate: nothing is resolved at all.
  assert.ok(await assertPublicUrl('https://rebind.example/', { ...allow, lookup }));
});

test('the real resolver: localhost names resolve to loopback and are refused', async () => {
  // dns.lookup of a name that /etc/hosts maps: no query leaves the machine.
  const { promises: dns } = await import('node:dns');
  const addresses = await dns.lookup('localhost', { all: true });
  assert.ok(addresses.length > 0);
  for (const a of addresses) assert.match(classifyAddress(a.address) ?? 'public', /loopback/);
});

/** A fake transport: answers from a script, records what it was asked, sends nothing. */
const scripted = (answers: Array<(url: URL, init: RequestInit) => Response>) => {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = async (url: URL, init: RequestInit) => {
    calls.push({ url: url.href, init });
    const next = answers.shift();
    if (!next) throw new Error('unexpected request');
    return next(url, init);
  };
  return { fetch, calls };
};
const redirect =
  (location: string, status = 302) =>
  () =>
    new Response(null, { status, headers: { location } });
const ok = () => new Response('ok', { status: 200 });

test('safeFetch: every redirect hop is checked; a hop to a private address is refused before it is sent', async () => {
  const t = scripted([redirect('http://169.254.169.254/latest/meta-data/', 307)]);
  await refused(
    safeFetch('https://8.8.8.8/hook', { method: 'POST', body: '{}' }, { ...deny, fetch: t.fetch }),
    /link-local/,
  );
  assert.equal(
    t.calls.map((c) => c.url),
    ['https://8.8.8.8/hook'],
  );
  assert.is(t.calls[0]!.init.redirect, 'manual');

  const lookup = fakeLookup({ 'evil.example': ['127.0.0.1'] });
  const t2 = scripted([redirect('http://evil.example:9000/')]);
  await refused(safeFetch('https://8.8.8.8/hook', {}, { ...deny, lookup, fetch: t2.fetch }), /loopback/);
  assert.is(t2.calls.length, 1);

  for (const location of [
    'http://[::ffff:0:7f00:1]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://100.64.0.1/',
  ]) {
    const hop = scripted([redirect(location, 308)]);
    await refused(safeFetch('https://8.8.8.8/hook', {}, { ...deny, fetch: hop.fetch }));
    assert.is(hop.calls.length, 1, `${location} is never asked`);
  }

  const t3 = scripted([redirect('file:///etc/passwd')]);
  await refused(safeFetch('https://8.8.8.8/hook', {}, { ...allow, fetch: t3.fetch }), /use http or https/);
});

test('safeFetch: at most 3 redirects; 307 keeps the POST, 303 turns it into a GET; credentials stay on their origin', async () => {
  const t = scripted([
    redirect('/two', 307),
    redirect('https://1.1.1.1/three', 308),
    redirect('https://1.1.1.1/four', 303),
    ok,
  ]);
  const init: RequestInit = {
    method: 'POST',
    body: '{"a":1}',
    headers: {
      'content-type': 'application/a2a+json',
      authorization: 'Bearer s3cret',
      'x-a2a-notification-token': 't',
    },
  };
  const res = await safeFetch('https://8.8.8.8/one', init, { ...deny, fetch: t.fetch });
  assert.is(res.status, 200);
  assert.equal(
    t.calls.map((c) => [c.url, c.init.method, c.init.body ?? null]),
    [
      ['https://8.8.8.8/one', 'POST', '{"a":1}'],
      ['https://8.8.8.8/two', 'POST', '{"a":1}'],
      ['https://1.1.1.1/three', 'POST', '{"a":1}'],
      ['https://1.1.1.1/four', 'GET', null],
    ],
  );
  const auth = t.calls.map((c) => new Headers(c.init.headers).get('authorization'));
  assert.equal(auth, ['Bearer s3cret', 'Bearer s3cret', null, null]);
  assert.is(new Headers(t.calls[3]!.init.headers).get('content-type'), null);

  const loop = scripted([redirect('/a'), redirect('/b'), redirect('/c'), redirect('/d'), ok]);
  await refused(
    safeFetch('https://8.8.8.8/', {}, { ...deny, fetch: loop.fetch }),
    /redirected more than 3 times/,
  );
  assert.is(loop.calls.length, 4);
});

const listen = async (handler: http.RequestListener) => {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

test('safeFetch over the real transport (127.0.0.1 only): allowed when private is allowed, refused otherwise', async () => {
  const seen: Array<{ method?: string; url?: string; body: string; headers: http.IncomingHttpHeaders }> = [];
  const { server, url } = await listen((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body, headers: req.headers });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/final' }).end();
        return;
      }
      res.writeHead(201, { 'content-type': 'text/plain', 'x-multi': ['a', 'b'] }).end('created');
    });
  });
  try {
    const res = await safeFetch(
      `${url}/hook`,
      { method: 'POST', headers: { 'content-type': 'application/a2a+json' }, body: '{"x":1}' },
      allow,
    );
    assert.is(res.status, 201);
    assert.is(await res.text(), 'created');
    assert.is(res.headers.get('x-multi'), 'a, b');
    assert.is(seen[0]?.body, '{"x":1}');
    assert.is(seen[0]?.headers['content-type'], 'application/a2a+json');

    const followed = await safeFetch(`${url}/redirect`, {}, allow);
    assert.is(followed.status, 201);
    assert.equal(
      seen.slice(1).map((s) => s.url),
      ['/redirect', '/final'],
    );

    const before = seen.length;
    await refused(safeFetch(`${url}/hook`, { method: 'POST', body: '{}' }, deny), /loopback/);
    // A name whose connection-time lookup yields a loopback address is refused at connect time too.
    const port = new URL(url).port;
    const lookup = fakeLookup({ 'sneaky.example': ['127.0.0.1'] });
    let calls = 0;
    const flipping: Lookup = async (host) =>
      calls++ === 0 ? [{ address: '8.8.8.8', family: 4 }] : lookup(host);
    await refused(
      safeFetch(
        `http://sneaky.example:${port}/hook`,
        { method: 'POST', body: '{}' },
        { ...deny, lookup: flipping },
      ),
      /sneaky\.example resolves to a loopback address/,
    );
    assert.is(calls, 2, 'checked once before the request and once at connect time');
    assert.is(seen.length, before, 'nothing reached the server');

    const aborted = safeFetch(`${url}/hook`, { signal: AbortSignal.abort() }, allow);
    await aborted.then(
      () => assert.unreachable('should abort'),
      (e: Error) => assert.match(e.name, /AbortError/),
    );
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test.run();
