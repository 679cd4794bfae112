// The sign-in service driven by the real supabase-js, as the web app uses it.
//
// Run by tests/tests/platform_auth.rs against the fixture stack (SUPABASE_URL
// and the keys in the environment), from tools/ so that the pinned
// supabase-js in tools/node_modules is the one imported.

import {
  AuthApiError,
  createClient,
  type SupabaseClient,
} from "npm:@supabase/supabase-js";
import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";

const url = requireEnv("SUPABASE_URL");
const anonKey = requireEnv("SUPABASE_ANON_KEY");
const serviceRoleKey = requireEnv("SUPABASE_SERVICE_ROLE_KEY");
const password = "correct horse battery";

function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run through scripts/test`);
  return value;
}

/** A client that keeps its session in memory and never refreshes on its own. */
function client(key = anonKey): SupabaseClient {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
}

/** A new confirmed user (unique email), created with the service-role key. */
async function newUser(appMetadata: Record<string, unknown> = {}) {
  const email = `${crypto.randomUUID()}@example.test`;
  const { data, error } = await client(serviceRoleKey).auth.admin.createUser({
    email,
    password,
    email_confirm: true,
    app_metadata: appMetadata,
    user_metadata: { name: "Test" },
  });
  assertEquals(error, null);
  return { email, id: data.user!.id };
}

function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(payload));
}

Deno.test("sign in, read the user and carry Supabase's claims", async () => {
  const user = await newUser({ role: "admin" });
  const auth = client().auth;
  const { data, error } = await auth.signInWithPassword({
    email: user.email.toUpperCase(),
    password,
  });
  assertEquals(error, null);
  assertEquals(data.user!.id, user.id);
  const claims = claimsOf(data.session!.access_token);
  assertEquals(claims.sub, user.id);
  assertEquals(claims.role, "authenticated");
  assertEquals(claims.aud, "authenticated");
  assertEquals(claims.email, user.email);
  assert(typeof claims.session_id === "string");
  assertEquals(claims.aal, "aal1");
  assertEquals(claims.is_anonymous, false);
  assertEquals(claims.app_metadata, {
    provider: "email",
    providers: ["email"],
    role: "admin",
  });
  assertEquals(claims.user_metadata, { name: "Test" });
  assertEquals((claims.exp as number) - (claims.iat as number), 3600);

  const fetched = await auth.getUser();
  assertEquals(fetched.error, null);
  assertEquals(fetched.data.user!.email, user.email);
  assertEquals(fetched.data.user!.app_metadata.role, "admin");
});

Deno.test("a wrong password is an AuthApiError with status 400", async () => {
  const user = await newUser();
  const { data, error } = await client().auth.signInWithPassword({
    email: user.email,
    password: "not the password",
  });
  assertEquals(data.session, null);
  assert(error instanceof AuthApiError);
  assertEquals(error.status, 400);
  assertEquals(error.code, "invalid_credentials");
  assertEquals(error.message, "Invalid login credentials");
});

Deno.test("refresh tokens rotate and a used one is refused", async () => {
  const user = await newUser();
  const auth = client().auth;
  const signedIn = await auth.signInWithPassword({
    email: user.email,
    password,
  });
  const first = signedIn.data.session!.refresh_token;
  const refreshed = await auth.refreshSession();
  assertEquals(refreshed.error, null);
  const second = refreshed.data.session!.refresh_token;
  assert(second !== first, "the refresh token rotates");
  assertEquals((await auth.getUser()).data.user!.id, user.id);

  const reused = await client().auth.refreshSession({ refresh_token: first });
  assert(reused.error instanceof AuthApiError);
  assertEquals(reused.error.status, 400);
  assertEquals(reused.error.code, "refresh_token_already_used");
  // Reuse means a copy leaked: the whole session's tokens are revoked.
  const after = await client().auth.refreshSession({ refresh_token: second });
  assert(after.error instanceof AuthApiError);
  assertEquals(after.error.status, 400);
});

Deno.test("sign-out ends the session and its refresh token", async () => {
  const user = await newUser();
  const auth = client().auth;
  const { data } = await auth.signInWithPassword({
    email: user.email,
    password,
  });
  const { access_token, refresh_token } = data.session!;
  assertEquals((await auth.signOut()).error, null);

  const refreshed = await client().auth.refreshSession({ refresh_token });
  assert(refreshed.error instanceof AuthApiError);
  assertEquals(refreshed.error.status, 400);
  assertEquals(refreshed.error.code, "refresh_token_not_found");
  // The access token is still signed and unexpired, but its session is gone.
  const stale = await client().auth.getUser(access_token);
  assertEquals(stale.data.user, null);
  assertEquals(stale.error?.name, "AuthSessionMissingError");
});

Deno.test("the session reads only the user's own rows under RLS", async () => {
  const user = await newUser();
  const admin = client(serviceRoleKey);
  const inserted = await admin.from("notes").insert({
    owner: user.id,
    body: "note of the signed-in user",
  });
  assertEquals(inserted.error, null);

  const signedIn = client();
  await signedIn.auth.signInWithPassword({ email: user.email, password });
  const { data, error } = await signedIn.from("notes").select("owner, body");
  assertEquals(error, null);
  assertEquals(data, [{ owner: user.id, body: "note of the signed-in user" }]);

  const anonymous = await client().from("notes").select("owner");
  assertEquals(anonymous.data, []);
});

Deno.test("sign-up is off and the admin API needs the service key", async () => {
  const signUp = await client().auth.signUp({
    email: `${crypto.randomUUID()}@example.test`,
    password,
  });
  assert(signUp.error instanceof AuthApiError);
  assertEquals(signUp.error.status, 422);
  assertEquals(signUp.error.code, "signup_disabled");

  const notAdmin = await client().auth.admin.createUser({
    email: `${crypto.randomUUID()}@example.test`,
    password,
  });
  assert(notAdmin.error instanceof AuthApiError);
  assertEquals(notAdmin.error.status, 403);
  assertEquals(notAdmin.error.code, "not_admin");
});
