// Keeps a page in step with the queue table: through Supabase Realtime where
// the project has it, by polling where it has not (the local stack) or while
// it is down. Decided at run time, from what the channel reports.
import { useEffect, useRef, useState } from "react";
import { supabase } from "../supabase";
import { followQueue, type QueueFeed } from "./followQueue";
import type { ChannelSignal, LiveMode } from "./liveMode";

/** A channel that has not come up by then is taken as absent, and the page polls. */
const SUBSCRIBE_DEADLINE_MS = 4_000;
/** Changes within this gap of the last read for one are read together, at its end. */
const CHANGE_GAP_MS = 500;

// Each hook gets a topic of its own: supabase-js hands back an existing
// channel of the same topic, which may be one an unmount is removing.
let channels = 0;

/** The changes of `music_generation_queue` rows that pass `filter`, or of every row. */
function queueChanges(filter: string | undefined): QueueFeed {
  return (onChange, onSignal) => {
    const channel = supabase
      .channel(`music-queue-${++channels}`)
      .on(
        "postgres_changes",
        {
          event: "*",
          schema: "public",
          table: "music_generation_queue",
          ...(filter && { filter }),
        },
        // The payload is not trusted: the page reads again, through RLS.
        onChange,
      )
      .subscribe((status) => onSignal(status as ChannelSignal));
    return () => void supabase.removeChannel(channel);
  };
}

export interface LiveQueueOptions {
  /** A Realtime filter such as `user_id=eq.<uuid>`; every row the user may read without. */
  filter?: string;
  /** Reads again what the page shows; called on every change and every poll. */
  read: () => void;
  /** How often to read without a channel. */
  pollMs: number;
  /** How often to read with one, for what no event of the queue table announces. */
  liveMs: number;
  /** False when nothing more is to be watched (a finished request). */
  enabled?: boolean;
}

/** Follows the queue while mounted and enabled; the current mode, to show. */
export function useLiveQueue(
  { filter, read, pollMs, liveMs, enabled = true }: LiveQueueOptions,
): LiveMode {
  const [mode, setMode] = useState<LiveMode>("connecting");
  const latestRead = useRef(read);
  useEffect(() => {
    latestRead.current = read;
  });

  useEffect(() => {
    if (!enabled) return;
    setMode("connecting");
    return followQueue(queueChanges(filter), {
      timing: { pollMs, liveMs },
      deadlineMs: SUBSCRIBE_DEADLINE_MS,
      changeGapMs: CHANGE_GAP_MS,
      read: () => latestRead.current(),
      onMode: setMode,
    });
  }, [filter, pollMs, liveMs, enabled]);

  return mode;
}
