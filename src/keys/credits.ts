import { startOfUtcDay, startOfUtcMonth } from "../lib/time.js";

export type RefillInterval = "daily" | "monthly";

export interface CreditState {
  remaining: number | null;
  refillAmount: number | null;
  refillInterval: RefillInterval | null;
  refilledAt: number | null;
}

/** Start of the refill period that contains `now`: a refill is due when the last one is older. */
export function refillPeriodStart(interval: RefillInterval, now: number): number {
  return interval === "daily" ? startOfUtcDay(now) : startOfUtcMonth(now);
}

/**
 * `remaining` as of `now`, with a due refill applied. Refills are lazy: they are written only when
 * credits are next spent, so reads compute them the same way the spend statement does.
 */
export function effectiveRemaining(state: CreditState, now: number): number | null {
  if (state.remaining === null) return null;
  if (state.refillInterval === null || state.refillAmount === null) return state.remaining;
  const refilledAt = state.refilledAt ?? 0;
  return refilledAt < refillPeriodStart(state.refillInterval, now) ? state.refillAmount : state.remaining;
}
