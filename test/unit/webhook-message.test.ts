import { Webhook } from 'standardwebhooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import {
  isWebhookSecret,
  newWebhookSecret,
  signedHeaders,
  structuredBody,
  webhookMessageId,
} from '../../sagas/webhook-message.ts';
import { DEFAULT_WEBHOOK_SETTINGS, webhookBackoffMs } from '../../sagas/webhook-settings.ts';

const event: RecordedEvent = {
  id: '0b6f4a52-6c3a-4d39-9a51-3c1b2f9b8e11',
  stream: 'tenant-acme',
  revision: 3,
  position: 9_000_000_000,
  type: 'ApiKeyIssued',
  schemaVersion: 1,
  occurredAt: '2026-11-25T10:00:00.000Z',
  data: { keyId: 'k1', keyHash: 'ab'.repeat(32), label: 'ci' },
  metadata: { tenant: 'acme', principal: 'p', correlationId: 'c-1', causationId: 'cmd-1' },
};

test('the body is a structured-mode CloudEvent 1.0 with the event and its place in the log', () => {
  const { body, contentType } = structuredBody(event);
  assert.match(contentType, /^application\/cloudevents\+json/);
  const ce = JSON.parse(body);
  assert.equal(
    {
      specversion: ce.specversion,
      id: ce.id,
      type: ce.type,
      source: ce.source,
      subject: ce.subject,
      time: ce.time,
      stream: ce.stream,
      revision: ce.revision,
      position: ce.position,
      correlationid: ce.correlationid,
      causationid: ce.causationid,
      tenant: ce.tenant,
    },
    {
      specversion: '1.0',
      id: event.id,
      type: 'agentcore.ApiKeyIssued',
      source: '/agentcore/tenants/acme/streams/tenant-acme',
      subject: 'tenant-acme',
      time: event.occurredAt,
      stream: 'tenant-acme',
      revision: 3,
      position: '9000000000',
      correlationid: 'c-1',
      causationid: 'cmd-1',
      tenant: 'acme',
    },
  );
  assert.is(ce.data.keyId, 'k1');
  assert.is(ce.data.keyHash, '[redacted]', 'secrets are redacted (events/secrets.ts)');
});

test('the signature verifies with Standard Webhooks; a changed body does not', () => {
  const secret = newWebhookSecret();
  assert.ok(isWebhookSecret(secret));
  const { body } = structuredBody(event);
  const headers = signedHeaders(secret, webhookMessageId('s1', event.id), body, new Date());
  const verified = new Webhook(secret).verify(body, headers) as { id: string };
  assert.is(verified.id, event.id);
  assert.throws(() => new Webhook(secret).verify(body.replace('k1', 'k2'), headers));
  assert.throws(() => new Webhook(newWebhookSecret()).verify(body, headers));
});

test('webhook-id is stable per subscription and event, and differs across subscriptions', () => {
  assert.is(webhookMessageId('s1', event.id), webhookMessageId('s1', event.id));
  assert.is.not(webhookMessageId('s1', event.id), webhookMessageId('s2', event.id));
  assert.match(webhookMessageId('s1', event.id), /^msg_[0-9a-f]{32}$/);
});

test('secrets: whsec_ and base64 of 24 to 64 bytes', () => {
  assert.ok(isWebhookSecret(`whsec_${Buffer.alloc(24, 1).toString('base64')}`));
  assert.not.ok(isWebhookSecret(`whsec_${Buffer.alloc(16, 1).toString('base64')}`));
  assert.not.ok(isWebhookSecret('hunter2'));
  assert.not.ok(isWebhookSecret('whsec_!!!!'));
});

test('backoff doubles per failure within [d/2, d], capped', () => {
  const s = { ...DEFAULT_WEBHOOK_SETTINGS, backoffBaseMs: 100, backoffMaxMs: 1000 };
  assert.equal(
    [1, 2, 3, 4, 5].map((n) => webhookBackoffMs(s, n, () => 1)),
    [100, 200, 400, 800, 1000],
  );
  assert.is(
    webhookBackoffMs(s, 3, () => 0),
    200,
  );
});

test.run();
