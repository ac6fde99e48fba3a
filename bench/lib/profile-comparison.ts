import { readdirSync } from "node:fs";
import { join } from "node:path";
import { frameName, kindOf, readProfile, type TimeSpent, timeSpent, type Window } from "./profile.js";
import { table } from "./report.js";

/*
 * `npm run bench -- --profile`: both servers run under node --cpu-prof, and for each scenario their
 * profiles are read over the measured rounds only (not start-up, seeding or warm-up), divided by the
 * requests those rounds served. The result says, in microseconds per request, where KeyMint spends
 * more than the bare route: the profile that says why a ratio goal is out of reach.
 */

/** One server's part in a scenario's measured rounds. */
export interface ProfiledRounds {
  pid: number;
  windows: Window[];
  requests: number;
}

export interface ProfiledScenario {
  name: string;
  stored: string;
  bare: ProfiledRounds;
  keymint: ProfiledRounds;
}

interface Row {
  name: string;
  bareUs: number;
  keymintUs: number;
}

export interface ProfileComparison {
  scenario: string;
  stored: string;
  files: { bare: string; keymint: string };
  /** Busy time per request, each side. */
  busyUs: { bare: number; keymint: number };
  byKind: Row[];
  /** The functions KeyMint spends most in, with the bare route's time in each alongside. */
  topFunctions: Row[];
}

/** The main thread's profile of a process (a tsx-run script also leaves its loader thread's). */
export function profileOf(directory: string, pid: number): string {
  const file = readdirSync(directory).find((name) => name.includes(`.${pid}.0.`));
  if (file === undefined) throw new Error(`no CPU profile of pid ${pid} in ${directory}`);
  return join(directory, file);
}

export function compareProfiles(directory: string, scenario: ProfiledScenario, top = 20): ProfileComparison {
  const files = {
    bare: profileOf(directory, scenario.bare.pid),
    keymint: profileOf(directory, scenario.keymint.pid),
  };
  const spent = (side: "bare" | "keymint", nameOf: typeof frameName): TimeSpent =>
    timeSpent(readProfile(files[side]), nameOf, { windows: scenario[side].windows });
  const perRequest = (side: "bare" | "keymint", us: number) => us / scenario[side].requests;
  const rows = (nameOf: typeof frameName): { busy: { bare: number; keymint: number }; rows: Row[] } => {
    const bare = spent("bare", nameOf);
    const keymint = spent("keymint", nameOf);
    const names = new Set([...bare.byName.keys(), ...keymint.byName.keys()]);
    return {
      busy: { bare: perRequest("bare", bare.busyUs), keymint: perRequest("keymint", keymint.busyUs) },
      rows: [...names]
        .map((name) => ({
          name,
          bareUs: perRequest("bare", bare.byName.get(name) ?? 0),
          keymintUs: perRequest("keymint", keymint.byName.get(name) ?? 0),
        }))
        .sort((a, b) => b.keymintUs - a.keymintUs),
    };
  };
  const kinds = rows(kindOf);
  return {
    scenario: scenario.name,
    stored: scenario.stored,
    files,
    busyUs: kinds.busy,
    byKind: kinds.rows,
    topFunctions: rows(frameName).rows.slice(0, top),
  };
}

export function renderProfileComparison(comparison: ProfileComparison): string {
  const us = (value: number) => value.toFixed(2);
  const difference = (row: Row) =>
    `${row.keymintUs >= row.bareUs ? "+" : ""}${us(row.keymintUs - row.bareUs)}`;
  const asRow = (row: Row) => [row.name, us(row.bareUs), us(row.keymintUs), difference(row)];
  const total: Row = {
    name: "busy time",
    bareUs: comparison.busyUs.bare,
    keymintUs: comparison.busyUs.keymint,
  };
  return [
    `Where the time goes, µs of sampled busy time per request over the measured rounds: ${comparison.scenario}, ` +
      `${comparison.stored} stored`,
    `(${comparison.files.bare} and ${comparison.files.keymint})`,
    "",
    table(
      ["kind of code", "bare Hono", "KeyMint", "difference"],
      [...comparison.byKind.map(asRow), asRow(total)],
    ),
    "",
    table(
      ["function (KeyMint's top by self time)", "bare Hono", "KeyMint", "difference"],
      comparison.topFunctions.map(asRow),
    ),
  ].join("\n");
}
