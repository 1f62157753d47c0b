/**
 * The metrics histograms (projections/metrics-sketch.ts): quantiles within the 1% relative accuracy of the
 * log-scale buckets, merging by adding counts, and the retention setting's parsing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricsEnv, toMetricsRetention } from '../../projections/metrics-settings.ts';
import { bucketOf, type Histogram, quantile, RELATIVE_ACCURACY } from '../../projections/metrics-sketch.ts';

const histogramOf = (values: number[]): Histogram => {
  const m = new Map<number, number>();
  for (const v of values) m.set(bucketOf(v), (m.get(bucketOf(v)) ?? 0) + 1);
  return [...m].map(([bucket, count]) => ({ bucket, count }));
};
const exact = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;

test('quantiles are within 1% of the exact ones, from 1 ms to an hour', () => {
  // A deterministic spread over six orders of magnitude.
  const values = Array.from({ length: 5000 }, (_, i) =>
    Math.exp((((i * 7919) % 5000) / 5000) * Math.log(3_600_000)),
  );
  const h = histogramOf(values);
  for (const q of [0, 0.5, 0.9, 0.95, 0.99, 1]) {
    const want = Math.max(1, exact(values, q));
    const got = quantile(h, q)!;
    assert.ok(Math.abs(got - want) / want <= RELATIVE_ACCURACY + 1e-9, `q=${q}: ${got} vs ${want}`);
  }
});

test('merging is adding counts per bucket: the union’s quantiles, not an average of the parts’', () => {
  const a = Array.from({ length: 100 }, () => 10);
  const b = Array.from({ length: 100 }, () => 1000);
  const merged = [...histogramOf(a), ...histogramOf(b)];
  assert.ok(Math.abs(quantile(merged, 0.99)! - 1000) <= 10);
  assert.ok(Math.abs(quantile(merged, 0.25)! - 10) <= 0.1);
  assert.is(quantile([], 0.5), null);
  // Under a millisecond counts as one.
  assert.is(bucketOf(0), bucketOf(1));
});

test('retention: 0 keeps for ever, durations in minutes, hours or days; anything else is refused', () => {
  assert.equal(toMetricsRetention(MetricsEnv.parse({})), { '1m': 2 * 1440, '1h': 90 * 1440, '1d': 0 });
  assert.equal(
    toMetricsRetention(
      MetricsEnv.parse({ AGENTCORE_METRICS_RETENTION_1M: '90m', AGENTCORE_METRICS_RETENTION_1H: '48h' }),
    ),
    { '1m': 90, '1h': 2880, '1d': 0 },
  );
  const bad = MetricsEnv.safeParse({ AGENTCORE_METRICS_RETENTION_1M: '2 weeks' });
  assert.not.ok(bad.success);
  assert.match(bad.error!.issues[0]!.message, /0 \(keep for ever\) or a duration like 90m, 48h, 30d/);
  assert.not.ok(MetricsEnv.safeParse({ AGENTCORE_METRICS_RETENTION_1D: '30' }).success);
});

test.run();
