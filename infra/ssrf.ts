/**
 * SSRF guard for URLs the hub calls on a client's behalf (push-notification webhooks): only http(s), and
 * no host that resolves to a loopback, private, link-local, CGNAT, unspecified, multicast, broadcast or
 * otherwise reserved address, unless private targets are explicitly allowed (tests, private networks).
 *
 * `safeFetch` checks the URL before the request, re-checks every redirect hop (at most 3), and, with its
 * default transport, checks the address the socket actually connects to (a DNS lookup hook on node:http),
 * so a name that resolves to a public address at check time and to a private one a moment later (DNS
 * rebinding) still cannot reach the private one.
 */
import { promises as dns, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import ipaddr from 'ipaddr.js';

export class UnsafeUrlError extends Error {
  override readonly name = 'UnsafeUrlError';
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

export type Lookup = (hostname: string) => Promise<LookupAddress[]>;

export interface UrlGuardOptions {
  /** Let the URL reach loopback/private/link-local addresses (AGENTCORE_ALLOW_PRIVATE_URLS). */
  allowPrivate: boolean;
  /** Name resolution; defaults to dns.promises.lookup(host, { all: true }). Tests inject their own. */
  lookup?: Lookup;
}

const defaultLookup: Lookup = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

// ---- address classification ---------------------------------------------------------------------------
// ipaddr.js names the range of an address (IANA's special-purpose registries); only its 'unicast', the
// global unicast space, may be called. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address
// it maps, judged as such. The forms that carry an IPv4 address otherwise (IPv4-compatible, RFC 6145
// translated, NAT64, 6to4, Teredo) are refused whatever they embed: a gateway on the way could turn them
// into that IPv4 address, and a client with a public IPv4 target can give it as it is. Their message names
// what they embed when that is not public, so the refusal reads as what it is ("loopback (NAT64)").

/** Readable names of ipaddr.js's ranges, for both families. */
const RANGE_LABELS: Record<string, string> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'shared address space (CGNAT)',
  private: 'private',
  reserved: 'reserved (documentation, benchmarking or future use)',
  as112: 'reserved (AS112)',
  amt: 'reserved (AMT)',
  uniqueLocal: 'private (unique local)',
  deprecatedSiteLocal: 'site-local',
  discard: 'reserved (discard)',
  benchmarking: 'reserved (benchmarking)',
  as112v6: 'reserved (AS112)',
  deprecatedOrchid: 'reserved (ORCHID)',
  orchid2: 'reserved (ORCHIDv2)',
  droneRemoteIdProtocolEntityTags: 'reserved (DRIP)',
  segmentRouting: 'reserved (segment routing)',
};

/** The IPv4 address embedded in an IPv6 one, by the form's name; null for other addresses. */
const embeddedV4 = (v6: ipaddr.IPv6): { form: string; v4: ipaddr.IPv4 } | null => {
  const b = v6.toByteArray();
  const v4 = (bytes: number[]) => new ipaddr.IPv4(bytes);
  const range = v6.range();
  if (range === 'rfc6145') return { form: 'IPv4-translated', v4: v4(b.slice(12)) };
  if (range === 'rfc6052') return { form: 'NAT64', v4: v4(b.slice(12)) };
  if (range === '6to4') return { form: '6to4', v4: v4(b.slice(2, 6)) };
  // Teredo carries the client's address with every bit flipped.
  if (range === 'teredo') return { form: 'Teredo', v4: v4(b.slice(12).map((x) => x ^ 0xff)) };
  if (b.slice(0, 12).every((x) => x === 0)) return { form: 'IPv4-compatible', v4: v4(b.slice(12)) };
  return null;
};

const labelOf = (address: ipaddr.IPv4 | ipaddr.IPv6): string =>
  RANGE_LABELS[address.range()] ?? `reserved (${address.range()})`;

/** Why an IP address is not a public one ('loopback', 'private', ...), or null when it is public. */
export const classifyAddress = (input: string): string | null => {
  const literal = input.replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // brackets and an IPv6 zone id
  if (!ipaddr.isValid(literal)) return 'not an IP address';
  const address = ipaddr.parse(literal);
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) {
      const v4 = v6.toIPv4Address();
      return v4.range() === 'unicast' ? null : `${labelOf(v4)} (IPv4-mapped)`;
    }
    if (v6.range() === 'unspecified' || v6.range() === 'loopback') return labelOf(v6);
    const embedded = embeddedV4(v6);
    if (embedded) {
      const inner = embedded.v4.range() === 'unicast' ? 'an IPv4 address in IPv6 form' : labelOf(embedded.v4);
      return `${inner} (${embedded.form})`;
    }
  }
  return address.range() === 'unicast' ? null : labelOf(address);
};

