/**
 * Isolation benchmark: tenant B runs a steady SendMessage load while tenant A runs each attack of issue 15
 * part A in turn (bench/isolation/attacks.ts, from a process of its own: bench/isolation/attacker.ts), on
 * each runtime. What an attack needs in place (A2's 9 MB of events) is set up before its phase. Prints B's
 * p50/p99 and errors per attack beside a quiet baseline of the same run, A's outcomes, the hub's peak RSS
 * per phase and whether the hub still answers. Targets: B's p99 <= 2x quiet, 0 errors, peak RSS <= 1.5x
 * the first quiet phase's peak, the hub alive.
 *
 * Every attack phase sits between two quiet phases, and its baseline is those two pooled: B saturates the
 * hub (a closed loop), so its latency drifts over a run (the database's own work, the log growing) by up
 * to 2x between quiet phases minutes apart, as much as the target; the quiet phases next to an attack
 * drift least. The RSS baseline stays the first quiet phase, so memory an attack leaves behind counts.
 *
 * Run: npm run bench:isolation. Environment: BENCH_TARGETS (embedded,distributed), BENCH_PHASE_MS (15000),
 * BENCH_B_CONCURRENCY (4), BENCH_ATTACK_RATE (A's requests per second per attack, 20; 0 = flood),
 * BENCH_ATTACKS (only these items, e.g. `A2,A5`), BENCH_HUB_NODE_ARGS (for the hub's node, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile one attack), DATABASE_URL, NATS_URL.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { peakRssKb, resetPeak, rssKb } from './a2a/proc.ts';
import { ATTACK_RATE, attacks } from './isolation/attacks.ts';

const TARGETS = (process.env.BENCH_TARGETS ?? 'embedded,distributed').split(',');
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 15_000);
const B_CONCURRENCY = Number(process.env.BENCH_B_CONCURRENCY ?? 4);
const ONLY = process.env.BENCH_ATTACKS?.split(',');
const HUB_NODE_ARGS = process.env.BENCH_HUB_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

interface Hub {
  url: string;
  pid: number;
  keys: { a: string; b: string };
  stop(): Promise<void>;
}

const startHubProcess = (runtime: string) =>
  new Promise<Hub>((resolve, reject) => {
    const child = spawn(process.execPath, [...HUB_NODE_ARGS, '--import', 'tsx', 'bench/isolation/hub.ts'], {
      env: { ...process.env, BENCH_RUNTIME: runtime },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.once('exit', (code) =>
      reject(new Error(`the ${runtime} hub exited (${code}) before it was ready`)),
    );
    createInterface({ input: child.stdout }).once('line', (line) => {
      const ready = JSON.parse(line) as Omit<Hub, 'stop'>;
      resolve({
        ...ready,
        stop: async () => {
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
          child.kill('SIGKILL');
        },
      });
    });
  });

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** B's closed-loop SendMessage load: every answer checked (a completed task), latencies in ms. */
const tenantB = async (hub: Hub, signal: AbortSignal) => {
  const latencies: number[] = [];
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: B_CONCURRENCY }, async () => {
      while (!signal.aborted) {
        const started = performance.now();
        try {
          const res = await fetch(`${hub.url}/a2a/jsonrpc`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'a2a-version': '1.0', 'x-api-key': hub.keys.b },
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 1,
              method: 'SendMessage',
              params: {
                message: {
                  messageId: `tck-complete-task-${randomUUID()}`,
                  role: 'ROLE_USER',
                  parts: [{ text: 'b' }],
                },
              },
            }),
            signal: AbortSignal.timeout(60_000),
          });
          const body = (await res.json()) as { result?: { task?: { status: { state: string } } } };
          if (body.result?.task?.status.state !== 'TASK_STATE_COMPLETED') {
            errors.push(`${res.status} ${JSON.stringify(body).slice(0, 120)}`);
          } else latencies.push(performance.now() - started);
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    }),
  );
  return { latencies, errors };
};

const alive = async (hub: Hub) => {
  try {
    return (await fetch(`${hub.url}/healthz`, { signal: AbortSignal.timeout(5000) })).ok;
  } catch {
    return false;
  }
};

interface Row {
  phase: string;
  latencies: number[];
  p50: number;
  p99: number;
  sent: number;
  errors: number;
  peakMb: number;
  alive: boolean;
  outcomes: string;
  firstError?: string;
}

/**
 * Attack `item` as tenant A in a process of its own (bench/isolation/attacker.ts): `ready` once its setup is
 * done and the hub has settled (the attack starts then, as B's phase does), `outcomes` (A's answers,
 * counted) once its phase is over.
 */
