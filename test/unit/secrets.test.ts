/** events/secrets.ts: the one list of secret fields, and an event as integrators may be served it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REDACTED, servableEvent } from '../../events/secrets.ts';

test('an ApiKeyIssued is served without its hash; the rest of the event is unchanged', () => {
  const event = {
    id: 'e1',
    type: 'ApiKeyIssued',
    metadata: { tenant: 't' },
    data: { keyId: 'k1', keyHash: 'a'.repeat(64), label: 'ci', actsFor: [] },
  };
  const served = servableEvent(event);
  assert.equal(served, { ...event, data: { keyId: 'k1', keyHash: REDACTED, label: 'ci', actsFor: [] } });
  assert.is(event.data.keyHash, 'a'.repeat(64), 'the original is not changed');
});

test('push credentials and tokens, and a webhook secret, are redacted however deep', () => {
  const served = servableEvent({
    data: {
      config: { url: 'https://x', token: 't0k', authentication: { scheme: 'Bearer', credentials: 'c' } },
      secret: 'whsec_abc',
      list: [{ token: 'deep' }],
    },
  });
  assert.equal(served.data, {
    config: {
      url: 'https://x',
      token: REDACTED,
      authentication: { scheme: 'Bearer', credentials: REDACTED },
    },
    secret: REDACTED,
    list: [{ token: REDACTED }],
  });
});

test.run();
