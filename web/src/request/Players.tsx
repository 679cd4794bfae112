// Audio players for a request's clips (or its fallback track).
import type { Clip, Track } from "../admin/api";

/** A library track as a clip, for the same players. */
export const trackAsClip = (track: Track): Clip => ({
  id: track.id,
  title: track.title ?? undefined,
  audio_url: track.audio_url,
  image_url: track.image_url ?? undefined,
  duration: track.duration_seconds ?? undefined,
});

export function Players({ clips }: { clips: Clip[] }) {
  return (
    <ul className="players">
      {clips.map((clip, index) => (
        <li key={clip.id ?? index}>
          {clip.image_url && <img src={clip.image_url} alt="" width={48} height={48} />}
          <span>{clip.title ?? `#${index + 1}`}</span>
          <audio controls preload="none" src={clip.audio_url ?? clip.stream_audio_url}>
            <a href={clip.audio_url}>{clip.audio_url}</a>
          </audio>
        </li>
      ))}
    </ul>
  );
}
