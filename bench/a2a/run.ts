/**
 * npm run bench: the side-by-side A2A benchmark. Starts every selected system (systems.ts), drives each
 * with the load generator in a separate process (load.ts), cells interleaved round-robin across systems
 * for several rounds so drift hits every system alike, and prints one markdown table of medians.
 *
 * Settings (env, or --systems= --scenarios= --seconds= --rounds= --concurrency= --streams= flags):
 *   BENCH_SYSTEMS      reference,agentcore-embedded,agentcore-distributed,agentcore-split,durable-floor,floor
 *   BENCH_SCENARIOS    send,stream,get,mixed,subscribe
 *   BENCH_SECONDS 3, BENCH_ROUNDS 2, BENCH_CONCURRENCY 1,64, BENCH_STREAMS 10000,
 *   BENCH_SUBSCRIBE_CREATE_SECONDS 120 (creating the streams' tasks stops after that), BENCH_VERBOSE=1
 *   (children's stderr)
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { CannonResult, Job, Scenario, SubscribeResult } from './load.ts';
import { peakRssKb, resetPeak, rssKb, servicePids, totalCpu } from './proc.ts';
import { children, SYSTEMS, type System, type SystemName, startSystem, stopChild } from './systems.ts';

const SCENARIOS = ['send', 'stream', 'get', 'mixed', 'subscribe'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: {
    systems: { type: 'string' },
    scenarios: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string' },
    streams: { type: 'string' },
  },
});
const setting = (flag: string | undefined, env: string, fallback: string) =>
  flag ?? process.env[env] ?? fallback;
const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const systemNames = list(setting(flags.systems, 'BENCH_SYSTEMS', SYSTEMS.join(','))) as SystemName[];
/** `read` is bench/read-api.ts's scenario, which `npm run bench` runs after this one. */
const scenarios = list(setting(flags.scenarios, 'BENCH_SCENARIOS', SCENARIOS.join(','))).filter(
  (s) => s !== 'read',
) as ScenarioName[];
const seconds = Number(setting(flags.seconds, 'BENCH_SECONDS', '3'));
const rounds = Number(setting(flags.rounds, 'BENCH_ROUNDS', '2'));
const concurrency = list(setting(flags.concurrency, 'BENCH_CONCURRENCY', '1,64')).map(Number);
const streams = Number(setting(flags.streams, 'BENCH_STREAMS', '10000'));
/** Time allowed to create the subscribe scenario's tasks: a slow system gets fewer streams, not hours. */
const subscribeSeconds = Number(process.env.BENCH_SUBSCRIBE_CREATE_SECONDS ?? '120');
for (const s of systemNames)
  if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}: ${SYSTEMS.join(', ')}`);
for (const s of scenarios)
  if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: ${[...SCENARIOS, 'read'].join(', ')}`);
// Only bench/read-api.ts's (`npm run bench` runs it after this): nothing to do here.
if (scenarios.length === 0) process.exit(0);

/** Systems whose CPU counts PostgreSQL's and nats-server's (footnote ¹). */
const USES_SERVICES = new Set<SystemName>(['agentcore-distributed', 'agentcore-split', 'durable-floor']);
/** The floors answer SendMessage only. */
const supports = (system: SystemName, scenario: ScenarioName) =>
  (system !== 'floor' && system !== 'durable-floor') || scenario === 'send';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Runs one load job in its own process; `onPhase` sees the intermediate lines (subscribe) and may answer. */
const runLoad = <R>(job: Job, onPhase?: (phase: Record<string, unknown>) => Promise<void>) =>
  new Promise<R & { fatal?: string }>((resolve, reject) => {
    const proc = spawn(
      'bash',
      ['-c', 'ulimit -n 65536 2>/dev/null; exec node --import tsx bench/a2a/load.ts'],
      {
        cwd: process.cwd(),
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    children.add(proc);
    proc.on('exit', () => children.delete(proc));
    proc.stdin!.write(`${JSON.stringify(job)}\n`);
    let result: (R & { fatal?: string }) | undefined;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.phase === 'result') result = msg as R & { fatal?: string };
      else
        void (onPhase ?? (async () => {}))(msg).then(
          () => proc.stdin!.write('go\n'),
          (error) => reject(error),
        );
    });
    proc.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`load generator exited (${code}) without a result`)),
    );
  });

interface Cell {
  system: SystemName;
  scenario: Scenario;
  connections: number;
  round: number;
  load: CannonResult;
  cpu: number;
  peakMb: number;
  events: number | null;
}
interface Subscription extends SubscribeResult {
  system: SystemName;
  kbPerStream: number;
}

const running = new Map<SystemName, System>();
/** Requests each system served over the whole run, for the embedded hub's events per request. */
const served = new Map<SystemName, number>();
const count = (s: SystemName, n: number) => served.set(s, (served.get(s) ?? 0) + n);

/** Per-pid CPU at the start of a cell; backends born during the cell count from zero. */
const cpuSnapshot = (sys: System) =>
  new Map([...sys.pids, ...(sys.usesServices ? servicePids() : [])].map((p) => [p, totalCpu([p])]));
