/**
 * What the admin API does with webhook subscriptions: check the input, decide through the subscription's
 * aggregate, answer with a view that never holds the secret (except the answer to its creation).
 * Another tenant's subscription does not exist for the caller.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RegistryCaller } from '../agents/registry.ts';
import { CommandError, notFound, parseCommand } from '../commands/errors.ts';
import { fold, handle } from '../commands/handle.ts';
import { type WebhookCommand, type WebhookState, webhookDecider } from '../commands/webhook.ts';
import { derivedUuid, type RecordedEvent } from '../events/envelope.ts';
import { WEBHOOK_STREAM_PREFIX, WebhookFilter, webhookStream } from '../events/webhook.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { assertPublicUrl, type Lookup, UnsafeUrlError } from '../infra/ssrf.ts';
import { readCheckpoint } from '../sagas/webhook-checkpoints.ts';
import { isWebhookSecret, newWebhookSecret } from '../sagas/webhook-message.ts';

export interface WebhookAdminDeps {
  store: EventStore;
  readModels: SqlExecutor;
  allowPrivateUrls: boolean;
  lookup?: Lookup;
  now?: () => Date;
}

const position = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const SubscribeInput = z.strictObject({
  url: z.string().url('must be an absolute http(s) URL').max(2000),
  filter: WebhookFilter.default({}),
  secret: z
    .string()
    .refine(isWebhookSecret, 'must be a Standard Webhooks secret: "whsec_" and base64 of 24 to 64 bytes')
    .optional(),
  /** Deliver the events after this log position (0: the whole log); absent: from now on. */
  after: position.optional(),
  description: z.string().max(500).optional(),
});
export const ReplayInput = z.strictObject({ after: position });
export const RedriveInput = z.strictObject({
  eventIds: z.array(z.string().min(1)).min(1).max(1000).optional(),
});

export interface WebhookView {
  id: string;
  tenant: string;
  url: string;
  filter: WebhookFilter;
  status: 'active' | 'paused';
  description?: string;
  createdAt: string;
  /** The log position up to which everything matching was delivered or dead-lettered (null: not started). */
  deliveredThrough: number | null;
  deadLetters: number;
}

const viewOf = (id: string, tenant: string, state: WebhookState, checkpoint: number | null): WebhookView => {
  const s = state.subscription!;
  return {
    id,
    tenant,
    url: s.url,
    filter: s.filter,
    status: state.status === 'paused' ? 'paused' : 'active',
    ...(s.description !== undefined ? { description: s.description } : {}),
    createdAt: s.createdAt,
    deliveredThrough: checkpoint,
    deadLetters: state.deadLetters.length,
  };
};

const invalid = (message: string) => new CommandError('validation', message);

/** A position the log holds (the SQL stores throw RangeError for one they do not). */
const checkPosition = async (store: EventStore, after: number, field: string) => {
  if (after === 0) return;
  try {
    await store.readAll({ after, maxCount: 1 });
  } catch (error) {
    if (error instanceof RangeError) throw invalid(`${field}: position ${after} is not in the log`);
    throw error;
  }
};

/** The caller's subscription: its stream and state, or not found (unknown, unsubscribed, another tenant's). */
const load = async (deps: WebhookAdminDeps, caller: RegistryCaller, id: string) => {
  if (!/^[A-Za-z0-9-]{1,100}$/.test(id)) throw notFound(`webhook subscription ${id}`);
  const history = await deps.store.readStream(webhookStream(id));
  const state = fold(webhookDecider, history);
  if (history[0]?.metadata.tenant !== caller.tenant || !state.subscription || state.status === 'unsubscribed')
    throw notFound(`webhook subscription ${id}`);
  return { history, state };
};

const context = (caller: RegistryCaller) => ({
  tenant: caller.tenant,
  principal: caller.principal,
  ...(caller.commandId ? { commandId: caller.commandId } : {}),
  ...(caller.requestId ? { requestId: caller.requestId } : {}),
  ...(caller.source ? { source: caller.source } : {}),
});

const now = (deps: WebhookAdminDeps) => (deps.now?.() ?? new Date()).toISOString();