const isIpLiteral = (host: string) => net.isIP(host.replace(/^\[|\]$/g, '')) !== 0;

// ---- URL checks ---------------------------------------------------------------------------------------

const parseUrl = (url: string | URL): URL => {
  if (url instanceof URL) return url;
  if (!URL.canParse(url)) throw new UnsafeUrlError(`${url} is not an absolute URL`, url);
  return new URL(url);
};

const checkAddresses = (url: URL, host: string, addresses: string[]) => {
  if (addresses.length === 0) throw new UnsafeUrlError(`${host} does not resolve to any address`, url.href);
  for (const address of addresses) {
    const why = classifyAddress(address);
    if (why) {
      const via = address === host ? '' : ` (${host} resolves to ${address})`;
      throw new UnsafeUrlError(
        `${url.href} points to a ${why} address${via}: only public addresses may be called`,
        url.href,
      );
    }
  }
};

/**
 * The URL, parsed, if it is http(s) and every address its host resolves to is public (or private ones
 * are allowed). Throws UnsafeUrlError otherwise, with a message fit to show to the client.
 */
export const assertPublicUrl = async (url: string | URL, options: UrlGuardOptions): Promise<URL> => {
  const u = parseUrl(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UnsafeUrlError(
      `${u.protocol.replace(/:$/, '')} URLs are not allowed: use http or https`,
      u.href,
    );
  }
  if (options.allowPrivate) return u;
  const host = u.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (isIpLiteral(host)) {
    checkAddresses(u, host, [host]);
    return u;
  }
  // RFC 6761: localhost and its subdomains are loopback, whatever a resolver says.
  if (host === 'localhost' || host.endsWith('.localhost')) {
    throw new UnsafeUrlError(
      `${u.href} points to a loopback address: only public addresses may be called`,
      u.href,
    );
  }
  let resolved: LookupAddress[];
  try {
    resolved = await (options.lookup ?? defaultLookup)(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UnsafeUrlError(`cannot resolve ${host} (${code}): the URL cannot be checked`, u.href);
  }
  checkAddresses(
    u,
    host,
    resolved.map((a) => a.address),
  );
  return u;
};

// ---- fetch --------------------------------------------------------------------------------------------

export interface SafeFetchOptions extends UrlGuardOptions {
  /** Redirect hops followed, each checked like the first URL. Default 3. */
  maxRedirects?: number;
  /**
   * The transport, called with `redirect: 'manual'`. Default: node:http(s) with the connection's DNS
   * lookup checked too (see the module comment). Tests may pass a fake: it then sends nothing anywhere.
   */
  fetch?: (url: URL, init: RequestInit) => Promise<Response>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's credentials: never forwarded to another origin by a redirect. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'x-a2a-notification-token'];

/**
 * fetch for URLs a client chose: checked before the request, redirects followed by hand (at most
 * `maxRedirects`, each hop checked; 303, and 301/302 after a POST, become a GET without body, as fetch
 * does), credentials dropped when a redirect leaves the origin.
 */
export const safeFetch = async (
  url: string | URL,
  init: RequestInit,
  options: SafeFetchOptions,
): Promise<Response> => {
  const maxRedirects = options.maxRedirects ?? 3;
  const transport = options.fetch ?? guardedTransport(options);
  let target = await assertPublicUrl(url, options);
  let request: RequestInit = { ...init, redirect: 'manual' };
  for (let hop = 0; ; hop++) {
    const response = await transport(target, request);
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || !location) return response;
    await response.body?.cancel().catch(() => {});
    if (hop >= maxRedirects) {
      throw new UnsafeUrlError(`${url} redirected more than ${maxRedirects} times`, target.href);
    }
    if (!URL.canParse(location, target)) {
      throw new UnsafeUrlError(`${target.href} redirected to an invalid location`, target.href);
    }
    const next = await assertPublicUrl(new URL(location, target), options);
    const headers = new Headers(request.headers);
    if (next.origin !== target.origin) for (const h of CREDENTIAL_HEADERS) headers.delete(h);
    const method = (request.method ?? 'GET').toUpperCase();
    const toGet =
      response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST');
    if (toGet) {
      headers.delete('content-type');
      headers.delete('content-length');
      const { body: _dropped, ...rest } = request;
      request = { ...rest, method: method === 'HEAD' ? 'HEAD' : 'GET', headers };
    } else {
      request = { ...request, headers };
    }
    target = next;
  }
};

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A net.connect `lookup` that refuses non-public addresses: the check happens on what is connected to. */
const guardedLookup =
  (options: UrlGuardOptions) =>
  (hostname: string, opts: { all?: boolean; family?: number | string }, callback: LookupCallback) => {
    (options.lookup ?? defaultLookup)(hostname).then(
      (addresses) => {
        const family =
          opts.family === 6 || opts.family === 'IPv6'
            ? 6
            : opts.family === 4 || opts.family === 'IPv4'
              ? 4
              : 0;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const bad = options.allowPrivate ? undefined : usable.find((a) => classifyAddress(a.address));
        if (usable.length === 0 || bad) {
          const err: NodeJS.ErrnoException = new UnsafeUrlError(
            bad
              ? `${hostname} resolves to a ${classifyAddress(bad.address)} address (${bad.address}): only public addresses may be called`
              : `${hostname} does not resolve to any address`,
            hostname,
          );
          err.code = 'EUNSAFEADDRESS';
          callback(err, opts.all ? [] : '', 0);
          return;
        }
        if (opts.all) callback(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, opts.all ? [] : '', 0),
    );
  };

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Kept-alive connections are pooled per policy: a socket connected under "private allowed" is never reused
 * for a request that must not reach private addresses. With an injected lookup, nothing is pooled.
 */
const pools = {
  strict: { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) },
  open: { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) },
};
const agentFor = (options: UrlGuardOptions, protocol: string): http.Agent | false => {
  if (options.lookup) return false;
  const pool = options.allowPrivate ? pools.open : pools.strict;
  return protocol === 'https:' ? pool.https : pool.http;
};

