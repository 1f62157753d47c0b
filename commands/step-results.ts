/**
 * How a workflow reads a step's result: whether a decision's condition holds, a map's items, a swarm hop's
 * hand-over and the next hop's input. Pure functions of the definition and the step's output.
 */
import type { Condition } from '../events/workflow-definition.ts';
import { patternMatches } from '../events/workflow-pattern.ts';
import type { StepResult } from './workflow-template.ts';

export const conditionHolds = (c: Condition, result: StepResult | undefined): boolean => {
  if (!result) return false;
  if (c.state !== undefined && result.state !== c.state) return false;
  if (c.equals !== undefined && result.output !== c.equals) return false;
  if (c.contains !== undefined && !result.output.includes(c.contains)) return false;
  if (c.matches !== undefined && !patternMatches(c.matches, result.output)) return false;
  return true;
};

/** A map's items: the output as a JSON array (each element as text), else its non-empty lines; at most `max`. */
export const itemsOf = (output: string, max: number): string[] => {
  let items: string[] | null = null;
  try {
    const parsed: unknown = JSON.parse(output);
    if (Array.isArray(parsed)) items = parsed.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  } catch {
    // not JSON: lines
  }
  items ??= output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return items.slice(0, max);
};

/** A swarm hop's hand-over, from its answer's first line `handoff:<capability> <note>`; null for an answer. */
export const handoffOf = (output: string): { capability: string; note: string } | null => {
  const [first = '', ...rest] = output.trimStart().split('\n');
  const m = /^handoff:\s*([A-Za-z0-9][\w.-]{0,99})\s*(.*)$/i.exec(first.trim());
  if (!m) return null;
  return { capability: m[1]!, note: [m[2], ...rest].join('\n').trim() };
};

/** The input of a swarm's next hop: the step's own input, then the notes of the hops before it. */
export const hopInput = (
  input: string,
  handoffs: ReadonlyArray<{ capability: string; note: string }>,
  maxHops: number,
): string =>
  `${input}\n\nHanded over to you (hop ${handoffs.length + 1} of at most ${maxHops}). Notes so far:\n${handoffs
    .map((h, i) => `${i + 1}. to ${h.capability}: ${h.note || '(no note)'}`)
    .join('\n')}`;