/** Registers a subscription; the answer carries its secret, the only time it is shown. */
export const subscribeWebhook = async (deps: WebhookAdminDeps, caller: RegistryCaller, body: unknown) => {
  const input = parseCommand(SubscribeInput, body);
  try {
    await assertPublicUrl(input.url, { allowPrivate: deps.allowPrivateUrls, lookup: deps.lookup });
  } catch (error) {
    if (error instanceof UnsafeUrlError) throw invalid(`url: ${error.message}`);
    throw error;
  }
  if (input.after !== undefined) await checkPosition(deps.store, input.after, 'after');
  // Under an Idempotency-Key the id is derived from it: a retry finds the first request's subscription.
  const id = caller.commandId ? derivedUuid(`webhook:${caller.tenant}:${caller.commandId}`) : randomUUID();
  const command: WebhookCommand = {
    type: 'Subscribe',
    subscriptionId: id,
    url: input.url,
    filter: input.filter,
    secret: input.secret ?? newWebhookSecret(),
    after: input.after ?? null,
    ...(input.description !== undefined ? { description: input.description } : {}),
    at: now(deps),
  };
  const result = await handle(deps.store, webhookStream(id), command, webhookDecider, context(caller));
  return { ...viewOf(id, caller.tenant, result.state, null), secret: result.state.subscription!.secret };
};

export const getWebhook = async (deps: WebhookAdminDeps, caller: RegistryCaller, id: string) => {
  const { state } = await load(deps, caller, id);
  const checkpoint = await readCheckpoint(deps.readModels, id).catch(() => null);
  return viewOf(id, caller.tenant, state, checkpoint?.position ?? null);
};

/**
 * The tenant's subscriptions, read from the log (the tenant's webhook events, filtered in the store's
 * query): subscriptions are few and rarely listed, so they have no read model of their own.
 */
export const listWebhooks = async (deps: WebhookAdminDeps, caller: RegistryCaller) => {
  const events: RecordedEvent[] = [];
  for (let after = 0; ; ) {
    const page = await deps.store.readAll({
      after,
      maxCount: 1000,
      filter: { tenant: caller.tenant, streamPrefix: WEBHOOK_STREAM_PREFIX },
    });
    events.push(...page);
    if (page.length < 1000) break;
    after = page[page.length - 1]!.position;
  }
  const byStream = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    const list = byStream.get(e.stream);
    if (list) list.push(e);
    else byStream.set(e.stream, [e]);
  }
  const views: WebhookView[] = [];
  for (const [stream, history] of byStream) {
    const state = fold(webhookDecider, history);
    if (!state.subscription || state.status === 'unsubscribed') continue;
    views.push(viewOf(stream.slice(WEBHOOK_STREAM_PREFIX.length), caller.tenant, state, null));
  }
  return views;
};

/** Pause, resume, unsubscribe, replay or re-drive: decided on the subscription the caller owns. */
export const changeWebhook = async (
  deps: WebhookAdminDeps,
  caller: RegistryCaller,
  id: string,
  change: 'pause' | 'resume' | 'unsubscribe' | 'replay' | 'redrive',
  body: unknown = {},
) => {
  const { history } = await load(deps, caller, id);
  const at = now(deps);
  let command: WebhookCommand;
  if (change === 'replay') {
    const { after } = parseCommand(ReplayInput, body);
    await checkPosition(deps.store, after, 'after');
    command = { type: 'RequestReplay', after, at };
  } else if (change === 'redrive') {
    const { eventIds } = parseCommand(RedriveInput, body);
    command = { type: 'RedriveDeadLetters', ...(eventIds ? { eventIds } : {}), at };
  } else if (change === 'pause') command = { type: 'Pause', at };
  else if (change === 'resume') command = { type: 'Resume', at };
  else command = { type: 'Unsubscribe', at };
  const result = await handle(deps.store, webhookStream(id), command, webhookDecider, context(caller), {
    assume: history,
  });
  return { state: result.state, events: result.events };
};

export const deadLettersOf = async (deps: WebhookAdminDeps, caller: RegistryCaller, id: string) => {
  const { state } = await load(deps, caller, id);
  return state.deadLetters;
};

export { viewOf as webhookView };
