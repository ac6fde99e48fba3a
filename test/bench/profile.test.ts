import { describe, expect, it } from "vitest";
import { type CpuProfile, kindOf, timeSpent } from "../../bench/lib/profile.js";

// (root) → handle (dist) → writev (native); (root) → (idle). Samples every 10 µs from t = 1000.
const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0 },
  children,
});
const profile: CpuProfile = {
  nodes: [
    frame(1, "(root)", "", [2, 4]),
    frame(2, "handle", "file:///repo/dist/server/handle.js", [3]),
    frame(3, "writev", ""),
    frame(4, "(idle)", ""),
  ],
  //         t=1010 1020 1030 1040 1050 1060
  samples: [2, 3, 3, 4, 2, 3],
  timeDeltas: [10, 10, 10, 10, 10, 10],
  startTime: 1000,
};

describe("reading a CPU profile (bench --profile)", () => {
  it("counts self time where each sample landed, leaving idle out", () => {
    const { busyUs, byName } = timeSpent(profile, (node) => node.callFrame.functionName);
    expect(busyUs).toBe(50);
    expect(Object.fromEntries(byName)).toEqual({ handle: 20, writev: 30 });
  });

  it("counts only the samples inside the windows given (the measured rounds)", () => {
    const windows = [
      { fromUs: 1015, toUs: 1030 },
      { fromUs: 1055, toUs: 2000 },
    ];
    const { busyUs, byName } = timeSpent(profile, (node) => node.callFrame.functionName, { windows });
    expect(busyUs).toBe(30);
    expect(Object.fromEntries(byName)).toEqual({ writev: 30 });
  });

  it("with inclusive, counts a sample for every function on its stack", () => {
    const { byName } = timeSpent(profile, (node) => node.callFrame.functionName, { inclusive: true });
    expect(Object.fromEntries(byName)).toEqual({ handle: 50, writev: 30 });
  });

  it("groups frames by the kind of code they are", () => {
    const kinds = timeSpent(profile, kindOf);
    expect(Object.fromEntries(kinds.byName)).toEqual({
      "KeyMint's code (dist/)": 20,
      "writev: the response's system call": 30,
    });
  });
});
