import type { Caller } from "../auth/caller.js";
import type { AppDeps } from "../deps.js";
import { ApiError } from "../lib/errors.js";
import { DAY_MS, HOUR_MS, startOfUtcDay, startOfUtcHour, toIso } from "../lib/time.js";
import { findVisibleKey } from "./keys.js";

export type Granularity = "hour" | "day";

interface SeriesRule {
  seriesName: string;
  bucketMs: number;
  defaultSpanMs: number;
  maxSpanMs: number;
}

const RULES: Record<Granularity, SeriesRule> = {
  hour: { seriesName: "an hourly series", bucketMs: HOUR_MS, defaultSpanMs: DAY_MS, maxSpanMs: 31 * DAY_MS },
  day: {
    seriesName: "a daily series",
    bucketMs: DAY_MS,
    defaultSpanMs: 30 * DAY_MS,
    maxSpanMs: 366 * DAY_MS,
  },
};

export interface UsageBucket {
  time: string;
  valid: number;
  invalid: number;
  byCode: Record<string, number>;
}

/**
 * Verification counts of one key in UTC buckets over [from, to), widened to whole buckets at both ends
 * (counts are kept by the hour, and a bucket that held part of its hour or day would read as all of it);
 * only buckets with verifications.
 */
export async function keyUsage(
  deps: AppDeps,
  caller: Caller,
  id: string,
  query: { granularity: Granularity; from?: string; to?: string },
): Promise<UsageBucket[]> {
  await findVisibleKey(deps, caller, id);
  const rule = RULES[query.granularity];
  const to = query.to !== undefined ? Date.parse(query.to) : deps.clock.now();
  const from = query.from !== undefined ? Date.parse(query.from) : to - rule.defaultSpanMs;
  if (from >= to) throw rangeError("from", "must be before to");
  if (to - from > rule.maxSpanMs) {
    // Named after the field the caller sent: `from` alone reaches back too far from now.
    const path = query.to === undefined ? "from" : "to";
    throw rangeError(path, `${rule.seriesName} spans at most ${rule.maxSpanMs / DAY_MS} days`);
  }
  await deps.usage.flushCounts();
  const floor = query.granularity === "hour" ? startOfUtcHour : startOfUtcDay;
  const rows = await deps.repos.keys.usage(id, floor(from), floor(to - 1) + rule.bucketMs);
  const buckets = new Map<number, UsageBucket>();
  for (const row of rows) {
    const start = floor(row.hour);
    let bucket = buckets.get(start);
    if (bucket === undefined) {
      bucket = { time: toIso(start), valid: 0, invalid: 0, byCode: {} };
      buckets.set(start, bucket);
    }
    if (row.code === "VALID") bucket.valid += row.count;
    else bucket.invalid += row.count;
    bucket.byCode[row.code] = (bucket.byCode[row.code] ?? 0) + row.count;
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([, bucket]) => bucket);
}

function rangeError(path: string, message: string): ApiError {
  return new ApiError("VALIDATION_FAILED", "The usage range is not valid.", [{ path, message }]);
}
