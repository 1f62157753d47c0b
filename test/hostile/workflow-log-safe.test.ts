/**
 * What log lines keep of payloads (infra/log-safe.ts): an error's type, code, message and stack cut to
 * size, none of its other properties (a driver's error holding a statement's parameters, a command error
 * holding its whole input), and any other value as at most 2 KB of its JSON.
 */
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError } from '../../commands/errors.ts';
import { forLog, formatBytes, LOG_TEXT_MAX, safeErr, truncateText } from '../../infra/log-safe.ts';

const huge = 'p'.repeat(5_000_000);

test("an error's payload-sized properties stay out of the log line", () => {
  const driverError = Object.assign(new Error(`insert failed: ${huge}`), {
    code: '53200',
    parameters: [huge],
  });
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  log.warn(
    { err: safeErr(driverError), stream: 'wfrun-1' },
    'workflow step outcome not recorded yet; will retry',
  );
  log.warn({ err: safeErr(new CommandError('validation', 'bad', { input: huge })) }, 'refused');
  log.warn({ err: safeErr(huge) }, 'thrown text');
  assert.ok(
    lines.every((l) => l.length < 4 * LOG_TEXT_MAX),
    `lines of ${lines.map((l) => l.length)} characters`,
  );
  const logged = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
  assert.is(logged.err.code, '53200');
  assert.is(logged.err.type, 'Error');
  assert.not.ok('parameters' in logged.err);
  assert.match(String(logged.err.message), /^insert failed: p+… \(4997967 more characters\)$/);
  assert.is((JSON.parse(lines[1]!) as { err: { type: string } }).err.type, 'CommandError');
});

test('any value is at most LOG_TEXT_MAX characters of its JSON; text is never cut inside a surrogate pair', () => {
  assert.is(forLog({ a: 1 }), '{"a":1}');
  const blob = forLog({ blob: huge });
  assert.is(blob, `{"blob":"${'p'.repeat(LOG_TEXT_MAX - 9)}… (4997963 more characters)`);
  const circular: { self?: unknown } = {};
  circular.self = circular;
  assert.is(forLog(circular), '[object Object]');
  assert.is(truncateText('ab😀cd', 3), 'ab… (4 more characters)');
});

test('sizes read as people read them', () => {
  assert.is(formatBytes(512), '512 bytes');
  assert.is(formatBytes(1024 * 1024), '1 MiB');
  assert.is(formatBytes(150_000_000), '143.1 MiB');
  assert.is(formatBytes(3 * 1024 * 1024 + 14), '3 MiB');
});

test.run();
