/**
 * Why a command was refused (validation, not found, conflict, a rule), in terms the edge maps to protocol
 * errors.
 */
import type { z } from 'zod';
import { describeZodIssues } from '../events/issues.ts';

/** What went wrong with a command, in the terms the edge maps to protocol errors. */
export type CommandErrorKind = 'validation' | 'not_found' | 'conflict' | 'rule_violated';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  /** What was refused, set by handle() on the way out: the audit trail records it (commands/audit.ts). */
  refused?: { command: string; stream: string };
  constructor(
    readonly kind: CommandErrorKind,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The aggregate refused the command by its rules (a task already terminal, a probe slot taken...). */
export const isRuleViolation = (error: unknown): error is CommandError =>
  error instanceof CommandError && error.kind === 'rule_violated';
/**
 * For a command whose refusal means there is nothing left to do (a task that went terminal meanwhile):
 * rethrows anything else, so that after it `error` is the refusal.
 */
export function ignoreRuleViolation(error: unknown): asserts error is CommandError {
  if (!isRuleViolation(error)) throw error;
}

export const notFound = (what: string) => new CommandError('not_found', `${what} not found`);
export const ruleViolated = (message: string, details?: unknown) =>
  new CommandError('rule_violated', message, details);

export const parseCommand = <S extends z.ZodType>(schema: S, input: unknown): z.output<S> => {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new CommandError('validation', describeZodIssues(parsed.error.issues), parsed.error.issues);
  }
  return parsed.data;
};
