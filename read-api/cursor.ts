/** Opaque keyset cursors of the read API's pages: a position (time, id) the next page starts after. */
import { z } from 'zod';

export interface Keyset {
  at: string;
  id: string;
}

const Decoded = z.object({ at: z.iso.datetime({ offset: true }), id: z.string().min(1).max(200) });

/** The cursor the next page is asked with, after `last`. */
export const encodeCursor = (last: Keyset): string =>
  Buffer.from(JSON.stringify([last.at, last.id])).toString('base64url');

/**
 * A `cursor` query parameter: decoded into the keyset, or a readable failure (a cursor this API did not give
 * is refused, never read as "from the start").
 */
export const cursorParam = z
  .string()
  .max(400, 'is not a cursor this API gave (too long)')
  .transform((value, ctx): Keyset => {
    try {
      const [at, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[];
      return Decoded.parse({ at, id });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use nextCursor as returned)' });
      return z.NEVER;
    }
  });
