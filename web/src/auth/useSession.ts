// The signed-in session, kept in step with supabase-js's auth events.
import { useEffect, useState } from "react";
import type { Session } from "@supabase/supabase-js";
import { supabase } from "../supabase";

/** `undefined` while the stored session is read, then the session or null. */
export function useSession(): Session | null | undefined {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    void supabase.auth.getSession().then(({ data }) => setSession(data.session));
    const { data } = supabase.auth.onAuthStateChange((_event, next) => setSession(next));
    return () => data.subscription.unsubscribe();
  }, []);
  return session;
}

/** Admin is `app_metadata.role` admin or manager; `user_metadata` is never trusted. */
export function isAdmin(session: Session | null | undefined): boolean {
  const role = session?.user.app_metadata?.role;
  return role === "admin" || role === "manager";
}
