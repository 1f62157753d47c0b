/**
 * Process metrics from /proc (Linux): CPU time (utime + stime), resident memory (VmRSS) and its peak
 * (VmHWM, resettable through clear_refs), and the processes a system is made of, PostgreSQL backends and
 * nats-server included for the distributed systems since they do part of the work.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process is gone
  }
};

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
const statFields = (pid: number) => {
  const raw = read(`/proc/${pid}/stat`);
  return raw ? raw.slice(raw.lastIndexOf(')') + 2).split(' ') : null;
};

/** CPU seconds (user + system) the process has used so far; 0 if it is gone. */
export const cpuSeconds = (pid: number) => {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : 0; // utime, stime: fields 14 and 15 of stat
};

const statusKb = (pid: number, key: 'VmRSS' | 'VmHWM') => {
  const m = read(`/proc/${pid}/status`)?.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
};
export const rssKb = (pid: number) => statusKb(pid, 'VmRSS');
export const peakRssKb = (pid: number) => statusKb(pid, 'VmHWM');

/** Resets VmHWM to the current RSS, so a cell's peak is its own (writing 5 to clear_refs). */
export const resetPeak = (pid: number) => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not permitted or gone: the peak then covers the whole run so far
  }
};

const allPids = () =>
  readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);

const parentOf = (pid: number) => Number(statFields(pid)?.[1] ?? -1);
const commOf = (pid: number) => read(`/proc/${pid}/comm`)?.trim() ?? '';

/** `pid` and all its descendants alive now. */
export const withDescendants = (pid: number): number[] => {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const parent = parentOf(p);
    children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
};

/**
 * The PostgreSQL postmaster with all its children (backends, walwriter, autovacuum ...) and nats-server:
 * looked up each time, since backends come and go with connections.
 */
export const servicePids = (): number[] => {
  const pids = allPids();
  const postmaster = pids.find((p) => commOf(p) === 'postgres' && commOf(parentOf(p)) !== 'postgres');
  const nats = pids.filter((p) => commOf(p) === 'nats-server');
  return [...(postmaster ? withDescendants(postmaster) : []), ...nats];
};

/** Sum of CPU seconds of the pids; processes that ended in between are lost, so sample often enough. */
export const totalCpu = (pids: number[]) => pids.reduce((s, p) => s + cpuSeconds(p), 0);
