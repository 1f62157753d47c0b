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
