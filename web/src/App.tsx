// The shell: header (pages, provider badge, language, sign-out), then the
// sign-in form or the page the path names.
import type { MouseEvent } from "react";
import { SignIn } from "./auth/SignIn";
import { isAdmin, useSession } from "./auth/useSession";
import { MusicQueueAdmin } from "./admin/MusicQueueAdmin";
import { RequestPage } from "./request/RequestPage";
import { SunoServiceStatus } from "./status/SunoServiceStatus";
import { useI18n } from "./i18n";
import { navigate, usePath } from "./router";
import { supabase } from "./supabase";

export const ADMIN_PATH = "/admin/music-queue";

export function App() {
  const { t, lang, setLang } = useI18n();
  const session = useSession();
  const path = usePath();
  const link = (to: string) => (event: MouseEvent) => {
    event.preventDefault();
    navigate(to);
  };

  return (
    <>
      <header className="top">
        <h1>{t("appTitle")}</h1>
        <nav aria-label="pages">
          <a href="/" onClick={link("/")} aria-current={path === "/" ? "page" : undefined}>
            {t("requestPage")}
          </a>
          {isAdmin(session) && (
            <a
              href={ADMIN_PATH}
              onClick={link(ADMIN_PATH)}
              aria-current={path === ADMIN_PATH ? "page" : undefined}
            >
              {t("adminPage")}
            </a>
          )}
        </nav>
        <SunoServiceStatus />
        <div className="top-end">
          <button
            type="button"
            className="link"
            onClick={() => setLang(lang === "fr" ? "en" : "fr")}
            aria-label={lang === "fr" ? "English" : "Français"}
          >
            {lang === "fr" ? "EN" : "FR"}
          </button>
          {session && (
            <>
              <span className="who">{session.user.email}</span>
              <button type="button" className="link" onClick={() => supabase.auth.signOut()}>
                {t("signOut")}
              </button>
            </>
          )}
        </div>
      </header>
      <main>
        {session === undefined
          ? <p>{t("loading")}</p>
          : session === null
          ? <SignIn />
          : path === ADMIN_PATH
          ? <MusicQueueAdmin session={session} />
          : <RequestPage userId={session.user.id} />}
      </main>
    </>
  );
}