const cpuSince = (sys: System, before: Map<number, number>) =>
  [...sys.pids, ...(sys.usesServices ? servicePids() : [])].reduce(
    (sum, p) => sum + totalCpu([p]) - (before.get(p) ?? 0),
    0,
  );

const runCell = async (
  sys: System,
  scenario: Scenario,
  connections: number,
  round: number,
  taskIds: string[],
) => {
  const before = cpuSnapshot(sys);
  for (const p of sys.pids) resetPeak(p);
  const eventsBefore = await sys.eventCount();
  const load = await runLoad<CannonResult>({
    kind: 'cannon',
    target: sys.target,
    scenario,
    connections,
    seconds,
    taskIds,
  });
  if (load.fatal) throw new Error(`load generator failed: ${load.fatal}`);
  const cpu = cpuSince(sys, before);
  const peakMb = sys.pids.reduce((s, p) => s + peakRssKb(p), 0) / 1024;
  const eventsAfter = await sys.eventCount();
  count(sys.name, load.requests);
  const cell: Cell = {
    system: sys.name,
    scenario,
    connections,
    round,
    load,
    cpu,
    peakMb,
    events: eventsBefore === null || eventsAfter === null ? null : eventsAfter - eventsBefore,
  };
  log(
    `  ${sys.name} ${scenario} c=${connections} r${round}: ${load.reqPerSec.toFixed(0)} req/s p50 ${load.p50.toFixed(2)} p99 ${load.p99.toFixed(2)} ms, errors ${load.errors}${load.samples.length ? ` (${load.samples.join('; ')})` : ''}`,
  );
  return cell;
};

const runSubscribe = async (sys: System): Promise<Subscription> => {
  const rss = () => sys.pids.reduce((s, p) => s + rssKb(p), 0);
  let before = 0;
  let after = 0;
  const result = await runLoad<SubscribeResult>(
    { kind: 'subscribe', target: sys.target, streams, createSeconds: subscribeSeconds, timeoutSeconds: 120 },
    async (msg) => {
      log(`  ${sys.name} subscribe: ${JSON.stringify(msg)}`);
      await new Promise((r) => setTimeout(r, 1000)); // let the server settle before reading its RSS
      if (msg.phase === 'created') before = rss();
      else after = rss();
    },
  );
  if (result.fatal) throw new Error(`load generator failed: ${result.fatal}`);
  count(sys.name, result.requests);
  const kbPerStream = result.heldOpen ? (after - before) / result.heldOpen : Number.NaN;
  log(`  ${sys.name} subscribe: ${JSON.stringify({ ...result, kbPerStream })}`);
  return { ...result, system: sys.name, kbPerStream };
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

const table = (cells: Cell[], subs: Subscription[], finalEvents: Map<SystemName, number | null>) => {
  const out: string[] = [];
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  out.push(
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${cpuModel}), Node ${process.version}, ` +
      `${seconds} s per cell, ${rounds} round(s), medians of rounds, concurrency ${concurrency.join('/')}`,
    '',
  );
  const cols = concurrency.map((c) => `c=${c} req/s, p50, p99 ms`);
  out.push(
    `| system | scenario | ${cols.join(' | ')} | CPU s / 1k req | peak RSS MB | events / req | errors |`,
    `|---|---|${cols.map(() => '---').join('|')}|---|---|---|---|`,
  );
  for (const system of systemNames)
    for (const scenario of scenarios) {
      if (scenario === 'subscribe' || !supports(system, scenario)) continue;
      const mine = cells.filter((c) => c.system === system && c.scenario === scenario);
      if (mine.length === 0) continue;
      const errors = mine.reduce((s, c) => s + c.load.errors, 0);
      const perC = concurrency.map((c) => {
        const cs = mine.filter((x) => x.connections === c);
        if (cs.length === 0) return 'n/a';
        const l = cs.map((x) => x.load);
        const failed = l.some((x) => x.errors > 0) ? 'FAILED: ' : '';
        return `${failed}${fmt(median(l.map((x) => x.reqPerSec)))}, ${fmt(median(l.map((x) => x.p50)), 2)}, ${fmt(median(l.map((x) => x.p99)), 1)}`;
      });
      const byRound = [...new Set(mine.map((c) => c.round))].map((r) => mine.filter((c) => c.round === r));
      const cpu = median(
        byRound.map(
          (cs) => (cs.reduce((s, c) => s + c.cpu, 0) / cs.reduce((s, c) => s + c.load.requests, 0)) * 1000,
        ),
      );
      const peak = Math.max(...mine.map((c) => c.peakMb));
      const live = mine.every((c) => c.events !== null)
        ? fmt(
            median(
              byRound.map(
                (cs) => cs.reduce((s, c) => s + c.events!, 0) / cs.reduce((s, c) => s + c.load.requests, 0),
              ),
            ),
            1,
          )
        : null;
      const final = finalEvents.get(system);
      const events =
        live ?? (final != null ? `${fmt(final / (served.get(system) ?? 1), 1)} (whole run)²` : 'n/a');
      const samples = [...new Set(mine.flatMap((c) => c.load.samples))].slice(0, 2).join('; ');
      out.push(
        `| ${system} | ${scenario} | ${perC.join(' | ')} | ${fmt(cpu, 2)}${USES_SERVICES.has(system) ? '¹' : ''} | ${fmt(peak)} | ${events} | ${errors}${samples ? ` (${samples})` : ''} |`,
      );
    }
  if (subs.length) {
    out.push(
      '',
      `Subscribe: ${streams} input-required tasks, one SubscribeToTask stream each held open, then a follow-up message to every task (medians of rounds).`,
      '',
      '| system | streams opened | held open together | streams closed after COMPLETED | events delivered (≥ 2 per stream expected) | memory per open stream KB | follow-ups/s | errors |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const system of systemNames) {
      const mine = subs.filter((s) => s.system === system);
      if (mine.length === 0) continue;
      const m = (f: (s: Subscription) => number, d = 0) => fmt(median(mine.map(f)), d);
      const errors = mine.reduce((s, x) => s + x.errors, 0);
      const samples = [...new Set(mine.flatMap((x) => x.samples))].slice(0, 2).join('; ');
      out.push(
        `| ${system} | ${m((s) => s.opened)}/${streams} | ${m((s) => s.heldOpen)} | ${m((s) => s.completed)} | ${m((s) => s.events)} / ${m((s) => s.opened * 2)} | ${m((s) => s.kbPerStream, 1)} | ${m((s) => s.followUpsPerSec)} | ${errors}${samples ? ` (${samples})` : ''} |`,
      );
    }
  }
  out.push(
    '',
    '¹ CPU includes every PostgreSQL process (postmaster and all backends) and nats-server, which are shared by every system using them (the distributed hubs, durable-floor) and anything else on the machine; the other systems count their node process only. The load generator is never counted.',
    "² The embedded hub's log (PGlite) cannot be read while the hub runs: its events were counted after it stopped and divided by all requests it served during the run (every scenario, pools and warm-up included).",
    "Latency in ms from autocannon's per-response times; a cell with any wrong response (checked: status, JSON-RPC result, COMPLETED, echoed text) is marked FAILED. Peak RSS is VmHWM of the system's node process(es), summed.",
  );
  return out.join('\n');
};

const shutdown = async () => {
  const stops = [...running.values()].map((s) => s.stop().catch((e) => log(`stopping ${s.name}: ${e}`)));
  await Promise.all(stops);
  for (const c of children) await stopChild(c, 5000);
};
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping every system`);
    void shutdown().finally(() => process.exit(130));
  });

