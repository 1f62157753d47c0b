/**
 * Card refresh: a timer loop of the `sagas` role that re-fetches remote agents' cards when they are due,
 * i.e. when `validators.fetchedAt + max(Cache-Control max-age, minIntervalSeconds)` has passed, with
 * If-None-Match / If-Modified-Since: a 304 (or the same card) is AgentCardRevalidated, a changed card
 * AgentCardRefreshed (agents/registry.ts refreshAgentCard).
 *
 * No stampede: due agents come from the agents read model (rm_agents, indexed on refresh_due_at) in small
 * batches with bounded concurrency; each is checked again on its stream before the fetch (a copy of the
 * saga in another process that got there first has moved fetchedAt on), and the command id is derived
 * from the fetch being replaced, so two copies racing on the same agent write one event. A card that
 * cannot be fetched is logged and retried with a backoff (doubling from retryAfterSeconds, at most 1 h);
 * the agent keeps its last good card. Not leader-only: refreshing is idempotent.
 */
import type { Logger } from 'pino';
import { AgentCardError } from '../agents/cards.ts';
import { type RegistryDeps, refreshAgentCard } from '../agents/registry.ts';
import { CommandError } from '../commands/errors.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { forLog, safeErr } from '../infra/log-safe.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import type { Lookup, SafeFetchOptions } from '../infra/ssrf.ts';
import { agentsDueForRefresh } from '../projections/agents.ts';

export interface CardRefreshOptions {
  store: EventStore;
  /** The read-model database holding rm_agents. */
  db: SqlExecutor;
  log: Logger;
  allowPrivateUrls: boolean;
  /** The shortest refresh interval, whatever max-age says (0 or no-cache included). Default 30 s. */
  minIntervalSeconds?: number;
  /** How often due cards are looked for. Default 5 s. */
  tickMs?: number;
  /** Cards refreshed per tick, and at once. Defaults 50 and 4. */
  batchSize?: number;
  concurrency?: number;
  /** First wait after a failed refresh. Default: max(minIntervalSeconds, 60 s). */
  retryAfterSeconds?: number;
  lookup?: Lookup;
  fetch?: SafeFetchOptions['fetch'];
  now?: () => Date;
}

export interface RefreshTickReport {
  due: number;
  refreshed: string[];
  revalidated: string[];
  failed: Array<{ agent: string; error: string }>;
}

export interface CardRefresher {
  /** One pass over the due cards (what the timer runs; tests call it directly). */
  tick(): Promise<RefreshTickReport>;
  stop(): Promise<void>;
}

export const DEFAULT_MIN_REFRESH_SECONDS = 30;

export const startCardRefresh = (o: CardRefreshOptions): CardRefresher => {
  const minIntervalSeconds = o.minIntervalSeconds ?? DEFAULT_MIN_REFRESH_SECONDS;
  const tickMs = o.tickMs ?? 5_000;
  const batchSize = o.batchSize ?? 50;
  const concurrency = Math.max(1, o.concurrency ?? 4);
  const retryAfterSeconds = o.retryAfterSeconds ?? Math.max(minIntervalSeconds, 60);
  const now = o.now ?? (() => new Date());
  const deps: RegistryDeps = {
    store: o.store,
    readModels: o.db,
    allowPrivateUrls: o.allowPrivateUrls,
    ...(o.lookup ? { lookup: o.lookup } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.now ? { now: o.now } : {}),
  };
  /** Agents whose last refresh failed: not before `at`, next wait `waitSeconds`. */
  const backoff = new Map<string, { at: number; waitSeconds: number }>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();

  const tick = async (): Promise<RefreshTickReport> => {
    const t = now();
    const report: RefreshTickReport = { due: 0, refreshed: [], revalidated: [], failed: [] };
    const rows = await agentsDueForRefresh(o.db, {
      dueBy: t,
      fetchedBefore: new Date(t.getTime() - minIntervalSeconds * 1000),
      limit: batchSize * 2,
    });
    const due = rows
      .filter((r) => (backoff.get(`${r.tenant}:${r.agent_id}`)?.at ?? 0) <= t.getTime())
      .slice(0, batchSize);
    report.due = due.length;
    const queue = [...due];
    const worker = async () => {
      for (let row = queue.shift(); row && !stopped; row = queue.shift()) {
        const key = `${row.tenant}:${row.agent_id}`;
        const fetchedAt = new Date(row.fetched_at).toISOString();
        try {
          const { outcome } = await refreshAgentCard(
            deps,
            {
              tenant: row.tenant,
              principal: 'system:card-refresh',
              // The same due fetch, whichever copy of the saga refreshes it: one event.
              commandId: `card-refresh:${fetchedAt}`,
            },
            row.agent_id,
            { ifDue: { minIntervalSeconds } },
          );
          backoff.delete(key);
          if (outcome === 'refreshed') report.refreshed.push(key);
          if (outcome === 'revalidated') report.revalidated.push(key);
        } catch (error) {
          if (error instanceof CommandError && error.kind === 'not_found') continue; // deregistered meanwhile
          const message = error instanceof Error ? error.message : String(error);
          const waitSeconds = Math.min(3600, backoff.get(key)?.waitSeconds ?? retryAfterSeconds);
          backoff.set(key, {
            at: now().getTime() + waitSeconds * 1000,
            waitSeconds: Math.min(3600, waitSeconds * 2),
          });
          report.failed.push({ agent: key, error: message });
          o.log[error instanceof AgentCardError ? 'warn' : 'error'](
            { err: safeErr(error), agent: key, retryInSeconds: waitSeconds },
            'agent card refresh failed; the agent keeps its last card',
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    if (report.refreshed.length || report.failed.length)
      o.log.info({ report: forLog(report) }, 'agent cards refreshed');
    return report;
  };

  const loop = () => {
    if (stopped) return;
    current = tick()
      .catch((err) => o.log.error({ err: safeErr(err) }, 'card refresh pass failed; will retry'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, tickMs);
      });
  };
  // A small random delay first: copies of the saga started together do not tick in lockstep.
  timer = setTimeout(loop, Math.floor(Math.random() * Math.min(tickMs, 1000)));

  return {
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
};
