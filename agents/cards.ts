/**
 * Remote agents' cards: fetched through the SSRF guard (conditionally, with the validators of the last
 * fetch), size- and time-bounded, validated against the A2A v1.0 AgentCard (A2A.md §1.4), v0.3 cards
 * (§1.7: top-level `url`, `protocolVersion: "0.3.x"`, `preferredTransport`, `additionalInterfaces`)
 * accepted and normalised to the v1.0 shape, and the interface the hub will call chosen from it.
 *
 * Everything that can go wrong is an AgentCardError with a `reason` and a message fit to show to the
 * admin who registered the URL: the zod issues of an invalid card, one per line-fragment, by JSON path.
 */
import { z } from 'zod';
import type { AgentEndpoint, AgentSkillInfo, CardValidators } from '../events/agent.ts';
import { describeZodIssues } from '../events/issues.ts';
import {
  assertPublicUrl,
  type Lookup,
  type SafeFetchOptions,
  safeFetch,
  UnsafeUrlError,
} from '../infra/ssrf.ts';

export const CARD_PATH = '/.well-known/agent-card.json';
export const CARD_TIMEOUT_MS = 10_000;
export const CARD_MAX_BYTES = 1024 * 1024;
/** max-age assumed when the card's response carries no Cache-Control max-age. */
export const DEFAULT_CARD_MAX_AGE_SECONDS = 3600;

export type AgentCardErrorReason =
  | 'URL_NOT_ALLOWED'
  | 'CARD_UNREACHABLE'
  | 'CARD_HTTP_ERROR'
  | 'CARD_TOO_LARGE'
  | 'CARD_NOT_JSON'
  | 'CARD_INVALID'
  | 'CARD_NO_USABLE_INTERFACE';

export class AgentCardError extends Error {
  override readonly name = 'AgentCardError';
  constructor(
    readonly reason: AgentCardErrorReason,
    message: string,
    readonly cardUrl?: string,
    readonly issues?: z.core.$ZodIssue[],
  ) {
    super(message);
  }
}

// ---- schemas ------------------------------------------------------------------------------------------

const nonEmpty = z.string().min(1, 'must not be empty');
const requiredList = <T extends z.ZodType>(item: T) => z.array(item).min(1, 'must hold at least one element');
const anyRecord = z.record(z.string(), z.unknown());

const SecurityRequirementV1 = z.object({
  schemes: z.record(z.string(), z.object({ list: z.array(z.string()).default([]) })),
});

export const AgentInterfaceV1 = z.object({
  url: z.string().url('must be an absolute URL'),
  /** JSONRPC | GRPC | HTTP+JSON, or a URI naming a custom binding. */
  protocolBinding: nonEmpty,
  protocolVersion: nonEmpty,
  tenant: z.string().optional(),
});

export const AgentSkillV1 = z.object({
  id: nonEmpty,
  name: nonEmpty,
  description: nonEmpty,
  tags: requiredList(z.string()),
  examples: z.array(z.string()).optional(),
  inputModes: z.array(z.string()).optional(),
  outputModes: z.array(z.string()).optional(),
  securityRequirements: z.array(SecurityRequirementV1).optional(),
});

const AgentExtension = z.object({
  uri: nonEmpty,
  description: z.string().optional(),
  required: z.boolean().optional(),
  params: anyRecord.optional(),
});

/** The A2A v1.0 AgentCard: REQUIRED fields present, required arrays non-empty; unknown fields dropped. */
export const AgentCardV1 = z.object({
  name: nonEmpty,
  description: nonEmpty,
  supportedInterfaces: requiredList(AgentInterfaceV1),
  provider: z.object({ organization: nonEmpty, url: z.string().url() }).optional(),
  version: nonEmpty,
  documentationUrl: z.string().optional(),
  iconUrl: z.string().optional(),
  capabilities: z.object({
    streaming: z.boolean().optional(),
    pushNotifications: z.boolean().optional(),
    extensions: z.array(AgentExtension).optional(),
    extendedAgentCard: z.boolean().optional(),
  }),
  securitySchemes: z.record(z.string(), anyRecord).optional(),
  securityRequirements: z.array(SecurityRequirementV1).optional(),
  defaultInputModes: requiredList(z.string()),
  defaultOutputModes: requiredList(z.string()),
  skills: requiredList(AgentSkillV1),
  signatures: z
    .array(z.object({ protected: nonEmpty, signature: nonEmpty, header: anyRecord.optional() }))
    .optional(),
});
export type AgentCardV1 = z.infer<typeof AgentCardV1>;

