// Server-side claim durations from the cluster's JSON log: the sessions of
// one application_name run with log_min_duration_statement = 0, so every
// statement they send leaves a "duration:" record. An extended-protocol call
// leaves one for its bind and one for its execute (the server's work for the
// call is their sum); a simple-protocol one leaves a single "statement" record.

const DURATION =
  /^duration: ([\d.]+) ms\s+(parse|bind|execute|statement)(?: ([^:]*))?: ([\s\S]*)$/;

/**
 * Durations (ms) of the claims among `records` of sessions named `tag`:
 * `isClaim(statementName, text)` tells which statements are claims.
 */
export function claimTimings(records, tag, isClaim) {
  const bound = new Map(); // pid -> bind duration waiting for its execute
  const timings = [];
  for (const record of records) {
    if (record.application_name !== tag) continue;
    const match = DURATION.exec(record.message ?? "");
    if (!match) continue;
    const [, ms, phase, name = "", text] = match;
    if (!isClaim(name, text)) continue;
    const duration = Number(ms);
    if (phase === "bind") bound.set(record.pid, duration);
    else if (phase === "execute") {
      timings.push(duration + (bound.get(record.pid) ?? 0));
      bound.delete(record.pid);
    } else if (phase === "statement") timings.push(duration);
  }
  return timings;
}
