/** The KeyMint counters the bench reads from /metrics, to check what each run actually exercised. */
export interface ServerCounters {
  valid: number;
  verifications: number;
  cacheHits: number;
  cacheMisses: number;
  /** Loads that went to the database and compared a hash (concurrent misses of one key share one). */
  cacheLoads: number;
  cacheEntries: number;
}

function sample(text: string, name: string, labels = ""): number {
  let total = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(" ") || rest.startsWith("{"))) continue;
    if (labels !== "" && !rest.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) {
      total += value;
      found = true;
    }
  }
  if (found) return total;
  // A declared metric without samples yet is zero; an undeclared one is unknown.
  return text.includes(`# TYPE ${name} `) ? 0 : Number.NaN;
}

export async function readCounters(url: string): Promise<ServerCounters> {
  const response = await fetch(`${url}/metrics`);
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  return {
    valid: sample(text, "keymint_verifications_total", 'code="VALID"'),
    verifications: sample(text, "keymint_verifications_total"),
    cacheHits: sample(text, "keymint_verify_cache_hits_total"),
    cacheMisses: sample(text, "keymint_verify_cache_misses_total"),
    cacheLoads: sample(text, "keymint_verify_cache_loads_total"),
    cacheEntries: sample(text, "keymint_verify_cache_entries"),
  };
}

export function delta(after: ServerCounters, before: ServerCounters): ServerCounters {
  return {
    valid: after.valid - before.valid,
    verifications: after.verifications - before.verifications,
    cacheHits: after.cacheHits - before.cacheHits,
    cacheMisses: after.cacheMisses - before.cacheMisses,
    cacheLoads: after.cacheLoads - before.cacheLoads,
    cacheEntries: after.cacheEntries,
  };
}
