/**
 * Webhook subscriptions in the admin API, mounted at `/api/admin/webhooks` (app/http.ts); the caller acts
 * for its key's tenant, or `?tenant=` when its key may. Errors as in admin-api/registry.ts.
 *
 *   POST   /                          {url, filter?, secret?, after?, description?} → 201 the subscription
 *                                     and its `secret` (shown this once; generated when not given)
 *   GET    /                          → {webhooks: [...]}
 *   GET    /:id                       → the subscription (status, deliveredThrough, deadLetters count)
 *   POST   /:id/pause | /:id/resume   → the subscription
 *   POST   /:id/replay                {after} → 202 the subscription: delivery starts again after `after`
 *   GET    /:id/dead-letters          → {deadLetters: [...]}
 *   POST   /:id/dead-letters/redrive  {eventIds?} → 202 {redriven: [...]}: delivered again (all when none named)
 *   DELETE /:id                       → 204
 */
import { Hono } from 'hono';
import type { EdgeEnv } from '../a2a-edge/auth.ts';
import { isEvent } from '../events/envelope.ts';
import { WebhookDeadLetterRedriven } from '../events/webhook.ts';
import { AdminError, callerFrom, jsonBody, toAdminError } from './registry.ts';
import {
  changeWebhook,
  deadLettersOf,
  getWebhook,
  listWebhooks,
  subscribeWebhook,
  type WebhookAdminDeps,
} from './webhook-operations.ts';

export const webhookRoutes = (deps: WebhookAdminDeps) => {
  const app = new Hono<EdgeEnv>();
  app.onError((error, c) => {
    const e = toAdminError(error);
    const reason = e.reason ? { reason: e.reason } : {};
    return c.json({ error: { code: e.code, status: e.status, message: e.message, ...reason } }, e.code);
  });
  app.use('*', async (c, next) => {
    callerFrom(c); // 401/403 before anything else is looked at
    await next();
  });
  app.post('/', async (c) => {
    const created = await subscribeWebhook(deps, callerFrom(c), await jsonBody(c));
    c.header('Location', `/api/admin/webhooks/${created.id}`);
    return c.json(created, 201);
  });
  app.get('/', async (c) => c.json({ webhooks: await listWebhooks(deps, callerFrom(c)) }));
  app.get('/:id', async (c) => c.json(await getWebhook(deps, callerFrom(c), c.req.param('id'))));
  for (const change of ['pause', 'resume'] as const) {
    app.post(`/:id/${change}`, async (c) => {
      const caller = callerFrom(c);
      await changeWebhook(deps, caller, c.req.param('id'), change);
      return c.json(await getWebhook(deps, caller, c.req.param('id')));
    });
  }
  app.post('/:id/replay', async (c) => {
    const caller = callerFrom(c);
    await changeWebhook(deps, caller, c.req.param('id'), 'replay', await jsonBody(c));
    return c.json(await getWebhook(deps, caller, c.req.param('id')), 202);
  });
  app.get('/:id/dead-letters', async (c) =>
    c.json({ deadLetters: await deadLettersOf(deps, callerFrom(c), c.req.param('id')) }),
  );
  app.post('/:id/dead-letters/redrive', async (c) => {
    const { events } = await changeWebhook(
      deps,
      callerFrom(c),
      c.req.param('id'),
      'redrive',
      await jsonBody(c, false),
    );
    const redriven = events.flatMap((e) => (isEvent(WebhookDeadLetterRedriven, e) ? e.data.eventIds : []));
    return c.json({ redriven }, 202);
  });
  app.delete('/:id', async (c) => {
    await changeWebhook(deps, callerFrom(c), c.req.param('id'), 'unsubscribe');
    return c.body(null, 204);
  });
  app.notFound((c) => {
    const e = new AdminError(404, 'NOT_FOUND', `no webhook route ${c.req.method} ${c.req.path}`);
    return c.json({ error: { code: e.code, status: e.status, message: e.message } }, 404);
  });
  return app;
};
