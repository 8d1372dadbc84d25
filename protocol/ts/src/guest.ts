// Guest sessions: `POST /auth/guest` on the server's public listener hands out
// a signed session token for a new guest player, with no account. The token
// goes into Hello (the client's `token` or `tokenProvider` option); the
// player id is its subject.

import { GuestSessionError } from "./errors.js";

/** A guest session from `POST /auth/guest`. */
export interface GuestSession {
  /** The signed session token (a JWT) to send in Hello. */
  readonly token: string;
  /** The guest's player id (`g_…`), the token's subject. */
  readonly playerId: string;
  /** The display name: the one asked for, sanitised, or `Guest-XXXX`. */
  readonly name: string;
  /** When the token stops being accepted, in seconds since the UNIX epoch. */
  readonly expiresAt: number;
}

/** The part of the Fetch API {@link fetchGuestSession} uses (the global `fetch` has it). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}>;

export interface GuestSessionOptions {
  /** Makes the request. Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date. */
function retryAfter(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function session(body: unknown): GuestSession | null {
  if (body === null || typeof body !== "object") return null;
  const { token, player_id: playerId, name, expires_at: expiresAt } = body as Record<string, unknown>;
  if (typeof token !== "string" || token === "" || typeof playerId !== "string" || typeof name !== "string") return null;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return null;
  return { token, playerId, name, expiresAt };
}

/**
 * Asks the server at `baseUrl` (its HTTP origin, e.g. `http://localhost:7700`;
 * the page's `location.origin` for a page the server serves) for a guest
 * session, with `name` as the display name (the server shortens and cleans
 * it, and picks `Guest-XXXX` when it is absent or empty). Rejects with a
 * {@link GuestSessionError}: `rate_limited` with `retryAfterSeconds`,
 * `disabled`, `bad_request`, `http`, `network` or `bad_response`.
 */
export async function fetchGuestSession(baseUrl: string, name?: string, options: GuestSessionOptions = {}): Promise<GuestSession> {
  const url = `${baseUrl.replace(/\/+$/, "")}/auth/guest`;
  const doFetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (typeof doFetch !== "function") {
    throw new GuestSessionError("network", 0, null, "this runtime has no global fetch: pass options.fetch");
  }
  const init: Parameters<FetchLike>[1] = { method: "POST", headers: { accept: "application/json" } };
  if (name !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify({ name });
  }
  if (options.signal) init.signal = options.signal;
  let res: Awaited<ReturnType<FetchLike>>;
  try {
    res = await doFetch(url, init);
  } catch (e) {
    throw new GuestSessionError("network", 0, null, `POST ${url} failed: ${String(e)}`, { cause: e });
  }
  switch (res.status) {
    case 200:
      break;
    case 429: {
      const wait = retryAfter(res.headers.get("retry-after"), Date.now());
      throw new GuestSessionError("rate_limited", 429, wait, `too many guest sessions from this address${wait === null ? "" : `; retry in ${wait} s`}`);
    }
    case 404:
      throw new GuestSessionError("disabled", 404, null, "the server does not offer guest sessions");
    case 400:
      throw new GuestSessionError("bad_request", 400, null, "the server refused the request");
    default:
      throw new GuestSessionError("http", res.status, null, `POST ${url} answered HTTP ${res.status}`);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch (e) {
    throw new GuestSessionError("bad_response", 200, null, "the answer is not JSON", { cause: e });
  }
  const parsed = session(body);
  if (!parsed) throw new GuestSessionError("bad_response", 200, null, "the answer lacks token, player_id, name or expires_at");
  return parsed;
}
