// The loop behind `useLiveQueue`, apart from React and supabase-js so that
// its timers can be tested: listen to the queue's changes, read again on
// each, and poll at the pace the live mode asks for.
import {
  type ChannelSignal,
  type LiveMode,
  type LiveTiming,
  nextMode,
  readEvery,
  readOnEntering,
} from "./liveMode";

/**
 * Starts listening to the queue: `onChange` on every change of a row,
 * `onSignal` on every status of the channel. Returns how to stop.
 */
export type QueueFeed = (
  onChange: () => void,
  onSignal: (signal: ChannelSignal) => void,
) => () => void;

export interface FollowOptions {
  timing: LiveTiming;
  /** How long the channel may take to come up before the page polls. */
  deadlineMs: number;
  /** Reads again what the page shows. */
  read: () => void;
  /** Told of every change of mode. */
  onMode: (mode: LiveMode) => void;
}

/** Follows the queue through `feed` until the returned function is called. */
export function followQueue(feed: QueueFeed, { timing, deadlineMs, read, onMode }: FollowOptions) {
  let mode: LiveMode = "connecting";
  let stopped = false;
  let poll: ReturnType<typeof setInterval> | undefined;

  const signal = (received: ChannelSignal) => {
    const next = nextMode(mode, received);
    // Repeated news (a socket failing again while it retries) keeps the
    // timer as it is; restarting it would put the next read off each time.
    if (stopped || next === mode) return;
    if (readOnEntering(mode, next)) read();
    mode = next;
    clearInterval(poll);
    const every = readEvery(mode, timing);
    poll = every === null ? undefined : setInterval(read, every);
    onMode(mode);
  };

  const stopFeed = feed(() => {
    if (!stopped) read();
  }, signal);
  const deadline = setTimeout(() => signal("DEADLINE"), deadlineMs);
  return () => {
    stopped = true;
    clearTimeout(deadline);
    clearInterval(poll);
    stopFeed();
  };
}
