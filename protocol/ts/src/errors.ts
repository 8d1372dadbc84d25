// Typed errors of the tickforge client SDK. Every failure the SDK reports is a
// TickforgeError whose `kind` tells which subclass it is, so callers can
// `switch (error.kind)` or use `instanceof`.

/** Discriminant of every error the SDK reports. */
export type ErrorKind = "closed" | "refused" | "redirected" | "decode" | "timeout" | "state" | "connect";

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
    options?: { cause?: unknown },
  ) {
    super(`connection closed (${code}${reason ? ` ${reason}` : ""})${byClient ? " by the client" : ""}`, options);
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
 * reopening would repeat them.
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
  ) {
    super(`${label}: ${detail}`);
    this.name = "DecodeError";
  }
}

/** No answer within the configured time. */
export class TimeoutError extends TickforgeError {
  readonly kind = "timeout";

  constructor(
    /** What was awaited: `Welcome`, `Joined`, `Left`, `Pong` or `close`. */
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

/** The WebSocket could not be opened as a tickforge connection. */
export class ConnectError extends TickforgeError {
  readonly kind = "connect";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectError";
  }
}
