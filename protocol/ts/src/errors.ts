// Typed errors of the tickforge client SDK. Every failure the SDK reports is a
// TickforgeError whose `kind` tells which subclass it is, so callers can
// `switch (error.kind)` or use `instanceof`.

/** Discriminant of every error the SDK reports. */
export type ErrorKind = "closed" | "refused" | "redirected" | "decode" | "timeout" | "state" | "connect" | "guest";

/** Base class of every error the SDK reports. */
export abstract class TickforgeError extends Error {
  abstract readonly kind: ErrorKind;
}

/**
 * The connection ended. `code` and `reason` are the WebSocket close code and
 * reason the server sent (README, "Close codes"; the reason is the label of
 * `tickforge_disconnects_total{cause}`), or, when `byClient` is true, the
 * code and label of the fault the client detected itself (for example 1007
 * `bad_frame` for a server frame that failed verification).
 */
export class CloseError extends TickforgeError {
  readonly kind = "closed";

  constructor(
    /** WebSocket close code: 1005 when the server gave none, 1006 when the connection dropped. */
    readonly code: number,
    /** Close reason: a stable label such as `idle_timeout` (may be empty). */
    readonly reason: string,
    /** True when the client closed the connection because of a fault it detected. */
    readonly byClient = false,
    options?: { cause?: unknown; detail?: string },
  ) {
    const what = `connection closed (${code}${reason ? ` ${reason}` : ""})${byClient ? " by the client" : ""}`;
    super(options?.detail ? `${what}: ${options.detail}` : what, options);
    this.name = "CloseError";
  }

  /** Whether reconnecting can help: see {@link isRetryableClose}. */
  get retryable(): boolean {
    return isRetryableClose(this.code);
  }
}

/**
 * Whether a connection closed with `code` is worth reopening. Going away
 * (1001: the server is shutting down), dropped connections (1005, 1006),
 * server trouble (1011–1014) and tickforge's own 4000 `slow_consumer`, 4001
 * `idle_timeout` and 4002 `handshake_timeout` are; a normal close (1000)
 * and protocol violations (1002, 1003, 1007, 1008, 1009, 1010) are not:
 * reopening would repeat them; neither are the access-control closes
 * 4003–4006 (see {@link AccessDeniedError}).
 */
export function isRetryableClose(code: number): boolean {
  switch (code) {
    case 1001:
    case 1005:
    case 1006:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
    case 4000:
    case 4001:
    case 4002:
      return true;
    default:
      return false;
  }
}

/** Why the server turned a player away: which of the close codes 4003–4006. */
export type AccessDenial = "token" | "banned" | "replaced" | "kicked";

/**
 * Reasons of a 4003 close: which check the session token failed. Servers may
 * add reasons; these are the ones known to this SDK.
 */
export type TokenRejection =
  | "auth_missing"
  | "auth_malformed"
  | "auth_signature"
  | "auth_algorithm"
  | "auth_expired"
  | "auth_not_yet_valid"
  | "auth_audience"
  | "auth_issuer"
  | "auth_unknown_key"
  | "auth_subject_mismatch"
  | "auth_guest_disabled"
  | "auth_token_kind"
  | "auth_resume_expired";

const DENIALS: ReadonlyMap<number, { denial: AccessDenial; detail: string }> = new Map([
  [4003, { denial: "token", detail: "the server refused the session token" }],
  [4004, { denial: "banned", detail: "this player is banned" }],
  [4005, { denial: "replaced", detail: "a newer connection of this player took over" }],
  [4006, { denial: "kicked", detail: "an operator removed this player" }],
]);

/** Whether `code` is one of the access-control close codes 4003–4006. */
export function isAccessDeniedClose(code: number): boolean {
  return DENIALS.has(code);
}

/**
 * The server turned the player away: 4003 (`denial` "token": the session
 * token failed the check named by `reason`, e.g. `auth_expired`), 4004
 * `banned`, 4005 `replaced` (a newer login of the same player took over) or
 * 4006 `kicked` (an operator). A {@link CloseError}, so code that handles
 * closes keeps working; never retried as is. The client reconnects after a
 * 4003 only when it has a `tokenProvider` (once, with a fresh token), and
 * never after 4004, 4005 or 4006.
 */
export class AccessDeniedError extends CloseError {
  /** Which of the four closes this is. */
  readonly denial: AccessDenial;

  constructor(code: number, reason: string, options?: { cause?: unknown }) {
    const known = DENIALS.get(code);
    super(code, reason, false, { ...options, detail: known?.detail ?? "access denied" });
    this.name = "AccessDeniedError";
    this.denial = known?.denial ?? "token";
  }
}

/** Which per-session rate limit a {@link RateLimitedError} names. */
export type RateLimit = "frames" | "pings" | "joins";

const RATE_LIMITS: ReadonlyMap<string, { limit: RateLimit; detail: string }> = new Map([
  ["frame_rate_exceeded", { limit: "frames", detail: "the client kept sending frames faster than the server allows" }],
  ["ping_rate_exceeded", { limit: "pings", detail: "the client kept sending Pings faster than the server allows" }],
  ["join_rate_exceeded", { limit: "joins", detail: "the client kept joining and leaving faster than the server allows" }],
]);

/** Whether a close with `code` and `reason` is one of the server's rate-limit closes (1008). */
export function isRateLimitClose(code: number, reason: string): boolean {
  return code === 1008 && RATE_LIMITS.has(reason);
}

