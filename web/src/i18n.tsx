// Labels in French, as in the product's origin, with English second. The
// choice is kept in localStorage; every label has both languages, which the
// type of `labels` enforces.
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { emotionNames } from "./emotions";

export type Lang = "fr" | "en";

const labels = {
  appTitle: { fr: "Musique des émotions", en: "Emotion music" },
  requestPage: { fr: "Demander", en: "Request" },
  adminPage: { fr: "Administration", en: "Admin" },
  signIn: { fr: "Se connecter", en: "Sign in" },
  signOut: { fr: "Se déconnecter", en: "Sign out" },
  email: { fr: "E-mail", en: "Email" },
  password: { fr: "Mot de passe", en: "Password" },
  signInTitle: { fr: "Connexion", en: "Sign in" },
  loading: { fr: "Chargement…", en: "Loading…" },
  refused: {
    fr: "Accès refusé : cette page est réservée aux administrateurs.",
    en: "Access denied: this page is for administrators only.",
  },
  providerStatus: { fr: "État de Suno", en: "Suno status" },
  responseTime: { fr: "Temps de réponse", en: "Response time" },
  lastCheck: { fr: "Dernière vérification", en: "Last check" },
  never: { fr: "jamais", en: "never" },
  overview: { fr: "Vue d'ensemble", en: "Overview" },
  pending: { fr: "En attente", en: "Pending" },
  processing: { fr: "En cours", en: "Processing" },
  completed: { fr: "Terminées", en: "Completed" },
  failed: { fr: "Échouées", en: "Failed" },
  cancelled: { fr: "Annulées", en: "Cancelled" },
  // One request's status (the counts above are plurals).
  one_pending: { fr: "En attente", en: "Pending" },
  one_processing: { fr: "En cours", en: "Processing" },
  one_completed: { fr: "Terminée", en: "Completed" },
  one_failed: { fr: "Échouée", en: "Failed" },
  all: { fr: "Toutes", en: "All" },
  successRate24h: { fr: "Réussite 24 h", en: "Success 24 h" },
  successRateAll: { fr: "Réussite totale", en: "Success overall" },
  meanProcessing: { fr: "Traitement moyen", en: "Mean processing" },
  errorSpike: { fr: "Pic d'erreurs", en: "Error spike" },
  noSpike: { fr: "Aucun pic d'erreurs", en: "No error spike" },
  queue: { fr: "File", en: "Queue" },
  queuePaused: { fr: "File en pause", en: "Queue paused" },
  queueRunning: { fr: "File active", en: "Queue running" },
  runWorker: { fr: "Lancer le Worker", en: "Run the worker" },
  retry: { fr: "Relancer", en: "Retry" },
  cancel: { fr: "Annuler", en: "Cancel" },
  pause: { fr: "Mettre en pause", en: "Pause" },
  resume: { fr: "Reprendre", en: "Resume" },
  confirm: { fr: "Confirmer", en: "Confirm" },
  back: { fr: "Retour", en: "Back" },
  close: { fr: "Fermer", en: "Close" },
  settings: { fr: "Réglages", en: "Settings" },
  batchSize: { fr: "Taille de lot", en: "Batch size" },
  spacing: { fr: "Espacement (ms)", en: "Spacing (ms)" },
  rateLimit: { fr: "Limite Suno (envois / fenêtre)", en: "Suno limit (submits / window)" },
  windowSeconds: { fr: "Fenêtre (s)", en: "Window (s)" },
  save: { fr: "Enregistrer", en: "Save" },
  workerRuns: { fr: "Dernières exécutions du worker", en: "Last worker runs" },
  requests: { fr: "Demandes", en: "Requests" },
  search: { fr: "Rechercher (émotion ou id)", en: "Search (emotion or id)" },
  searchHint: {
    fr: "Saisissez une émotion (joie, calme…) ou un id complet.",
    en: "Type an emotion (joy, calm…) or a full id.",
  },
  newer: { fr: "Plus récentes", en: "Newer" },
  older: { fr: "Plus anciennes", en: "Older" },
  noRequests: { fr: "Aucune demande", en: "No requests" },
  exportCsv: { fr: "Exporter CSV", en: "Export CSV" },
  exportStatsCsv: { fr: "Exporter les stats CSV", en: "Export stats CSV" },
  charts: { fr: "Dernières 24 h", en: "Last 24 h" },
  perHour: { fr: "Terminées et échouées par heure", en: "Completed and failed per hour" },
  responseChart: { fr: "Temps de réponse de Suno (ms)", en: "Suno response time (ms)" },
  details: { fr: "Détails", en: "Details" },
  emotion: { fr: "Émotion", en: "Emotion" },
  intensity: { fr: "Intensité", en: "Intensity" },
  context: { fr: "Contexte", en: "Context" },
  status: { fr: "Statut", en: "Status" },
  created: { fr: "Créée", en: "Created" },
  attempts: { fr: "Tentatives", en: "Attempts" },
  sent: { fr: "Envoyé à Suno", en: "Sent to Suno" },
  error: { fr: "Erreur", en: "Error" },
  tracks: { fr: "Morceaux", en: "Tracks" },
  fallback: { fr: "Morceau de secours", en: "Fallback track" },
  history: { fr: "Historique", en: "History" },
  actionDone: { fr: "Fait", en: "Done" },
  actionNothing: {
    fr: "Rien n'a changé : la demande n'est plus dans cet état.",
    en: "Nothing changed: the request is no longer in that state.",
  },
  confirmRetry: { fr: "Relancer cette demande ?", en: "Retry this request?" },
  confirmCancel: { fr: "Annuler cette demande ?", en: "Cancel this request?" },
  confirmRun: { fr: "Lancer le worker maintenant ?", en: "Run the worker now?" },
  confirmPause: { fr: "Mettre la file en pause ?", en: "Pause the queue?" },
  confirmResume: { fr: "Reprendre la file ?", en: "Resume the queue?" },
  confirmSettings: { fr: "Appliquer ces réglages ?", en: "Apply these settings?" },
  runSummary: { fr: "Résumé de l'exécution", en: "Run summary" },
  ask: { fr: "Demander une musique", en: "Ask for music" },
  send: { fr: "Envoyer", en: "Send" },
  queued: { fr: "En file d'attente", en: "Queued" },
  position: { fr: "Position", en: "Position" },
  estimatedWait: { fr: "Attente estimée", en: "Estimated wait" },
  failedWithFallback: {
    fr: "La génération a échoué ; voici un morceau de secours.",
    en: "Generation failed; here is a fallback track.",
  },
  myRequests: { fr: "Mes demandes", en: "My requests" },
  // How the page keeps up with the queue (live/LiveModeBadge.tsx).
  liveUpdates: { fr: "En direct", en: "Live" },
  liveConnecting: { fr: "Connexion au direct…", en: "Connecting live…" },
  refreshingEvery: { fr: "Actualisé toutes les", en: "Refreshing every" },
} as const;

export type LabelKey = keyof typeof labels;


const LangContext = createContext<{ lang: Lang; setLang: (lang: Lang) => void }>({
  lang: "fr",
  setLang: () => {},
});

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(
    () => (localStorage.getItem("lang") === "en" ? "en" : "fr"),
  );
  const setLang = (next: Lang) => {
    localStorage.setItem("lang", next);
    setLangState(next);
  };
  // The page's language follows the choice, for screen readers and spelling.
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  return <LangContext.Provider value={{ lang, setLang }}>{children}</LangContext.Provider>;
}

/** The current language, its setter, and `t(key)` for a label in it. */
export function useI18n() {
  const { lang, setLang } = useContext(LangContext);
  const t = (key: LabelKey) => labels[key][lang];
  const emotion = (value: string) => emotionNames[value]?.[lang] ?? value;
  return { lang, setLang, t, emotion };
}