const bodyBytes = async (body: RequestInit['body']): Promise<Buffer | undefined> => {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(await new Response(body).arrayBuffer());
};

/** One request over node:http(s), the connection's lookup guarded; the answer as a fetch Response. */
const guardedTransport =
  (options: UrlGuardOptions) =>
  async (url: URL, init: RequestInit): Promise<Response> => {
    const body = await bodyBytes(init.body);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    if (body && headers['content-length'] === undefined) headers['content-length'] = String(body.length);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const req = client.request(url, {
        method: init.method ?? 'GET',
        headers,
        lookup: guardedLookup(options) as unknown as net.LookupFunction,
        agent: agentFor(options, url.protocol),
        ...(init.signal ? { signal: init.signal } : {}),
      });
      req.once('error', (err) => {
        // The lookup's refusal surfaces as the request's error: report it as the guard's own error.
        reject(err instanceof UnsafeUrlError ? new UnsafeUrlError(err.message, url.href) : err);
      });
      req.once('response', (res) => {
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
        }
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.resume();
          reject(new Error(`${url.href} answered with HTTP status ${status}`));
          return;
        }
        const hasBody = !NULL_BODY.has(status) && init.method !== 'HEAD';
        if (!hasBody) res.resume();
        resolve(
          new Response(hasBody ? (Readable.toWeb(res) as ReadableStream<Uint8Array>) : null, {
            status,
            statusText: res.statusMessage ?? '',
            headers: responseHeaders,
          }),
        );
      });
      req.end(body);
    });
  };
