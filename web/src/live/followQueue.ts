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
  /**
   * The least time between two reads for changes: a worker run changes many
   * rows at once, and one read after the burst shows them all.
   */
  changeGapMs: number;
  /** Reads again what the page shows. */
  read: () => void;
  /** Told of every change of mode. */
  onMode: (mode: LiveMode) => void;
}

/** Follows the queue through `feed` until the returned function is called. */
export function followQueue(
  feed: QueueFeed,
  { timing, deadlineMs, changeGapMs, read, onMode }: FollowOptions,
) {
  let mode: LiveMode = "connecting";
  let stopped = false;
  let poll: ReturnType<typeof setInterval> | undefined;
  let lastChangeRead = -Infinity;
  let pendingChangeRead: ReturnType<typeof setTimeout> | undefined;

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

  // The first change is read at once; those that follow within the gap, by
  // one read at its end.
  const changed = () => {
    if (stopped || pendingChangeRead !== undefined) return;
    const readChange = () => {
      pendingChangeRead = undefined;
      lastChangeRead = Date.now();
      read();
    };
    const wait = lastChangeRead + changeGapMs - Date.now();
    if (wait <= 0) readChange();
    else pendingChangeRead = setTimeout(readChange, wait);
  };

  const stopFeed = feed(changed, signal);
  const deadline = setTimeout(() => signal("DEADLINE"), deadlineMs);
  return () => {
    stopped = true;
    clearTimeout(deadline);
    clearTimeout(pendingChangeRead);
    clearInterval(poll);
    stopFeed();
  };
}
