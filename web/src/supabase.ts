// The one Supabase client of the app. Its project URL and publishable key
// are fixed at build time (VITE_SUPABASE_URL, VITE_SUPABASE_PUBLISHABLE_KEY),
// so the same code talks to the local stack and to a hosted project.
import { createClient } from "@supabase/supabase-js";

const url = import.meta.env.VITE_SUPABASE_URL as string | undefined;
const key = import.meta.env.VITE_SUPABASE_PUBLISHABLE_KEY as string | undefined;

if (!url || !key) {
  throw new Error(
    "VITE_SUPABASE_URL and VITE_SUPABASE_PUBLISHABLE_KEY must be set when the app is built",
  );
}

export const supabase = createClient(url, key);
export const supabaseUrl = url;
