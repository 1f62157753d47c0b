import type { z } from 'zod';

/** What went wrong with a command, in the terms the edge maps to protocol errors. */
export type CommandErrorKind = 'validation' | 'not_found' | 'conflict' | 'rule_violated';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly kind: CommandErrorKind,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new CommandError('not_found', `${what} not found`);
export const ruleViolated = (message: string, details?: unknown) =>
  new CommandError('rule_violated', message, details);

/** One readable line per zod issue: `message.parts[0].text: Invalid input: expected string, received number`. */
export const describeZodIssues = (issues: z.core.$ZodIssue[]): string =>
  issues.map((i) => `${i.path.length ? `${i.path.map(String).join('.')}: ` : ''}${i.message}`).join('; ');

export const parseCommand = <S extends z.ZodType>(schema: S, input: unknown): z.output<S> => {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new CommandError('validation', describeZodIssues(parsed.error.issues), parsed.error.issues);
  }
  return parsed.data;
};
