/** The audit chain's canonical form: the same bytes as RFC 8785 (the `canonicalize` package) for any entry. */
import canonicalize from 'canonicalize';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AuditEntry, canonicalEntry, chainHash, GENESIS_HASH } from '../../projections/audit-chain.ts';

// Quotes, backslashes, control characters, non-ASCII, astral characters, the line separators.
const POOL = [
  'a',
  'Z',
  '0',
  ' ',
  '"',
  '\\',
  '/',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  '\u007f',
  'é',
  '中',
  '😀',
  '\u2028',
  '\u2029',
  '<',
  '&',
];
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const text = () =>
  Array.from({ length: Math.floor(random() * 12) }, () => POOL[Math.floor(random() * POOL.length)]).join('');
const maybe = () => (random() < 0.3 ? null : text());

test('canonicalEntry is the RFC 8785 form of the entry', () => {
  for (let i = 0; i < 2000; i++) {
    const entry: AuditEntry = {
      id: text(),
      tenant: text(),
      seq: Math.floor(random() * 2 ** 40),
      at: new Date(Math.floor(random() * 2 ** 42)).toISOString(),
      principal: text(),
      keyId: maybe(),
      commandType: text(),
      commandId: text(),
      stream: maybe(),
      outcome: random() < 0.5 ? 'accepted' : 'refused',
      reason: maybe(),
      requestId: maybe(),
      source: maybe(),
    };
    assert.is(canonicalEntry(entry), canonicalize(entry), JSON.stringify(entry));
  }
});

test('a lone surrogate, which RFC 8785 refuses, is escaped rather than failing the projection', () => {
  const entry = { ...sample(), requestId: 'x\ud800y' };
  assert.throws(() => canonicalize(entry));
  assert.ok(canonicalEntry(entry).includes('"requestId":"x\\ud800y"'));
});

const sample = (): AuditEntry => ({
  id: 'e1',
  tenant: 'acme',
  seq: 1,
  at: '2026-01-01T00:00:00.000Z',
  principal: 'apikey:acme/k1',
  keyId: 'k1',
  commandType: 'SubmitTask',
  commandId: 'c1',
  stream: 'task-1',
  outcome: 'accepted',
  reason: null,
  requestId: 'r1',
  source: '127.0.0.1',
});

test('the hash covers the previous hash and every field', () => {
  const entry = sample();
  const hash = chainHash(GENESIS_HASH, entry);
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.is.not(chainHash('1'.repeat(64), entry), hash);
  for (const field of Object.keys(entry) as Array<keyof AuditEntry>)
    assert.is.not(chainHash(GENESIS_HASH, { ...entry, [field]: field === 'seq' ? 2 : 'x' }), hash, field);
});

test.run();
