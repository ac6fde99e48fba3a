import type { AppDeps } from "../deps.js";
import { type VerifyRequest, type VerifyResult, type VerifyScope, verifyKey } from "../verify/verify.js";

/** A verify as the API answers it: the result, its code and duration counted in the metrics. */
export async function verifyAndCount(
  deps: AppDeps,
  caller: VerifyScope,
  request: VerifyRequest,
): Promise<VerifyResult> {
  const started = performance.now();
  const result = await verifyKey(deps, caller, request);
  deps.metrics.recordVerification(result.code, (performance.now() - started) / 1000);
  return result;
}
