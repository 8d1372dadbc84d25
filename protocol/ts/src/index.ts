// The public API of @tickforge/client: the client, guest sessions, the
// protocol codec, the reference game's messages, the verifier, the typed
// errors, and the code generated from protocol/schema for anyone who needs
// the raw tables.

export {
  TickforgeClient,
  type ClientEvents,
  type ClientOptions,
  type ConnectionStatus,
  type Disconnected,
  type JoinedRoom,
  type Player,
  type Resumed,
  type RttSample,
  type StateUpdate,
  type TokenRequest,
  type Welcome,
  type WebSocketFactory,
  type WebSocketLike,
} from "./client.js";
export { fetchGuestSession, type FetchLike, type GuestSession, type GuestSessionOptions } from "./guest.js";
export { DEFAULT_RECONNECT, backoffDelay, type ReconnectOptions } from "./backoff.js";
export {
  CLIENT_FRAME_ID,
  CLIENT_LIMITS,
  ErrorCode,
  PROTOCOL_VERSION,
  SERVER_FRAME_ID,
  SERVER_LIMITS,
  SUBPROTOCOL,
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
  errorCodeName,
  type ClientMsg,
  type PlayerAck,
  type PlayerInfo,
  type ServerMsg,
} from "./codec.js";
export {
  ARENA_LIMITS,
  ARENA_STATE_ID,
  ARENA_STATE_LIMITS,
  BOOST,
  arenaMove,
  decodeArenaInput,
  decodeArenaSave,
  decodeArenaState,
  encodeArenaInput,
  encodeArenaSave,
  encodeArenaState,
  type ArenaEntityState,
  type ArenaMove,
  type ArenaSaveData,
  type ArenaStateView,
} from "./arena.js";
export {
  AccessDeniedError,
  CloseError,
  ConnectError,
  DecodeError,
  GuestSessionError,
  RateLimitedError,
  RedirectError,
  RefusedError,
  StateError,
  TickforgeError,
  TimeoutError,
  isAccessDeniedClose,
  isRateLimitClose,
  isRetryableClose,
  type AccessDenial,
  type DecodeLabel,
  type ErrorKind,
  type GuestSessionFailure,
  type RateLimit,
  type TokenRejection,
} from "./errors.js";
export { InvalidFlatbuffer, verify, type InvalidReason, type VerifierLimits } from "./verifier.js";
export { SDK_VERSION } from "./version.js";
export { Replica, ReplicaError, isInterestState, type Applied as ReplicaApplied, type ReplicatedEntity } from "./replication.js";
export * as wire from "./generated/tickforge/v1.js";
export * as arena from "./generated/tickforge/arena.js";