/** v0.3 security: `[{schemeName: [scopes]}]`. */
const SecurityV03 = z.array(z.record(z.string(), z.array(z.string())));

/** The A2A v0.3 AgentCard (what `0.3.x` peers serve). */
export const AgentCardV03 = z.object({
  protocolVersion: z
    .string()
    .regex(/^0\.3(\.\d+)?$/, 'must be 0.3 or 0.3.x (v0.3 cards) — or serve a v1.0 card'),
  name: nonEmpty,
  description: nonEmpty,
  url: z.string().url('must be an absolute URL'),
  preferredTransport: nonEmpty.optional(),
  additionalInterfaces: z
    .array(z.object({ url: z.string().url('must be an absolute URL'), transport: nonEmpty }))
    .optional(),
  provider: z.object({ organization: nonEmpty, url: z.string().url() }).optional(),
  version: nonEmpty,
  documentationUrl: z.string().optional(),
  iconUrl: z.string().optional(),
  capabilities: z.object({
    streaming: z.boolean().optional(),
    pushNotifications: z.boolean().optional(),
    stateTransitionHistory: z.boolean().optional(),
    extensions: z.array(AgentExtension).optional(),
  }),
  securitySchemes: z.record(z.string(), anyRecord).optional(),
  security: SecurityV03.optional(),
  defaultInputModes: requiredList(z.string()),
  defaultOutputModes: requiredList(z.string()),
  skills: requiredList(
    AgentSkillV1.omit({ securityRequirements: true }).extend({ security: SecurityV03.optional() }),
  ),
  supportsAuthenticatedExtendedCard: z.boolean().optional(),
  signatures: z
    .array(z.object({ protected: nonEmpty, signature: nonEmpty, header: anyRecord.optional() }))
    .optional(),
});
export type AgentCardV03 = z.infer<typeof AgentCardV03>;

// ---- v0.3 → v1.0 ----------------------------------------------------------------------------------------

const securityToV1 = (security: Array<Record<string, string[]>>) =>
  security.map((req) => ({
    schemes: Object.fromEntries(Object.entries(req).map(([name, scopes]) => [name, { list: scopes }])),
  }));

/** v0.3 security schemes are `{type, ...}`; v1.0 makes them a oneof keyed by kind. */
const securitySchemeToV1 = (s: Record<string, unknown>): Record<string, unknown> => {
  const { type, description, ...rest } = s as { type?: string; description?: string } & Record<
    string,
    unknown
  >;
  const withDescription = (o: Record<string, unknown>) => (description ? { ...o, description } : o);
  switch (type) {
    case 'apiKey':
      return { apiKeySecurityScheme: withDescription({ location: rest.in, name: rest.name }) };
    case 'http':
      return {
        httpAuthSecurityScheme: withDescription({
          scheme: rest.scheme,
          ...(rest.bearerFormat ? { bearerFormat: rest.bearerFormat } : {}),
        }),
      };
    case 'oauth2':
      return {
        oauth2SecurityScheme: withDescription({
          flows: rest.flows,
          ...(rest.oauth2MetadataUrl ? { oauth2MetadataUrl: rest.oauth2MetadataUrl } : {}),
        }),
      };
    case 'openIdConnect':
      return { openIdConnectSecurityScheme: withDescription({ openIdConnectUrl: rest.openIdConnectUrl }) };
    case 'mutualTLS':
      return { mtlsSecurityScheme: withDescription({}) };
    default:
      return s; // already v1.0-shaped, or unknown: kept as it is
  }
};

