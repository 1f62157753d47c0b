/**
 * Tenant A of the isolation benchmark, in a process of its own (as a hostile client is): sets up one attack
 * (BENCH_ATTACK, an item such as `A5`) against BENCH_HUB_URL with BENCH_KEY, gives the hub 2 s to settle and
 * prints `ready`, then runs it for BENCH_PHASE_MS, prints its outcomes as one JSON line
 * (`{"413": 74, "200": 72}`) and exits. Generating a 9 MB body or holding 300 streams then costs this
 * process, not the load generator that times tenant B.
 */
import { attacks, type Outcomes, startBlackHole } from './attacks.ts';

const item = process.env.BENCH_ATTACK;
const attack = attacks.find((a) => a.item === item);
if (!attack) throw new Error(`BENCH_ATTACK=${item}: no such attack (${attacks.map((a) => a.item)})`);
const blackHole = await startBlackHole();
const attacker = { url: process.env.BENCH_HUB_URL!, key: process.env.BENCH_KEY!, blackHole: blackHole.url };
await attack.setup?.(attacker, new Map());
await new Promise((r) => setTimeout(r, 2000)); // the setup's tail is not the attack
process.stdout.write('ready\n');
const outcomes: Outcomes = new Map();
// A controller and a timer: an AbortSignal.timeout that nothing else holds can be collected unfired.
const phase = new AbortController();
setTimeout(() => phase.abort(), Number(process.env.BENCH_PHASE_MS ?? 10_000));
const signal = phase.signal;
await attack.run(attacker, signal, outcomes);
process.stdout.write(`${JSON.stringify(Object.fromEntries(outcomes))}\n`);
process.exit(0);
