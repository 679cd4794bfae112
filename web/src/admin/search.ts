// What the request list's search box means: a full id, or an emotion.
import { EMOTIONS, emotionNames } from "../emotions";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The search as a column filter: a full id, or an emotion by its stored value
 * or its name in either language; null when it is neither.
 */
export function searchFilter(search: string): { column: "id" | "emotion"; value: string } | null {
  const term = search.trim().toLowerCase();
  if (UUID.test(term)) return { column: "id", value: term };
  const emotion = EMOTIONS.find((value) =>
    value === term ||
    Object.values(emotionNames[value]).some((name) => name.toLowerCase() === term)
  );
  return emotion ? { column: "emotion", value: emotion } : null;
}