const main = async () => {
  log(
    `systems ${systemNames.join(', ')}; scenarios ${scenarios.join(', ')}; ${seconds}s x ${rounds} rounds; c=${concurrency.join(',')}; streams ${streams}`,
  );
  for (const name of systemNames) {
    log(`starting ${name}`);
    running.set(name, await startSystem(name));
  }
  const pools = new Map<SystemName, string[]>();
  for (const sys of running.values()) {
    // Warm-up (JIT, pools, caches) before anything is measured, also a readiness check: it retries.
    for (let attempt = 0; ; attempt++) {
      const w = await runLoad<CannonResult>({
        kind: 'cannon',
        target: sys.target,
        scenario: 'send',
        connections: 8,
        seconds: 1,
        taskIds: [],
      });
      count(sys.name, w.requests);
      if (w.errors === 0 && w.requests > 0) break;
      if (attempt === 30) throw new Error(`${sys.name} never answered correctly: ${w.samples.join('; ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (scenarios.some((s) => s === 'get' || s === 'mixed') && supports(sys.name, 'get')) {
      const p = await runLoad<{ requests: number; taskIds: string[]; errors: number; samples: string[] }>({
        kind: 'pool',
        target: sys.target,
        count: 200,
      });
      count(sys.name, p.requests);
      if (p.errors) log(`  ${sys.name}: pool errors ${p.errors}: ${p.samples.join('; ')}`);
      pools.set(sys.name, p.taskIds);
    }
  }
  const cells: Cell[] = [];
  const subs: Subscription[] = [];
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}/${rounds}`);
    for (const scenario of scenarios)
      for (const c of scenario === 'subscribe' ? [0] : concurrency)
        for (const sys of running.values()) {
          if (!supports(sys.name, scenario)) continue;
          if (scenario === 'subscribe') subs.push(await runSubscribe(sys));
          else cells.push(await runCell(sys, scenario, c, round, pools.get(sys.name) ?? []));
        }
  }
  const finalEvents = new Map<SystemName, number | null>();
  for (const [name, sys] of [...running]) {
    finalEvents.set(name, await sys.stop());
    running.delete(name);
  }
  process.stdout.write(`${table(cells, subs, finalEvents)}\n`);
};

main()
  .then(() => process.exit(0))
  .catch(async (error) => {
    log(`bench failed: ${error?.stack ?? error}`);
    await shutdown();
    process.exit(1);
  });
