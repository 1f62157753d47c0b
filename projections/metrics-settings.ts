/**
 * The metrics read model's resolutions and retention (AGENTCORE_METRICS_RETENTION_1M/_1H/_1D), read from the
 * environment with the rest of the configuration (app/config.ts).
 */
import { z } from 'zod';

/** The bucket widths kept: every event adds to its minute, hour and day (UTC) rows at once. */
export const RESOLUTIONS = ['1m', '1h', '1d'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export const RESOLUTION_MS: Record<Resolution, number> = {
  '1m': 60_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
};

/** The start of the bucket of `resolution` holding instant `ms` (UTC: days start at 00:00Z). */
export const bucketStart = (ms: number, resolution: Resolution): number =>
  Math.floor(ms / RESOLUTION_MS[resolution]) * RESOLUTION_MS[resolution];

/** How long rows of each resolution are kept, in whole minutes; 0 keeps them for ever. */
export type MetricsRetention = Record<Resolution, number>;

const UNIT_MINUTES = { m: 1, h: 60, d: 1440 } as const;

/** `0`, or a whole number of minutes, hours or days: `90m`, `48h`, `30d`. */
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const m = /^(\d{1,6})([mhd])?$/.exec(v.trim());
      if (!m || (m[2] === undefined && m[1] !== '0')) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be 0 (keep for ever) or a duration like 90m, 48h, 30d',
        });
        return z.NEVER;
      }
      return Number(m[1]) * UNIT_MINUTES[(m[2] ?? 'm') as keyof typeof UNIT_MINUTES];
    });

export const MetricsEnv = z.object({
  /** Minute rows: enough for "the last day" at full resolution, and for routing's recent window. */
  AGENTCORE_METRICS_RETENTION_1M: duration('2d'),
  AGENTCORE_METRICS_RETENTION_1H: duration('90d'),
  AGENTCORE_METRICS_RETENTION_1D: duration('0'),
});

export const toMetricsRetention = (e: z.output<typeof MetricsEnv>): MetricsRetention => ({
  '1m': e.AGENTCORE_METRICS_RETENTION_1M,
  '1h': e.AGENTCORE_METRICS_RETENTION_1H,
  '1d': e.AGENTCORE_METRICS_RETENTION_1D,
});

export const DEFAULT_METRICS_RETENTION: MetricsRetention = toMetricsRetention(MetricsEnv.parse({}));
