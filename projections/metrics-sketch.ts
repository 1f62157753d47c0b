/**
 * The latency histograms of the metrics read model: fixed log-scale buckets (DDSketch's logarithmic
 * index mapping, 1% relative accuracy), stored as `(bucket index, count)` rows and merged by adding counts.
 *
 * Why buckets and not stored percentiles: a p95 of two minutes is not the average (nor any function) of
 * each minute's p95, so percentiles kept per bucket could never be rolled up to hours, summed over agents or
 * merged across projection processes. Counts per fixed bucket can: `SUM(count) GROUP BY bucket_index` over
 * any set of rows is exactly the histogram of the union, and any quantile read from it is within 1% of the
 * true value (the DDSketch guarantee: https://arxiv.org/abs/1908.10693). The mapping is
 * `@datadog/sketches-js`'s LogarithmicMapping, so the index ↔ value function is a known, published one
 * (γ = (1 + α) / (1 − α), index = ⌈log_γ(v)⌉), not ours to get subtly wrong; the sketch object itself is not
 * stored: SQL rows are the sketch's dense store.
 */
import { DDSketch } from '@datadog/sketches-js';

/** Relative accuracy of a quantile read from the buckets: 1%. */
export const RELATIVE_ACCURACY = 0.01;

// The library's default sketch maps with a LogarithmicMapping of this accuracy: that mapping is the one used.
const mapping = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }).mapping;

/** Latencies under 1 ms are counted as 1 ms (bucket 0): below that, the log's clocks are not precise. */
const MIN_MS = 1;

/** The bucket a latency (milliseconds) falls in. */
export const bucketOf = (ms: number): number => mapping.key(Math.max(MIN_MS, ms));

/** The value a bucket stands for (within RELATIVE_ACCURACY of every latency counted in it). */
export const bucketValue = (bucket: number): number => mapping.value(bucket);

/** A merged histogram: bucket index → count. */
export type Histogram = ReadonlyArray<{ bucket: number; count: number }>;

/**
 * The q-quantile (0..1) of a histogram, as DDSketch reads it: the bucket holding the value of rank
 * q·(n − 1), in ascending order. Null for an empty histogram.
 */
export const quantile = (histogram: Histogram, q: number): number | null => {
  const sorted = [...histogram].filter((b) => b.count > 0).sort((a, b) => a.bucket - b.bucket);
  const n = sorted.reduce((sum, b) => sum + b.count, 0);
  if (n === 0) return null;
  const rank = q * (n - 1);
  let seen = 0;
  for (const b of sorted) {
    seen += b.count;
    if (seen > rank) return round(bucketValue(b.bucket));
  }
  return round(bucketValue(sorted[sorted.length - 1]!.bucket));
};

const round = (ms: number) => Math.round(ms * 100) / 100;

/** p50, p95 and p99 of a histogram (null each when it is empty). */
export const percentiles = (histogram: Histogram) => ({
  p50: quantile(histogram, 0.5),
  p95: quantile(histogram, 0.95),
  p99: quantile(histogram, 0.99),
});
