/**
 * The lineage extension: the ids a call to a remote A2A agent carries in its message metadata, so that the
 * task the remote side makes can be linked back to ours (projections/lineage.ts reads both ends).
 */
import { z } from 'zod';

/**
 * The metadata key (an A2A extension URI, as A2A asks extensions to key their metadata) under which an
 * outgoing message carries the caller's lineage ids: `{correlationId, causationId?, taskId?, hub?}`.
 */
export const LINEAGE_EXTENSION = 'https://agentcore.dev/a2a/lineage/v1';

const id = z.string().min(1).max(200);

/** Where a task came from on the calling side: its correlation, the event that made the call, its task. */
export const LineageUpstream = z.strictObject({
  /** The caller's correlation id (a task's, or a workflow run's `wfrun:<run id>`). */
  correlationId: id,
  /** The caller's event that made the call (its call id). */
  causationId: id.optional(),
  /** The caller's task the call is made for. */
  taskId: id.optional(),
  /** The calling hub, when it knows its public URL. */
  hub: z.string().min(1).max(500).optional(),
});
export type LineageUpstream = z.infer<typeof LineageUpstream>;

/**
 * The upstream ids a message's metadata carries: `undefined` when there are none, `{invalid}` when the key
 * is there but its value is not lineage ids (the edge refuses the message with that text).
 */
export const upstreamOf = (
  metadata: Record<string, unknown> | undefined,
): LineageUpstream | { invalid: string } | undefined => {
  if (!metadata || !(LINEAGE_EXTENSION in metadata)) return undefined;
  const parsed = LineageUpstream.safeParse(metadata[LINEAGE_EXTENSION]);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${[LINEAGE_EXTENSION, ...i.path].join('.')}: ${i.message}`);
  return { invalid: `message.metadata.${issues.join('; ')}` };
};