/** A v0.3 card in the v1.0 shape: its `url`/`preferredTransport` first, then `additionalInterfaces`. */
export const normaliseV03Card = (c: AgentCardV03): AgentCardV1 => {
  const interfaces = [
    { url: c.url, protocolBinding: c.preferredTransport ?? 'JSONRPC', protocolVersion: c.protocolVersion },
    ...(c.additionalInterfaces ?? []).map((i) => ({
      url: i.url,
      protocolBinding: i.transport,
      protocolVersion: c.protocolVersion,
    })),
  ].filter(
    (i, n, all) => all.findIndex((j) => j.url === i.url && j.protocolBinding === i.protocolBinding) === n,
  );
  const { streaming, pushNotifications, extensions } = c.capabilities;
  const card: AgentCardV1 = {
    name: c.name,
    description: c.description,
    supportedInterfaces: interfaces,
    ...(c.provider ? { provider: c.provider } : {}),
    version: c.version,
    ...(c.documentationUrl ? { documentationUrl: c.documentationUrl } : {}),
    ...(c.iconUrl ? { iconUrl: c.iconUrl } : {}),
    capabilities: {
      ...(streaming !== undefined ? { streaming } : {}),
      ...(pushNotifications !== undefined ? { pushNotifications } : {}),
      ...(extensions ? { extensions } : {}),
      ...(c.supportsAuthenticatedExtendedCard !== undefined
        ? { extendedAgentCard: c.supportsAuthenticatedExtendedCard }
        : {}),
    },
    ...(c.securitySchemes
      ? {
          securitySchemes: Object.fromEntries(
            Object.entries(c.securitySchemes).map(([k, v]) => [k, securitySchemeToV1(v)]),
          ),
        }
      : {}),
    ...(c.security ? { securityRequirements: securityToV1(c.security) } : {}),
    defaultInputModes: c.defaultInputModes,
    defaultOutputModes: c.defaultOutputModes,
    skills: c.skills.map(({ security, ...s }) => ({
      ...s,
      ...(security ? { securityRequirements: securityToV1(security) } : {}),
    })),
    ...(c.signatures ? { signatures: c.signatures } : {}),
  };
  return card;
};

// ---- validation -----------------------------------------------------------------------------------------

/** zod's "expected string, received undefined" read as what it means for a card. */
const describeCardIssues = (issues: z.core.$ZodIssue[]) =>
  describeZodIssues(
    issues.map((i) =>
      i.code === 'invalid_type' && /received undefined/.test(i.message)
        ? { ...i, message: `required ${i.expected} is missing` }
        : i,
    ),
  );

export type CardVersion = '1.0' | '0.3';

/**
 * Validates a card as fetched. A card with `supportedInterfaces` is a v1.0 card; one without, but with a
 * top-level `url` or `protocolVersion`, is read as v0.3; anything else is checked (and reported) as v1.0.
 */
export const parseAgentCard = (
  raw: unknown,
  cardUrl?: string,
): { card: AgentCardV1; sourceVersion: CardVersion } => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AgentCardError(
      'CARD_INVALID',
      `the agent card${cardUrl ? ` at ${cardUrl}` : ''} is not a JSON object`,
      cardUrl,
    );
  }
  const o = raw as Record<string, unknown>;
  const v03 = o.supportedInterfaces === undefined && (o.url !== undefined || o.protocolVersion !== undefined);
  const parsed = v03 ? AgentCardV03.safeParse(raw) : AgentCardV1.safeParse(raw);
  if (!parsed.success) {
    throw new AgentCardError(
      'CARD_INVALID',
      `invalid ${v03 ? 'v0.3' : 'v1.0'} agent card${cardUrl ? ` at ${cardUrl}` : ''}: ${describeCardIssues(parsed.error.issues)}`,
      cardUrl,
      parsed.error.issues,
    );
  }
  return v03
    ? { card: normaliseV03Card(parsed.data as AgentCardV03), sourceVersion: '0.3' }
    : { card: parsed.data as AgentCardV1, sourceVersion: '1.0' };
};

// ---- endpoint choice ------------------------------------------------------------------------------------

type RemoteEndpoint = Extract<AgentEndpoint, { kind: 'remote' }>;

/** '1.0', '1.0.1' → '1.0'; '0.3', '0.3.0' → '0.3'; anything else (1.1, 0.2.5, 2.0) → null. */
export const protocolLine = (version: string): CardVersion | null => {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(version.trim());
  if (!m) return null;
  if (m[1] === '1' && m[2] === '0') return '1.0';
  if (m[1] === '0' && m[2] === '3') return '0.3';
  return null;
};

