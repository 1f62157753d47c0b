/** Settings of webhook delivery (sagas/webhook-delivery.ts), read from the environment with the rest. */
import { z } from 'zod';
import { limit } from '../infra/limits.ts';

export const WebhookEnv = z.object({
  /** Attempts at one event before it goes to the subscription's dead-letter list. */
  AGENTCORE_WEBHOOK_MAX_ATTEMPTS: limit(8, 100),
  /** Wait before the second attempt; it doubles with each failure (full jitter), up to the max. */
  AGENTCORE_WEBHOOK_BACKOFF_BASE_MS: limit(500, 3_600_000),
  AGENTCORE_WEBHOOK_BACKOFF_MAX_MS: limit(60_000, 3_600_000),
  /** Longest wait for a receiver's answer. */
  AGENTCORE_WEBHOOK_TIMEOUT_MS: limit(10_000, 600_000),
  /** POSTs in flight at once for one subscription (different streams; one stream's are in order). */
  AGENTCORE_WEBHOOK_CONCURRENCY: limit(8, 1000),
  /** POSTs in flight at once in the delivering process, all subscriptions together (they take turns). */
  AGENTCORE_WEBHOOK_TOTAL_CONCURRENCY: limit(64, 10_000),
  /** Events read from the log at a time per subscription, and held at most while earlier ones retry. */
  AGENTCORE_WEBHOOK_WINDOW: limit(500, 10_000),
});

export interface WebhookSettings {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  concurrency: number;
  totalConcurrency: number;
  window: number;
}

export const toWebhookSettings = (e: z.infer<typeof WebhookEnv>): WebhookSettings => ({
  maxAttempts: e.AGENTCORE_WEBHOOK_MAX_ATTEMPTS,
  backoffBaseMs: e.AGENTCORE_WEBHOOK_BACKOFF_BASE_MS,
  backoffMaxMs: e.AGENTCORE_WEBHOOK_BACKOFF_MAX_MS,
  timeoutMs: e.AGENTCORE_WEBHOOK_TIMEOUT_MS,
  concurrency: e.AGENTCORE_WEBHOOK_CONCURRENCY,
  totalConcurrency: e.AGENTCORE_WEBHOOK_TOTAL_CONCURRENCY,
  window: e.AGENTCORE_WEBHOOK_WINDOW,
});

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = toWebhookSettings(WebhookEnv.parse({}));

/** Exponential backoff with full jitter: a random wait in [d/2, d], d = base * 2^(attempt-1) capped. */
export const webhookBackoffMs = (s: WebhookSettings, failedAttempts: number, random = Math.random) => {
  const d = Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.min(30, failedAttempts - 1));
  return Math.round(d / 2 + random() * (d / 2));
};
