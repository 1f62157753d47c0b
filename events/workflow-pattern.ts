/**
 * The regular expressions of `matches` conditions: RE2 syntax, matched in time linear in the text
 * (re2js), because a tenant's pattern runs on the hub's saga for every tenant: a backtracking engine
 * (RegExp) lets `^(a+)+$` on a crafted output stall it for seconds per run.
 */
import { RE2JS } from 're2js';

/** A `matches` condition's longest pattern (part of the definition format, so not configurable). */
export const MAX_PATTERN_LENGTH = 1000;

/** Compiled patterns, most recently used last (a decision is decided again on every redelivery). */
const compiled = new Map<string, RE2JS>();
const CACHE_SIZE = 256;

const compile = (source: string): RE2JS => {
  const known = compiled.get(source);
  if (known) {
    compiled.delete(source);
    compiled.set(source, known);
    return known;
  }
  const pattern = RE2JS.compile(source);
  compiled.set(source, pattern);
  if (compiled.size > CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  return pattern;
};

/** Why `source` cannot be a condition's pattern (too long, invalid, or beyond RE2), or null when it can. */
export const patternProblem = (source: string): string | null => {
  if (source.length > MAX_PATTERN_LENGTH)
    return `the pattern is ${source.length} characters long, over the limit of ${MAX_PATTERN_LENGTH}`;
  try {
    compile(source);
    return null;
  } catch (error) {
    // "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
    const why = (error as Error).message.replace(/^error parsing regexp: /, '');
    return `not a regular expression RE2 runs in linear time (no backreferences or lookarounds): ${why}`;
  }
};

/**
 * Whether the pattern matches anywhere in `text`. A pattern that does not compile (a definition stored
 * before patterns were checked this way) matches nothing.
 */
export const patternMatches = (source: string, text: string): boolean => {
  if (source.length > MAX_PATTERN_LENGTH) return false;
  let pattern: RE2JS;
  try {
    pattern = compile(source);
  } catch {
    return false;
  }
  return pattern.test(text);
};
