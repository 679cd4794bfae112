// Whether a page hears of queue changes through Supabase Realtime ("live")
// or has to ask again on a timer ("polling"). Pure: `useLiveQueue` feeds it
// what the channel reports and runs the timer it asks for.
//
// A project may have no Realtime at all (the local stack), or lose it for a
// while (a network change, a server restart): the page then polls, and
// slows down again as soon as the channel is back.

/** `connecting`: the channel was asked for and has not answered yet. */
export type LiveMode = "connecting" | "live" | "polling";

/**
 * What the channel reports (supabase-js's `subscribe` statuses), or
 * `DEADLINE` when it has not come up within the time a page waits for it.
 */
export type ChannelSignal = "SUBSCRIBED" | "CHANNEL_ERROR" | "TIMED_OUT" | "CLOSED" | "DEADLINE";

export interface LiveTiming {
  /** How often to read again without a channel. */
  pollMs: number;
  /**
   * How often to read again with one: a safety net for what no event
   * announces (rows of other tables, an event lost in a reconnect).
   */
  liveMs: number;
}

export function nextMode(mode: LiveMode, signal: ChannelSignal): LiveMode {
  switch (signal) {
    case "SUBSCRIBED":
      return "live";
    case "DEADLINE":
      // Late news: a channel that came up or failed already decided.
      return mode === "connecting" ? "polling" : mode;
    case "CHANNEL_ERROR":
    case "TIMED_OUT":
    case "CLOSED":
      return "polling";
  }
}

/** The period of the page's reads in `mode`; none while the channel is being set up. */
export function readEvery(mode: LiveMode, timing: LiveTiming): number | null {
  switch (mode) {
    case "connecting":
      return null;
    case "live":
      return timing.liveMs;
    case "polling":
      return timing.pollMs;
  }
}

/**
 * Whether to read once more on this change of mode: a channel that comes up
 * announces only what changes from then on, so what changed before (while it
 * was down, or between the page's first read and the subscription) is read.
 */
export function readOnEntering(from: LiveMode, to: LiveMode): boolean {
  return to === "live" && from !== "live";
}
