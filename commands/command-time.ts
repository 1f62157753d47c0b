/** The time a command carries: ISO-8601 UTC, set by the caller (a decider never reads a clock). */
import { z } from 'zod';

export const at = z.string().datetime({ offset: false });
