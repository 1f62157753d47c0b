/** How the `agentcore` subcommands call a running hub's API: where, with which key, errors as one line. */

export interface HubOptions {
  hub?: string;
  key?: string;
  tenant?: string;
}

/**
 * A caller of the hub at `--hub` (or $AGENTCORE_HUB_URL, or http://127.0.0.1:7700) with `--key` (or
 * $AGENTCORE_API_KEY), acting for `--tenant` when given. `missingKey` makes the usage error of the command.
 *
 * @example
 * const call = hubClient(values, (m) => new UsageError(m));
 * const json = await call('GET', '/api/admin/agents');
 */
export const hubClient = (options: HubOptions, missingKey: (message: string) => Error) => {
  const hub = (options.hub ?? process.env.AGENTCORE_HUB_URL ?? 'http://127.0.0.1:7700').replace(/\/+$/, '');
  const key = options.key ?? process.env.AGENTCORE_API_KEY;
  if (!key) throw missingKey('an API key is required: --key KEY or AGENTCORE_API_KEY');
  return async (
    method: string,
    path: string,
    body?: unknown,
    query: Record<string, string> = {},
  ): Promise<Record<string, unknown> | null> => {
    const url = new URL(`${hub}${path}`);
    if (options.tenant) url.searchParams.set('tenant', options.tenant);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new Error(
        `cannot reach the hub at ${hub}: ${(error as Error).cause ?? (error as Error).message}`,
      );
    }
    const text = await res.text();
    let json: Record<string, unknown> | null = null;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      // not JSON (a proxy's page): the text is the message
    }
    if (!res.ok) {
      const e = (json?.error ?? {}) as { status?: string; message?: string };
      throw new Error(`${res.status} ${e.status ?? ''}: ${e.message ?? text}`);
    }
    return json;
  };
};

/** The options every hub-calling subcommand takes, for its parseArgs `options`. */
export const HUB_OPTIONS = {
  hub: { type: 'string' },
  key: { type: 'string' },
  tenant: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