/** The hub's preference: v1.0 JSON-RPC, v1.0 HTTP+JSON, v0.3 JSON-RPC, and last v0.3 HTTP+JSON. */
const PREFERENCE: Array<[RemoteEndpoint['protocolBinding'], CardVersion]> = [
  ['JSONRPC', '1.0'],
  ['HTTP+JSON', '1.0'],
  ['JSONRPC', '0.3'],
  ['HTTP+JSON', '0.3'],
];

/** The interface the hub calls, as an AgentEndpoint; AgentCardError when the card offers none it speaks. */
export const chooseEndpoint = (card: AgentCardV1, cardUrl: string): RemoteEndpoint => {
  for (const [binding, version] of PREFERENCE) {
    const match = card.supportedInterfaces.find(
      (i) => i.protocolBinding.toUpperCase() === binding && protocolLine(i.protocolVersion) === version,
    );
    if (match) {
      return {
        kind: 'remote',
        cardUrl,
        url: match.url,
        protocolBinding: binding,
        protocolVersion: version,
        streaming: card.capabilities.streaming === true,
      };
    }
  }
  const offered = card.supportedInterfaces.map((i) => `${i.protocolBinding} ${i.protocolVersion}`).join(', ');
  throw new AgentCardError(
    'CARD_NO_USABLE_INTERFACE',
    `the agent card at ${cardUrl} offers no interface the hub can call (JSONRPC or HTTP+JSON, protocol 1.0 or 0.3); it offers: ${offered}`,
    cardUrl,
  );
};

/** The card's skills as discovery indexes them. */
export const cardSkills = (card: AgentCardV1): AgentSkillInfo[] =>
  card.skills.map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description,
    tags: s.tags,
    ...(s.examples ? { examples: s.examples } : {}),
    ...(s.inputModes ? { inputModes: s.inputModes } : {}),
    ...(s.outputModes ? { outputModes: s.outputModes } : {}),
  }));

// ---- fetching -------------------------------------------------------------------------------------------

