import { describe, expect, it } from "vitest";
import { type ChannelSignal, type LiveMode, nextMode, readEvery, readOnEntering } from "./liveMode";

const timing = { pollMs: 2_000, liveMs: 30_000 };

/** The modes a page goes through from `connecting`, one per signal. */
function run(signals: ChannelSignal[]): LiveMode[] {
  const modes: LiveMode[] = [];
  let mode: LiveMode = "connecting";
  for (const signal of signals) {
    mode = nextMode(mode, signal);
    modes.push(mode);
  }
  return modes;
}

describe("the live mode", () => {
  it("goes live when the channel comes up before the deadline, and stays live past it", () => {
    expect(run(["SUBSCRIBED", "DEADLINE"])).toEqual(["live", "live"]);
  });

  it("falls back to polling when the channel fails, whichever way it says so", () => {
    for (const failure of ["CHANNEL_ERROR", "TIMED_OUT", "CLOSED"] as const) {
      expect(run([failure])).toEqual(["polling"]);
    }
  });

  it("falls back to polling when the channel says nothing before the deadline", () => {
    expect(run(["DEADLINE"])).toEqual(["polling"]);
  });

  it("goes live when the channel comes up late, and polls again when it drops", () => {
    expect(run(["CHANNEL_ERROR", "CHANNEL_ERROR", "SUBSCRIBED", "CHANNEL_ERROR", "SUBSCRIBED"]))
      .toEqual(["polling", "polling", "live", "polling", "live"]);
  });

  it("keeps polling after a late deadline once the channel has failed", () => {
    expect(run(["TIMED_OUT", "DEADLINE"])).toEqual(["polling", "polling"]);
  });
});

describe("the reads", () => {
  it("wait for the channel, then poll often without it and seldom with it", () => {
    expect(readEvery("connecting", timing)).toBeNull();
    expect(readEvery("polling", timing)).toBe(2_000);
    expect(readEvery("live", timing)).toBe(30_000);
  });

  it("read once more whenever the page goes live, for what changed before", () => {
    expect(readOnEntering("connecting", "live")).toBe(true);
    expect(readOnEntering("polling", "live")).toBe(true);
    expect(readOnEntering("live", "live")).toBe(false);
    expect(readOnEntering("live", "polling")).toBe(false);
    expect(readOnEntering("connecting", "polling")).toBe(false);
  });
});
