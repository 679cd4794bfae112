import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { followQueue } from "./followQueue";
import type { ChannelSignal, LiveMode } from "./liveMode";

/** A channel the test drives: what the feed was given, and whether it was stopped. */
function fakeFeed() {
  const feed = {
    change: () => {},
    signal: (() => {}) as (signal: ChannelSignal) => void,
    stopped: false,
  };
  const start = (onChange: () => void, onSignal: (signal: ChannelSignal) => void) => {
    feed.change = onChange;
    feed.signal = onSignal;
    return () => {
      feed.stopped = true;
    };
  };
  return { feed, start };
}

function follow() {
  const { feed, start } = fakeFeed();
  const read = vi.fn();
  const modes: LiveMode[] = [];
  const stop = followQueue(start, {
    timing: { pollMs: 2_000, liveMs: 30_000 },
    deadlineMs: 4_000,
    changeGapMs: 500,
    read,
    onMode: (mode) => modes.push(mode),
  });
  return { feed, read, modes, stop };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("following the queue", () => {
  it("polls every pollMs when the channel never comes up, from the deadline on", () => {
    const { read, modes } = follow();
    vi.advanceTimersByTime(3_999);
    expect(read).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(modes).toEqual(["polling"]);
    vi.advanceTimersByTime(6_000);
    expect(read).toHaveBeenCalledTimes(3);
  });

  it("polls at once when the channel fails, and keeps the pace while it fails again", () => {
    const { feed, read, modes } = follow();
    feed.signal("CHANNEL_ERROR");
    vi.advanceTimersByTime(1_500);
    feed.signal("CHANNEL_ERROR");
    vi.advanceTimersByTime(500);
    expect(read).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(4_000);
    expect(read).toHaveBeenCalledTimes(3);
    expect(modes).toEqual(["polling"]);
  });

  it("reads for a change at once, and seldom on a timer while live", () => {
    const { feed, read, modes } = follow();
    feed.signal("SUBSCRIBED");
    expect(read).toHaveBeenCalledTimes(1);
    feed.change();
    expect(read).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(29_999);
    expect(read).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(1);
    expect(read).toHaveBeenCalledTimes(3);
    expect(modes).toEqual(["live"]);
  });

  it("reads a burst of changes once at once and once at the end of the gap", () => {
    const { feed, read } = follow();
    feed.signal("SUBSCRIBED");
    read.mockClear();
    for (let n = 0; n < 20; n++) {
      feed.change();
      vi.advanceTimersByTime(10);
    }
    expect(read).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(300);
    expect(read).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(2_000);
    feed.change();
    expect(read).toHaveBeenCalledTimes(3);
  });

  it("polls again when the channel drops, and slows down when it is back", () => {
    const { feed, read, modes } = follow();
    feed.signal("SUBSCRIBED");
    feed.signal("CLOSED");
    read.mockClear();
    vi.advanceTimersByTime(4_000);
    expect(read).toHaveBeenCalledTimes(2);
    feed.signal("SUBSCRIBED");
    expect(read).toHaveBeenCalledTimes(3);
    vi.advanceTimersByTime(20_000);
    expect(read).toHaveBeenCalledTimes(3);
    expect(modes).toEqual(["live", "polling", "live"]);
  });

  it("stops everything when stopped", () => {
    const { feed, read, modes, stop } = follow();
    feed.signal("TIMED_OUT");
    feed.change();
    feed.change();
    read.mockClear();
    stop();
    feed.change();
    feed.signal("SUBSCRIBED");
    vi.advanceTimersByTime(60_000);
    expect(read).not.toHaveBeenCalled();
    expect(modes).toEqual(["polling"]);
    expect(feed.stopped).toBe(true);
  });
});
