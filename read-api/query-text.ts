/**
 * A zod string for HTTP query parameters that the database will see: no NUL byte (PostgreSQL text cannot
 * hold one) and no lone UTF-16 surrogate (not encodable as UTF-8), each refused with a readable message
 * that the caller's describeZodIssues prefixes with the parameter's name.
 */
import { z } from 'zod';

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const queryText = (maxLength: number) =>
  z
    .string()
    .max(maxLength, `at most ${maxLength} characters`)
    .refine((v) => !v.includes('\u0000'), 'must not contain a NUL character')
    .refine((v) => !LONE_SURROGATE.test(v), 'must be well-formed Unicode (a lone surrogate was found)');

/**
 * A query's parameters, and no others: a misspelt or unsupported filter is a 400 naming it, not a filter
 * silently ignored (an integrator would take the unfiltered answer for the filtered one).
 */
export const queryParams = <Shape extends z.ZodRawShape>(shape: Shape) => {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (known: ${known})`
        : undefined,
  });
};

/** An instant as a query parameter: ISO 8601 with a zone (`2026-12-07T10:00:00Z`). */
export const queryInstant = z.iso.datetime({
  offset: true,
  message: 'must be an ISO 8601 instant with a zone, such as 2026-12-07T10:00:00Z',
});

/** A page size: 1..max, `fallback` when absent. */
export const queryLimit = (max: number, fallback: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** The query schema, refusing a `from` (when given) that is not before its `to` (when given). */
export const rangeInOrder = <T extends z.ZodType<{ from?: string | undefined; to?: string | undefined }>>(
  schema: T,
) =>
  schema.refine((v) => !v.from || !v.to || Date.parse(v.from) < Date.parse(v.to), {
    message: 'from must be before to',
    path: ['from'],
  });
