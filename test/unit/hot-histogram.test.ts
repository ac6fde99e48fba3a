import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HotHistogram } from "../../src/observability/hot-histogram.js";

const BOUNDS = [0.001, 0.01, 0.1, 1];
// Below, on and between the bounds, above all of them, and zero.
const VALUES = [0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 1, 3, 0];

function promClientHistogram(labelNames: string[]) {
  const registry = new Registry();
  const histogram = new Histogram({
    name: "h_seconds",
    help: "A histogram.",
    labelNames,
    buckets: BOUNDS,
    registers: [registry],
  });
  return { registry, histogram };
}

describe("HotHistogram", () => {
  it("reads out exactly as prom-client's Histogram does, unlabelled", async () => {
    const theirs = promClientHistogram([]);
    const registry = new Registry();
    const series = new HotHistogram("h_seconds", "A histogram.", BOUNDS, registry).addSeries({});
    for (const value of VALUES) {
      theirs.histogram.observe(value);
      series.observe(value);
    }
    const text = await registry.metrics();
    expect(text).toBe(await theirs.registry.metrics());
    expect(text).toContain('h_seconds_bucket{le="0.001"} 3\n');
    expect(text).toContain('h_seconds_bucket{le="+Inf"} 10\n');
  });

  it("reads out exactly as prom-client's Histogram does, with labelled series", async () => {
    const theirs = promClientHistogram(["method", "status"]);
    const registry = new Registry();
    const ours = new HotHistogram<"method" | "status">("h_seconds", "A histogram.", BOUNDS, registry);
    // Added in the order first observed, as the app does: prom-client lists series in that order.
    const post = ours.addSeries({ method: "POST", status: "500" });
    const get = ours.addSeries({ method: "GET", status: "200" });
    VALUES.forEach((value, index) => {
      const [labels, series] = index % 3 === 0 ? [post.labels, post] : [get.labels, get];
      theirs.histogram.observe({ ...labels }, value);
      series.observe(value);
    });
    const text = await registry.metrics();
    expect(text).toBe(await theirs.registry.metrics());
    expect(text).toContain('h_seconds_count{method="POST",status="500"} 4\n');
    expect(get.count + post.count).toBe(VALUES.length);
  });

  it("exports a series at zero from the moment it is added, and reset() zeroes every series", async () => {
    const registry = new Registry();
    const histogram = new HotHistogram<"route">("h_seconds", "A histogram.", BOUNDS, registry);
    const series = histogram.addSeries({ route: "/a" });
    expect(await registry.metrics()).toContain('h_seconds_count{route="/a"} 0\n');
    series.observe(0.2);
    expect(await registry.metrics()).toContain('h_seconds_sum{route="/a"} 0.2\n');
    histogram.reset();
    expect(await registry.metrics()).toContain('h_seconds_bucket{le="+Inf",route="/a"} 0\n');
    expect(histogram.allSeries()).toEqual([series]);
  });

  it("keeps its own copy of the labels it was given", () => {
    const labels = { route: "/a" };
    const series = new HotHistogram<"route">("h_seconds", "A histogram.", BOUNDS, new Registry()).addSeries(
      labels,
    );
    labels.route = "/b";
    expect(series.labels).toEqual({ route: "/a" });
  });
});
