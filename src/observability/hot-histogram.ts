import type { Metric, Registry } from "prom-client";

type Labels<L extends string> = Record<L, string>;

/** One line of the exposition, as prom-client's registry formats it. */
interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One labelled series: its observer for the hot path, and what the registry reads at a scrape. */
export interface HistogramSeries<L extends string> {
  readonly labels: Readonly<Labels<L>>;
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  observe(value: number): void;
}

/**
 * A Prometheus histogram for code that runs on every request. prom-client's own `observe()` checks
 * and hashes the labels and allocates on every call, even through a bound child; at three observations
 * per verify that was a sixth of a cached verify's cost under load (README, Performance). Here a series
 * is looked up once by the caller and observing is a bucket search and three additions.
 *
 * It is registered with a prom-client registry like any of prom-client's metrics and reads out
 * exactly as prom-client's Histogram would (test/unit/hot-histogram.test.ts compares the two), so
 * /metrics does not change.
 */
export class HotHistogram<L extends string = never> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series: HistogramSeries<L>[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    // prom-client's registry reads any object with its metrics' shape; its typings list only its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  /** A new series with these labels, exported from now on (at zero until it is observed). */
  addSeries(labels: Labels<L>): HistogramSeries<L> {
    const bounds = this.upperBounds;
    const series: HistogramSeries<L> = {
      labels: Object.freeze({ ...labels }),
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      observe(value) {
        let bucket = 0;
        while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
        (this.counts[bucket] as number)++;
        this.sum += value;
        this.count++;
      },
    };
    this.series.push(series);
    return series;
  }

  /** Every series, for metrics derived from their counts. */
  allSeries(): readonly HistogramSeries<L>[] {
    return this.series;
  }

  async get() {
    const values: ExportedValue[] = [];
    for (const { labels, counts, sum, count } of this.series) {
      let cumulative = 0;
      this.upperBounds.forEach((le, bucket) => {
        cumulative += counts[bucket] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      });
      values.push(
        { metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...labels }, value: count },
        { metricName: `${this.name}_sum`, labels: { ...labels }, value: sum },
        { metricName: `${this.name}_count`, labels: { ...labels }, value: count },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const series of this.series) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
