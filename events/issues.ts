/** How a zod validation failure reads: one line per issue, naming the field. Every layer reports with it. */
import type { z } from 'zod';

/** One readable line per zod issue: `message.parts[0].text: Invalid input: expected string, received number`. */
export const describeZodIssues = (issues: z.core.$ZodIssue[]): string =>
  issues.map((i) => `${i.path.length ? `${i.path.map(String).join('.')}: ` : ''}${i.message}`).join('; ');