/**
 * The server closed the connection with 1008 because the client kept
 * exceeding one of its per-session rate limits: `frame_rate_exceeded` (frames
 * of any kind), `ping_rate_exceeded` (Pings) or `join_rate_exceeded`
 * (JoinRoom/LeaveRoom). A {@link CloseError}, never retried: reconnecting at
 * once would repeat it; send less first.
 */
export class RateLimitedError extends CloseError {
  /** Which limit the client kept exceeding. */
  readonly limit: RateLimit;

  constructor(code: number, reason: string, options?: { cause?: unknown }) {
    const known = RATE_LIMITS.get(reason);
    super(code, reason, false, { ...options, detail: known?.detail ?? "rate limited" });
    this.name = "RateLimitedError";
    this.limit = known?.limit ?? "frames";
  }
}

/**
 * The error for a close by the server: an {@link AccessDeniedError} for
 * 4003–4006, a {@link RateLimitedError} for the 1008 rate-limit closes, else
 * a {@link CloseError}.
 */
export function serverCloseError(code: number, reason: string): CloseError {
  if (isAccessDeniedClose(code)) return new AccessDeniedError(code, reason);
  if (isRateLimitClose(code, reason)) return new RateLimitedError(code, reason);
  return new CloseError(code, reason);
}

/** The server answered a request with an `Error` message; the connection stays open. */
export class RefusedError extends TickforgeError {
  readonly kind = "refused";

  constructor(
    /** The stable `ErrorCode` number (see {@link ErrorCode} in the generated code). */
    readonly code: number,
    /** The code's name, e.g. `RoomNotFound` (`Code<n>` for a code this SDK does not know). */
    readonly codeName: string,
    /** The server's explanation, for people. */
    readonly serverMessage: string,
  ) {
    super(`refused by the server (${codeName}): ${serverMessage}`);
    this.name = "RefusedError";
  }
}

/** The server answered a join with `Redirect`: the room lives on another node. */
export class RedirectError extends TickforgeError {
  readonly kind = "redirected";

  constructor(
    /** WebSocket URL of the node that owns the room. */
    readonly url: string,
    /** The room to join there. */
    readonly roomId: string,
  ) {
    super(`room ${roomId} lives on ${url}`);
    this.name = "RedirectError";
  }
}

/** Stable labels of decoding failures; the same labels as the server's close reasons. */
export type DecodeLabel = "bad_frame" | "unexpected_message";

/**
 * Bytes that are not a valid message of the expected kind. `label` is
 * `bad_frame` when the FlatBuffers verifier refused them and
 * `unexpected_message` when they carry another file identifier or an unknown
 * message type, exactly as the Rust `DecodeError::label`.
 */
export class DecodeError extends TickforgeError {
  readonly kind = "decode";

  constructor(
    readonly label: DecodeLabel,
    /** What exactly was wrong, for people and logs. */
    readonly detail: string,
    /**
     * The union type of a verified frame whose message this SDK does not
     * know (a newer peer's message), else null. The client ignores such
     * server messages instead of closing.
     */
    readonly unknownMessageType: number | null = null,
  ) {
    super(`${label}: ${detail}`);
    this.name = "DecodeError";
  }
}

/** No answer within the configured time. */
export class TimeoutError extends TickforgeError {
  readonly kind = "timeout";

  constructor(
    /** What was awaited: `Welcome`, `Joined`, `Left`, `Pong`, `close`, or `token` (the token provider). */
    readonly awaited: string,
    readonly afterMs: number,
  ) {
    super(`no ${awaited} within ${afterMs} ms`);
    this.name = "TimeoutError";
  }
}

/** A call that the client's current state does not allow (for example joining while not connected). */
export class StateError extends TickforgeError {
  readonly kind = "state";

  constructor(message: string) {
    super(message);
    this.name = "StateError";
  }
}

/**
 * The WebSocket could not be opened as a tickforge connection, or the
 * `tokenProvider` failed (then `retryable` is true and `cause` is what it threw).
 */
export class ConnectError extends TickforgeError {
  readonly kind = "connect";
  /** Whether another attempt may succeed (a failed token provider); a bad URL or subprotocol will not. */
  readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options);
    this.name = "ConnectError";
    this.retryable = options?.retryable ?? false;
  }
}

/** Stable labels of a failed {@link GuestSessionError}. */
export type GuestSessionFailure = "rate_limited" | "disabled" | "bad_request" | "http" | "network" | "bad_response";

/**
 * `POST /auth/guest` gave no session. `reason`: `rate_limited` (HTTP 429:
 * this address asked too often; `retryAfterSeconds` says when to ask again),
 * `disabled` (404: the server has guest sessions off), `bad_request` (400),
 * `http` (any other status), `network` (no answer) or `bad_response` (an
 * answer that is not a session).
 */
export class GuestSessionError extends TickforgeError {
  readonly kind = "guest";

  constructor(
    readonly reason: GuestSessionFailure,
    /** The HTTP status; 0 when there was no answer. */
    readonly status: number,
    /** From `Retry-After` on a 429, in seconds; null otherwise. */
    readonly retryAfterSeconds: number | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`no guest session (${reason}${status ? ` ${status}` : ""}): ${detail}`, options);
    this.name = "GuestSessionError";
  }
}