/** `<base>/.well-known/agent-card.json`, or the URL itself when it names a .json document. */
export const cardUrlOf = (baseOrCardUrl: string): string => {
  if (!URL.canParse(baseOrCardUrl)) {
    throw new AgentCardError('URL_NOT_ALLOWED', `${baseOrCardUrl} is not an absolute URL`);
  }
  const u = new URL(baseOrCardUrl);
  u.hash = '';
  if (u.pathname.endsWith('.json')) return u.href;
  u.search = '';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${CARD_PATH}`;
  return u.href;
};

/** Cache-Control max-age in seconds: no-store/no-cache → 0; absent → the default. */
export const maxAgeOf = (cacheControl: string | null, fallback = DEFAULT_CARD_MAX_AGE_SECONDS): number => {
  if (!cacheControl) return fallback;
  const directives = cacheControl
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  const maxAge = directives.map((d) => /^max-age\s*=\s*"?(\d+)"?$/.exec(d)).find(Boolean);
  return maxAge ? Math.min(Number(maxAge[1]), 365 * 24 * 3600) : fallback;
};

export interface FetchCardOptions {
  /** AGENTCORE_ALLOW_PRIVATE_URLS: the card and its interfaces may be on loopback/private addresses. */
  allowPrivate: boolean;
  /** Validators of the last fetch: the request becomes conditional (If-None-Match / If-Modified-Since). */
  etag?: string;
  lastModified?: string;
  timeoutMs?: number;
  maxBytes?: number;
  lookup?: Lookup;
  /** The HTTP transport (tests); default: safeFetch's own, which checks the address it connects to. */
  fetch?: SafeFetchOptions['fetch'];
  now?: () => Date;
}

export type FetchCardResult =
  | {
      status: 'fresh';
      cardUrl: string;
      /** Normalised to v1.0. */
      card: AgentCardV1;
      /** The JSON as served. */
      raw: unknown;
      sourceVersion: CardVersion;
      endpoint: RemoteEndpoint;
      skills: AgentSkillInfo[];
      validators: CardValidators;
    }
  | { status: 'not-modified'; cardUrl: string; validators: CardValidators };

const readCapped = async (response: Response, maxBytes: number, cardUrl: string): Promise<string> => {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new AgentCardError(
      'CARD_TOO_LARGE',
      `the agent card at ${cardUrl} is ${declared} bytes: at most ${maxBytes} are accepted`,
      cardUrl,
    );
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new AgentCardError(
        'CARD_TOO_LARGE',
        `the agent card at ${cardUrl} is larger than ${maxBytes} bytes`,
        cardUrl,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
};

const unsafe = (error: UnsafeUrlError, what: string, cardUrl: string) =>
  new AgentCardError('URL_NOT_ALLOWED', `${what} refused: ${error.message}`, cardUrl);

/**
 * GET the card (conditional when validators are given) through the SSRF guard, bounded in time and size;
 * validate, normalise, SSRF-check every interface URL it declares, and choose the endpoint.
 */
export const fetchAgentCard = async (
  baseOrCardUrl: string,
  options: FetchCardOptions,
): Promise<FetchCardResult> => {
  const cardUrl = cardUrlOf(baseOrCardUrl);
  const now = options.now ?? (() => new Date());
  const maxBytes = options.maxBytes ?? CARD_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? CARD_TIMEOUT_MS;
  const guard = { allowPrivate: options.allowPrivate, ...(options.lookup ? { lookup: options.lookup } : {}) };
  const headers: Record<string, string> = {
    accept: 'application/json, application/a2a+json;q=0.9',
    // A server that serves both card versions (the SDK's compat router) answers with its v1.0 card.
    'a2a-version': '1.0',
  };
  if (options.etag) headers['if-none-match'] = options.etag;
  if (options.lastModified) headers['if-modified-since'] = options.lastModified;
  const conditional = Boolean(options.etag || options.lastModified);

  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  let body = '';
  try {
    response = await safeFetch(
      cardUrl,
      { method: 'GET', headers, signal },
      {
        ...guard,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      },
    );
    if (response.status === 200) body = await readCapped(response, maxBytes, cardUrl);
    else await response.body?.cancel().catch(() => {});
  } catch (error) {
    if (error instanceof AgentCardError) throw error;
    if (error instanceof UnsafeUrlError)
      throw unsafe(error, `fetching the agent card at ${cardUrl}`, cardUrl);
    const why = signal.aborted
      ? `no answer within ${timeoutMs / 1000} s`
      : ((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    throw new AgentCardError(
      'CARD_UNREACHABLE',
      `cannot fetch the agent card at ${cardUrl}: ${why}`,
      cardUrl,
    );
  }
  const validators = (fallback: { etag?: string; lastModified?: string } = {}): CardValidators => {
    const etag = response.headers.get('etag') ?? fallback.etag;
    const lastModified = response.headers.get('last-modified') ?? fallback.lastModified;
    return {
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
      maxAgeSeconds: maxAgeOf(response.headers.get('cache-control')),
      fetchedAt: now().toISOString(),
    };
  };
  if (response.status === 304 && conditional) {
    return {
      status: 'not-modified',
      cardUrl,
      validators: validators({ etag: options.etag, lastModified: options.lastModified }),
    };
  }
  if (response.status !== 200) {
    throw new AgentCardError(
      'CARD_HTTP_ERROR',
      `GET ${cardUrl} answered HTTP ${response.status}: expected 200 with the agent card`,
      cardUrl,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new AgentCardError(
      'CARD_NOT_JSON',
      `the agent card at ${cardUrl} is not JSON: ${(error as Error).message}`,
      cardUrl,
    );
  }
  const { card, sourceVersion } = parseAgentCard(raw, cardUrl);
  // The hub will call these on the card's word: each is checked like the card's own URL.
  for (const i of card.supportedInterfaces) {
    try {
      await assertPublicUrl(i.url, guard);
    } catch (error) {
      if (error instanceof UnsafeUrlError)
        throw unsafe(
          error,
          `the interface ${i.protocolBinding} ${i.url} of the agent card at ${cardUrl}`,
          cardUrl,
        );
      throw error;
    }
  }
  const endpoint = chooseEndpoint(card, cardUrl);
  return {
    status: 'fresh',
    cardUrl,
    card,
    raw,
    sourceVersion,
    endpoint,
    skills: cardSkills(card),
    validators: validators(),
  };
};
