#!/usr/bin/env node
// Runs every test/**/*.test.ts in its own process (uvu prints a summary per process) and sums the counts,
// because uvu itself prints no total a CI can read. Usage: node test/run.mjs [path-substring ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const walk = (dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
const only = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const parallel = Number(process.env.TEST_PARALLEL ?? 2);
// A file that hangs is killed and counted as failed rather than stalling the whole run.
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_S ?? 300) * 1000;

const runFile = (file) =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n!!! ${file} still running after ${fileTimeoutMs / 1000}s: killed !!!\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      // A file with top-level await can print one summary per suite: add them all up.
      const n = (label) =>
        [...out.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))].reduce((a, m) => a + Number(m[1]), 0);
      const total = n('Total');
      const skipped = n('Skipped');
      const passed = n('Passed');
      // uvu's Total counts the tests that ran; skipped ones are reported apart.
      let failed = total - passed;
      if (code !== 0 && failed === 0) failed = 1; // crashed before or outside uvu's reporting
      if (code === 0 && total === 0 && skipped === 0) failed = 1; // a test file that ran nothing is a broken file
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n=== ${file} (${seconds}s, exit ${code}) ===\n${out}`);
      resolve({ file, passed, failed, skipped });
    });
  });

// *.serial.test.ts files disturb shared services (they restart NATS, say): they run alone, after the rest.
const results = [];
const queue = files.filter((f) => !f.endsWith('.serial.test.ts'));
await Promise.all(
  Array.from({ length: Math.max(1, parallel) }, async () => {
    while (queue.length) results.push(await runFile(queue.shift()));
  }),
);
for (const file of files.filter((f) => f.endsWith('.serial.test.ts'))) results.push(await runFile(file));
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
const failedFiles = results.filter((r) => r.failed > 0).map((r) => r.file);
if (failedFiles.length) console.log(`\nfailing files:\n  ${failedFiles.join('\n  ')}`);
console.log(`\n${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
process.exit(sum('failed') > 0 ? 1 : 0);
