import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCommand } from '../../commands/errors.ts';
import { TenantCommand, tenantDecider } from '../../commands/tenant.ts';
import type { TenantEvent } from '../../events/tenant.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(tenantDecider);
const hash = 'a'.repeat(64);
const registered: TenantEvent = { type: 'TenantRegistered', data: { tenantId: 'acme', name: 'Acme' } };
const issued: TenantEvent = {
  type: 'ApiKeyIssued',
  data: { keyId: 'k1', keyHash: hash, label: 'ci', actsFor: [] },
};

test('registering a new tenant', () =>
  spec([]).when({ type: 'RegisterTenant', tenantId: 'acme', name: 'Acme' }).thenEvents([registered]));

test('registering twice violates a rule', () =>
  spec([registered])
    .when({ type: 'RegisterTenant', tenantId: 'acme', name: 'Acme' })
    .thenFails('rule_violated', /already registered/));

test('commands on an unknown tenant are not found', () =>
  spec([]).when({ type: 'RenameTenant', name: 'X' }).thenFails('not_found'));

test('renaming to the same name changes nothing', () =>
  spec([registered]).when({ type: 'RenameTenant', name: 'Acme' }).thenEvents([]));

test('issuing a key, then the same key id again', () => {
  spec([registered])
    .when({ type: 'IssueApiKey', keyId: 'k1', keyHash: hash, label: 'ci', actsFor: [] })
    .thenEvents([issued]);
  spec([registered, issued])
    .when({ type: 'IssueApiKey', keyId: 'k1', keyHash: hash, label: 'x', actsFor: [] })
    .thenFails('rule_violated', /already exists/);
});

test('revoking is idempotent; unknown keys are not found', () => {
  spec([registered, issued])
    .when({ type: 'RevokeApiKey', keyId: 'k1' })
    .thenEvents([{ type: 'ApiKeyRevoked', data: { keyId: 'k1' } }]);
  spec([registered, issued, { type: 'ApiKeyRevoked', data: { keyId: 'k1' } }])
    .when({ type: 'RevokeApiKey', keyId: 'k1' })
    .thenEvents([]);
  spec([registered]).when({ type: 'RevokeApiKey', keyId: 'nope' }).thenFails('not_found');
});

test('bad commands get readable validation messages', () => {
  try {
    parseCommand(TenantCommand, { type: 'RegisterTenant', tenantId: 'Not Valid!', name: '' });
    assert.unreachable();
  } catch (error) {
    const message = (error as Error).message;
    assert.match(message, /tenantId: tenant must be/);
    assert.match(message, /name: /);
  }
});

test.run();
