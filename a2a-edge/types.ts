/** Types the edge's parts share: what the JSON-RPC and REST bindings need besides the service. */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { CardDialect } from './card.ts';

/** What the bindings need besides the service. */
export interface BindingOptions {
  bodyLimitBytes: number;
  maxMessageBytes: number;
  log: Logger;
  extendedCard: (c: Context, dialect: CardDialect) => unknown;
}