const startAttacker = (hub: Hub, item: string) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/isolation/attacker.ts'], {
    env: { ...process.env, BENCH_ATTACK: item, BENCH_HUB_URL: hub.url, BENCH_KEY: hub.keys.a },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the attacker of ${item} exited with ${code}`))),
  );
  const next = () => Promise.race([new Promise<string>((r) => lines.once('line', r)), exited]);
  const ready = next();
  const outcomes = ready.then(next).then((line) =>
    Object.entries(JSON.parse(line) as Record<string, number>)
      .map(([k, v]) => `${k}:${v}`)
      .join(' '),
  );
  return { ready, outcomes };
};

/** One phase: B's load for PHASE_MS, with an attack by A alongside (or none: the quiet baseline). */
const phase = async (hub: Hub, name: string, item?: string) => {
  const attacker = item ? startAttacker(hub, item) : undefined;
  await attacker?.ready;
  resetPeak(hub.pid);
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), PHASE_MS);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(hub.pid))), 100);
  const [b, outcomes] = await Promise.all([tenantB(hub, stop.signal), attacker?.outcomes ?? '']);
  clearTimeout(timer);
  clearInterval(sampler);
  peak = Math.max(peak, peakRssKb(hub.pid));
  const row: Row = {
    phase: name,
    latencies: b.latencies,
    p50: pct(b.latencies, 50),
    p99: pct(b.latencies, 99),
    sent: b.latencies.length + b.errors.length,
    errors: b.errors.length,
    peakMb: peak / 1024,
    alive: await alive(hub),
    outcomes,
    ...(b.errors[0] ? { firstError: b.errors[0] } : {}),
  };
  // Let the hub settle (queues drain, runs end) so one attack's tail is not the next one's baseline.
  await new Promise((r) => setTimeout(r, 2000));
  return row;
};

/** An attack's baseline: the quiet phases before and after it, pooled (the one before if the hub died). */
const baseline = (before: Row, after: Row | undefined) => ({
  p99: pct([...before.latencies, ...(after?.latencies ?? [])], 99),
});

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

const results: Array<{ runtime: string; rows: Row[] }> = [];
for (const runtime of TARGETS) {
  const hub = await startHubProcess(runtime);
  console.log(
    `\n${runtime} hub ready at ${hub.url} (pid ${hub.pid}); phases of ${PHASE_MS} ms, B at c=${B_CONCURRENCY}, A at ${ATTACK_RATE || 'flood'} req/s`,
  );
  const rows: Row[] = [];
  try {
    await phase(hub, 'warm-up');
    rows.push(await phase(hub, 'quiet'));
    for (const attack of attacks.filter((a) => !ONLY || ONLY.includes(a.item))) {
      const row = await phase(hub, `${attack.item} ${attack.name}`, attack.item);
      rows.push(row);
      console.log(
        `  ${row.phase}: B p50 ${f(row.p50)} ms p99 ${f(row.p99)} ms, ${row.errors} errors, peak ${f(row.peakMb, 0)} MB${row.alive ? '' : ', HUB DOWN'}`,
      );
      if (!row.alive) break;
      rows.push(await phase(hub, 'quiet'));
    }
  } finally {
    await hub.stop();
  }
  results.push({ runtime, rows });
}

let failed = 0;
for (const { runtime, rows } of results) {
  const firstQuiet = rows[0]!;
  console.log(
    `\n### ${runtime}: tenant B (SendMessage, c=${B_CONCURRENCY}) while tenant A attacks (${ATTACK_RATE || 'flood'} req/s)`,
  );
  console.log(
    '| phase | B p50 ms | B p99 ms | p99 / quiet (attacks: the two around; quiet: the first) | B sent | B errors | hub peak RSS MB | RSS / quiet | alive | A got |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const [i, r] of rows.entries()) {
    // A quiet phase shows its drift from the first one; only attacks are held to the p99 target.
    const isQuiet = r.phase === 'quiet';
    const p99Ratio = r.p99 / (isQuiet ? firstQuiet : baseline(rows[i - 1]!, rows[i + 1])).p99;
    const rssRatio = r.peakMb / firstQuiet.peakMb;
    const ok = r.errors === 0 && r.alive && (isQuiet || p99Ratio <= 2) && rssRatio <= 1.5;
    if (!ok) failed++;
    console.log(
      `| ${r.phase} | ${f(r.p50)} | ${f(r.p99)} | ${f(p99Ratio, 2)}${ok ? '' : ' ✗'} | ${r.sent} | ${r.errors} | ${f(r.peakMb, 0)} | ${f(rssRatio, 2)} | ${r.alive ? 'yes' : 'NO'} | ${r.outcomes} |`,
    );
    if (r.firstError) console.log(`|  | first error: ${r.firstError.replaceAll('|', '/')} |`);
  }
}
console.log(
  `\n${failed === 0 ? 'every phase within the targets' : `${failed} phase(s) outside the targets (✗)`}`,
);
process.exit(0);
