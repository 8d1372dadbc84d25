// TickforgeClient: one player's connection to a tickforge server from a
// browser (or any runtime with a WebSocket). It says Hello with a session
// token (fetched again before every reconnect when a provider is given), joins rooms,
// sends inputs with sequence numbers and timestamps, hands every State to
// the game with the player's own input ack, measures the round trip,
// notices a silent server, and reopens a dropped connection with
// exponential backoff and jitter: within the server's resume grace it takes
// its held seat back (same room, same entity, acks continuing), else it joins
// the same room again; it follows a room that moved to another node. Every
// failure is a typed TickforgeError; nothing the server sends can make it
// throw anything else.

import * as flatbuffers from "flatbuffers";

import { DEFAULT_RECONNECT, backoffDelay, type ReconnectOptions } from "./backoff.js";
import {
  ErrorCode,
  SUBPROTOCOL,
  decodeServerFrame,
  encodeClientFrame,
  errorCodeName,
  type ClientMsg,
  type PlayerAck,
  type PlayerInfo,
  type ServerMsg,
} from "./codec.js";
import {
  AccessDeniedError,
  CloseError,
  ConnectError,
  DecodeError,
  RedirectError,
  RefusedError,
  StateError,
  TickforgeError,
  TimeoutError,
  serverCloseError,
} from "./errors.js";
import { SDK_VERSION } from "./version.js";

/** The part of the WebSocket API the client uses (browsers' WebSocket has it). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a WebSocket offering `protocols`. */
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

/** Where the client is in its life. */
export type ConnectionStatus = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** What a `tokenProvider` is called for. */
export interface TokenRequest {
  /** 0 for `connect()`, else the number of the reconnect attempt. */
  readonly attempt: number;
  /**
   * The refusal (a 4003) of the token this call replaces, or null: a
   * provider that caches tokens must not hand the same one out again.
   */
  readonly rejected: AccessDeniedError | null;
}

/** How to connect: `url`, and a `token`, a `tokenProvider` or (for servers that take ids on trust) a `playerId`. */
export interface ClientOptions<S = Uint8Array> {
  /** WebSocket URL of the server's `/ws`, e.g. `ws://127.0.0.1:7700/ws`. */
  readonly url: string;
  /**
   * Player id sent in Hello: up to 128 bytes of UTF-8. With a token it may
   * be left out (it is sent empty): the server takes the token's subject,
   * and refuses a different id with 4003 `auth_subject_mismatch`.
   */
  readonly playerId?: string;
  /** Session token sent in Hello: a JWT whose subject is the player id (see {@link fetchGuestSession}). */
  readonly token?: string;
  /**
   * Gives the token for each Hello: called before `connect()` opens its
   * socket and before every reconnect attempt (a token is checked only at
   * Hello, and every reconnect needs a valid one). Wins over `token`. When
   * it throws, the attempt fails with a retryable {@link ConnectError}; when
   * it takes longer than `requestTimeoutMs`, with a {@link TimeoutError}.
   */
  readonly tokenProvider?: (request: TokenRequest) => Promise<string> | string;
  /** Client version sent in Hello. Default `tickforge-ts/<version>`. */
  readonly clientVersion?: string;
  /** Decodes the game's state bytes (e.g. `decodeArenaState`); may throw. Default: the bytes themselves. */
  readonly decodeState?: (bytes: Uint8Array) => S;
  /** Longest wait for Welcome, Joined, Left and Pong, in ms. Default 10000. */
  readonly requestTimeoutMs?: number;
  /** Ping period for the RTT, in ms; 0 turns automatic pings off. Default 2000. */
  readonly pingIntervalMs?: number;
  /**
   * A connection from which nothing arrived this long (ms) is considered
   * dead and reopened. Watched while pings are on or while in a room. Default 10000.
   */
  readonly silenceTimeoutMs?: number;
  /** Reconnect policy, or `false` to stay closed after a drop. */
  readonly reconnect?: Partial<ReconnectOptions> | false;
  /**
   * Whether a dropped connection is worth reopening. Default:
   * {@link CloseError.retryable}, timeouts and a failed token provider. Not
   * asked about an {@link AccessDeniedError}: 4004–4006 are never retried,
   * 4003 once with a fresh token from the `tokenProvider`.
   */
  readonly shouldReconnect?: (error: TickforgeError) => boolean;
  /** Join the same room again after a reconnect (by id, else by its mode). Default true. */
  readonly rejoin?: boolean;
  /**
   * Take the seat back after an unexpected drop: while the server holds it
   * (`Welcome.resumeGraceMs` after the drop), a reconnect presents the
   * connection's resume token and lands in the same room with the same
   * entity (the `resumed` event) instead of joining again. Default true.
   */
  readonly resume?: boolean;
  /** Opens WebSockets. Default: the global `WebSocket`. */
  readonly webSocket?: WebSocketFactory;
  /** Random numbers in [0, 1) for the reconnect jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** The server's Welcome. */
export interface Welcome {
  readonly sessionId: bigint;
  readonly nodeId: string;
  /** The node's default tick rate; each room announces its own. */
  readonly tickRateHz: number;
  /** Server clock, µs since the UNIX epoch. */
  readonly serverTimeUs: number;
  readonly protocolVersion: number;
  /** The verified player id: the token's subject (from servers before identity: the `playerId` option). */
  readonly playerId: string;
  /** The player's display name as others see it (from servers before identity: the player id). */
  readonly name: string;
  /** How long the server holds this connection's seat after a drop, in ms (0: no resume). */
  readonly resumeGraceMs: number;
  /** This connection took a held seat back: a `resumed` event follows (not `joined`). */
  readonly resumed: boolean;
}

/** A member of a room. */
export interface Player {
  readonly entityId: number;
  /** The display name to show (from servers before identity: the member's player id). */
  readonly name: string;
  /**
   * `PlayerInfo.player_id` as sent: servers with identity never tell other
   * players' ids and put the display name here too; older servers put the
   * id from Hello. Show `name`.
   */
  readonly playerId: string;
  /** The member's connection dropped; the server holds its seat for a resume (see the `playerAway` event). */
  readonly away: boolean;
}

/** The room the player is in, as announced by Joined. */
export interface JoinedRoom<S> {
  readonly roomId: string;
  readonly mode: string;
  /** The player's own entity. */
  readonly entityId: number;
  readonly tick: number;
  readonly tickRateHz: number;
  readonly capacity: number;
  /** Full game state at `tick`. */
  readonly state: S;
  /** Members at join time, the player included. */
  readonly players: readonly Player[];
}

/** One tick of the room. */
export interface StateUpdate<S> {
  readonly tick: number;
  /** Server clock when the tick was encoded, µs since the UNIX epoch. */
  readonly serverTimeUs: number;
  readonly state: S;
  /** The last input sequence the room applied for this player (0: none yet; null: no ack for the player). */
  readonly ack: number | null;
  /** Every member's ack. */
  readonly acks: readonly PlayerAck[];
  /** When the frame arrived, in `performance.now()` ms. */
  readonly receivedAt: number;
}

/** A round-trip measurement. */
export interface RttSample {
  readonly rttMs: number;
  /** Smoothed over recent samples (weight 1/8 per sample). */
  readonly smoothedRttMs: number;
}

/** The connection dropped. */
export interface Disconnected {
  /** Why: a {@link CloseError}, or a {@link RedirectError} when the room moved to another node. */
  readonly error: TickforgeError;
  /** Whether another attempt is scheduled. */
  readonly reconnecting: boolean;
  /** Whether that attempt offers the resume token to take the held seat back. */
  readonly resuming: boolean;
  /** Number of the scheduled attempt (1 for the first after a drop). */
  readonly attempt: number;
  /** Delay before that attempt, in ms. */
  readonly delayMs: number;
}

/** The client took its held seat back after a drop (or followed its room to another node). */
export interface Resumed<S> {
  /** The room as the resumed Joined announced it: the same room and entity, the full state, the members. */
  readonly room: JoinedRoom<S>;
  /** Ticks the player missed: from the last tick seen before the drop to `room.tick`. */
  readonly gapTicks: number;
  /** Time from the drop (or the Redirect) to the resumed Joined, in ms. */
  readonly gapMs: number;
  /** The last input sequence the room applied for the player; later inputs continue after it. */
  readonly lastInputSeq: number;
  /** Inputs sent before the drop that the room never applied (they were lost with the connection). */
  readonly lostInputs: number;
  /** Whether the room moved to another node (an unasked Redirect) rather than the connection dropping. */
  readonly moved: boolean;
}

/** Events of a {@link TickforgeClient} and what each listener receives. */
export interface ClientEvents<S> {
  /** The status changed. */
  status: ConnectionStatus;
  /** The server said Welcome: after `connect()` and after every reconnect. */
  welcome: Welcome;
  /** The player entered a room (also after a reconnect's rejoin; not after a resume). */
  joined: JoinedRoom<S>;
  /**
   * A reconnect took the held seat back: the same room and entity, with the
   * full state and the gap. No `joined` (and no `left`) comes with it.
   */
  resumed: Resumed<S>;
  /** A tick of the room. */
  state: StateUpdate<S>;
  /** Another player entered the room. */
  playerJoined: Player;
  /** Another player left the room. */
  playerLeft: Player;
  /** Another member's connection dropped (`away`: its seat is held for a resume) or came back. */
  playerAway: Player;
  /** The player left the room. */
  left: { readonly roomId: string };
  /** A new round-trip measurement. */
  rtt: RttSample;
  /** Something went wrong that no call is waiting for: an unsolicited Error, a failed rejoin, the room closing. */
  error: TickforgeError;
  /** The connection dropped; see `reconnecting`. */
  disconnected: Disconnected;
  /** The client stopped for good: `close()` was called, the drop was not retryable, or the attempts ran out. */
  closed: TickforgeError;
}

type Listener<T> = (value: T) => void;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: TickforgeError): void;
  timer: ReturnType<typeof setTimeout>;
}

interface Room<S> {
  info: JoinedRoom<S>;
  players: Map<number, Player>;
}

/** How the room was entered: what a reconnect tries when the room is gone. */
interface RejoinTarget {
  roomId: string;
  mode: string;
  private: boolean;
}

/** What a reconnect presents to take a dropped connection's seat back. */
interface ResumeTicket {
  readonly token: string;
  /** `performance.now()` after which the server no longer holds the seat. */
  readonly deadline: number;
  /** The last tick seen before the drop. */
  readonly lastTick: number;
  /** `performance.now()` at the drop. */
  readonly droppedAt: number;
  /** Given by an unasked Redirect: the room moved to another node. */
  readonly moved: boolean;
}

interface PingSent {
  sentAt: number;
  pending: Pending<number> | null;
}

const MAX_PLAYER_ID_BYTES = 128;
const ACCESS_TOKEN_REFUSED = 4003;
/**
 * The close code of a connection the client lets go of to open another one
 * (a silent server, a Redirect): any code but 1000 tells the server to hold
 * the seat for a resume.
 */
const CLOSE_KEEP_SEAT = 4100;
/** How long a Redirect's resume token is tried when the server announced no grace. */
const REDIRECT_GRACE_MS = 15_000;
const CLOSE_WAIT_MS = 2000;
/** How long an error event may go without the close event that should follow it. */
const ERROR_CLOSE_WAIT_MS = 1000;
const utf8 = new TextEncoder();

function globalWebSocket(url: string, protocols: string[]): WebSocketLike {
  const ctor = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => unknown }).WebSocket;
  if (typeof ctor !== "function") {
    throw new ConnectError("this runtime has no global WebSocket: pass options.webSocket");
  }
  return new ctor(url, protocols) as WebSocketLike;
}

/** Wall clock in µs since the UNIX epoch. */
function nowMicros(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

/** A member as the client shows it: the display name, else (older servers) the player id. */
function toPlayer(p: PlayerInfo): Player {
  const playerId = p.playerId ?? "";
  return { entityId: p.entityId, name: p.name || playerId, playerId, away: p.away };
}

/** A 64-bit protocol value as a number (exact below 2^53: µs timestamps and ticks are). */
function num(value: bigint): number {
  return Number(value);
}

/**
 * A connection to a tickforge server for one player.
 *
 * ```ts
 * const session = await fetchGuestSession("http://localhost:7700", "Ada");
 * const client = new TickforgeClient({ url: "ws://localhost:7700/ws", token: session.token, decodeState: decodeArenaState });
 * client.onState(({ tick, state, ack }) => draw(state));
 * await client.connect();
 * const room = await client.joinOrCreate("arena");
 * client.sendInput(encodeArenaInput(arenaMove(1, 0)));
 * ```
 */
export class TickforgeClient<S = Uint8Array> {
  private readonly url: string;
  private readonly playerId: string;
  private readonly token: string | null;
  private readonly tokenProvider: ((request: TokenRequest) => Promise<string> | string) | null;
  private readonly clientVersion: string;
  private readonly decodeState: (bytes: Uint8Array) => S;
  private readonly requestTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly silenceTimeoutMs: number;
  private readonly reconnectOptions: ReconnectOptions | null;
  private readonly shouldReconnect: (error: TickforgeError) => boolean;
  private readonly rejoinAfterReconnect: boolean;
  private readonly resumeAfterDrop: boolean;
  private readonly webSocket: WebSocketFactory;
  private readonly random: () => number;
  private readonly builder = new flatbuffers.Builder(256);
  private readonly listeners = new Map<keyof ClientEvents<S>, Set<Listener<never>>>();

  private currentStatus: ConnectionStatus = "idle";
  private socket: WebSocketLike | null = null;
  /** Incremented whenever a socket is let go of: events of older sockets are ignored. */
  private socketGeneration = 0;
  private opening: Pending<Welcome> | null = null;
  private connecting: Promise<Welcome> | null = null;
  private welcomeInfo: Welcome | null = null;
  private hadSession = false;
  /** Set by `close()`: the error the end of the connection is reported with. */
  private closeError: CloseError | null = null;
  private closeWaiters: (() => void)[] = [];
  private room: Room<S> | null = null;
  private rejoinTarget: RejoinTarget | null = null;
  /** Whether the room being joined is private (created private, or rejoined as such). */
  private joiningPrivate = false;
  /** A 4003 the next Hello's token must replace. */
  private rejectedToken: AccessDeniedError | null = null;
  /** Whether this attempt sequence already retried after a 4003 (reset by every Welcome). */
  private tokenRetried = false;
  /** Incremented by `close()`: an attempt waiting for its token gives up when it changed. */
  private lifetime = 0;
  private pendingJoin: Pending<JoinedRoom<S>> | null = null;
  private pendingLeave: Pending<void> | null = null;
  private readonly pings = new Map<number, PingSent>();
  /** The current connection's resume token and grace (from its Welcome). */
  private resumeToken: string | null = null;
  private resumeGraceMs = 0;
  /** The seat a reconnect tries to take back, while the server may still hold it. */
  private ticket: ResumeTicket | null = null;
  /** The ticket the Hello of the connection being opened carried. */
  private offeredTicket: ResumeTicket | null = null;
  /** After a Welcome with `resumed`: waiting for its Joined. */
  private awaitingResume: { ticket: ResumeTicket; timer: ReturnType<typeof setTimeout> } | null = null;
  /** Where a Redirect moved the room: used instead of `url` until a connection there fails without a seat to resume. */
  private redirectUrl: string | null = null;
  /** The last tick seen in the room. */
  private lastTick = 0;
  /** The last input sequence sent before the current seat was taken: the room applies only later ones. */
  private seatStartSeq = 0;
  private nextSeq = 1;
  private nextNonce = 1;
  private lastSeq = 0;
  private lastReceivedAt = 0;
  private lastPingAt = 0;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private lastRtt: number | null = null;
  private smoothedRtt: number | null = null;

  constructor(options: ClientOptions<S>) {
    const playerId = options.playerId ?? "";
    const idBytes = utf8.encode(playerId).length;
    if (idBytes > MAX_PLAYER_ID_BYTES) {
      throw new RangeError(`playerId must be at most ${MAX_PLAYER_ID_BYTES} bytes of UTF-8, not ${idBytes}`);
    }
    if (idBytes === 0 && !options.token && !options.tokenProvider) {
      throw new RangeError("give a token, a tokenProvider or a playerId: the server needs to know who plays");
    }
    this.url = options.url;
    this.playerId = playerId;
    this.token = options.token ?? null;
    this.tokenProvider = options.tokenProvider ?? null;
    this.clientVersion = options.clientVersion ?? `tickforge-ts/${SDK_VERSION}`;
    this.decodeState = options.decodeState ?? ((bytes: Uint8Array) => bytes as unknown as S);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 2000;
    this.silenceTimeoutMs = options.silenceTimeoutMs ?? 10_000;
    this.reconnectOptions = options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.shouldReconnect =
      options.shouldReconnect ??
      ((e) => (e instanceof CloseError ? e.retryable : e instanceof TimeoutError || (e instanceof ConnectError && e.retryable)));
    this.rejoinAfterReconnect = options.rejoin ?? true;
    this.resumeAfterDrop = options.resume ?? true;
    this.webSocket = options.webSocket ?? globalWebSocket;
    this.random = options.random ?? Math.random;
  }

  // ------------------------------------------------------------ state

  /** Where the client is in its life. */
  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** The last Welcome, while connected. */
  get welcome(): Welcome | null {
    return this.currentStatus === "open" ? this.welcomeInfo : null;
  }

  /** The room the player is in, or null. */
  get joinedRoom(): JoinedRoom<S> | null {
    return this.room?.info ?? null;
  }

  /** Current members of the room, the player included. */
  get players(): readonly Player[] {
    return this.room ? [...this.room.players.values()] : [];
  }

  /** The player's entity in the room, or null. */
  get entityId(): number | null {
    return this.room?.info.entityId ?? null;
  }

  /** Sequence number of the last input sent (0: none yet). */
  get lastInputSeq(): number {
    return this.lastSeq;
  }

  /** The last round-trip time in ms, or null before the first Pong. */
  get rttMs(): number | null {
    return this.lastRtt;
  }

  /** The smoothed round-trip time in ms, or null before the first Pong. */
  get smoothedRttMs(): number | null {
    return this.smoothedRtt;
  }

  // ------------------------------------------------------------ events

  /** Calls `listener` on every `event`; returns a function that stops it. */
  on<K extends keyof ClientEvents<S>>(event: K, listener: Listener<ClientEvents<S>[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => {
      set.delete(listener as Listener<never>);
    };
  }

  /** Calls `listener` with every tick of the room: the decoded state and the player's own ack. */
  onState(listener: Listener<StateUpdate<S>>): () => void {
    return this.on("state", listener);
  }

  private emit<K extends keyof ClientEvents<S>>(event: K, value: ClientEvents<S>[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<ClientEvents<S>[K]>)(value);
      } catch (e) {
        // A failing listener is the game's bug: report it without breaking the connection.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.currentStatus === status) return;
    this.currentStatus = status;
    this.emit("status", status);
  }

  // ------------------------------------------------------------ connecting

  /**
   * Opens the connection, says Hello and resolves with the Welcome. One
   * attempt: it rejects with a {@link CloseError}, {@link ConnectError} or
   * {@link TimeoutError}. Once connected, a dropped connection is reopened
   * on its own (see `reconnect`).
   */
  connect(): Promise<Welcome> {
    if (this.currentStatus === "open" && this.welcomeInfo) return Promise.resolve(this.welcomeInfo);
    if (this.connecting) return this.connecting;
    if (this.currentStatus === "reconnecting") {
      return Promise.reject(new StateError("the client is reconnecting; wait for the welcome event"));
    }
    this.closeError = null;
    this.hadSession = false;
    this.ticket = null;
    this.redirectUrl = null;
    this.attempt = 0;
    this.tokenRetried = false;
    this.rejectedToken = null;
    this.setStatus("connecting");
    const connecting: Promise<Welcome> = this.openRetryingRefusedToken().then(
      (welcome) => {
        if (this.connecting === connecting) this.connecting = null;
        return welcome;
      },
      (error: TickforgeError) => {
        // After close() (and maybe a new connect()), the status is no longer this attempt's.
        if (this.connecting === connecting) {
          this.connecting = null;
          this.setStatus("closed");
        }
        throw error;
      },
    );
    this.connecting = connecting;
    return connecting;
  }

  /** `connect()`'s attempt: one more, at once, when a token provider may replace a refused token. */
  private async openRetryingRefusedToken(): Promise<Welcome> {
    try {
      return await this.open();
    } catch (e) {
      if (!this.mayRetryRefusedToken(e)) throw e;
      return await this.open();
    }
  }

  /**
   * Whether `error` is a 4003 that a fresh token may cure, once per attempt
   * sequence; if so, the next Hello asks the provider for a token replacing
   * the refused one.
   */
  private mayRetryRefusedToken(error: unknown): boolean {
    const cure =
      error instanceof AccessDeniedError &&
      error.code === ACCESS_TOKEN_REFUSED &&
      this.tokenProvider !== null &&
      !this.tokenRetried &&
      this.closeError === null;
    if (cure) {
      this.tokenRetried = true;
      this.rejectedToken = error;
    }
    return cure;
  }

  /** The Hello of the next attempt, with a token from the provider when there is one. */
  private async helloFrame(): Promise<Uint8Array> {
    let token = this.token;
    const provider = this.tokenProvider;
    if (provider) {
      const request: TokenRequest = { attempt: this.attempt, rejected: this.rejectedToken };
      this.rejectedToken = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError("token", this.requestTimeoutMs)), this.requestTimeoutMs);
      });
      try {
        token = await Promise.race([Promise.resolve().then(() => provider(request)), timeout]);
      } catch (e) {
        if (e instanceof TimeoutError) throw e;
        throw new ConnectError(`the token provider failed: ${String(e)}`, { cause: e, retryable: true });
      } finally {
        clearTimeout(timer);
      }
      if (typeof token !== "string") {
        throw new ConnectError(`the token provider gave ${typeof token}, not a string`, { retryable: true });
      }
    }
    const ticket = this.ticket;
    if (ticket && performance.now() >= ticket.deadline) this.ticket = null; // the seat is gone: join again
    this.offeredTicket = this.ticket;
    const resumeToken = this.offeredTicket?.token ?? null;
    return encodeClientFrame({ type: "hello", playerId: this.playerId, token, clientVersion: this.clientVersion, resumeToken }, this.builder);
  }

  /** Gets the Hello ready, opens one socket and resolves when its Welcome arrives. */
  private async open(): Promise<Welcome> {
    const lifetime = this.lifetime;
    const hello = await this.helloFrame();
    if (this.closeError || lifetime !== this.lifetime) {
      // close() was called while the token was being fetched.
      throw this.closeError ?? new CloseError(1000, "client_close", true);
    }
    return this.openSocket(this.redirectUrl ?? this.url, hello);
  }

  private openSocket(url: string, hello: Uint8Array): Promise<Welcome> {
    return new Promise<Welcome>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = this.webSocket(url, [SUBPROTOCOL]);
      } catch (e) {
        reject(e instanceof TickforgeError ? e : new ConnectError(`cannot open ${url}: ${String(e)}`, { cause: e }));
        return;
      }
      const generation = ++this.socketGeneration;
      this.socket = ws;
      this.opening = {
        resolve,
        reject,
        timer: setTimeout(() => this.drop(new TimeoutError("Welcome", this.requestTimeoutMs)), this.requestTimeoutMs),
      };
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        if (generation === this.socketGeneration) this.onOpen(ws, hello);
      };
      ws.onmessage = (event) => {
        if (generation === this.socketGeneration) this.onMessage(event.data);
      };
      ws.onclose = (event) => {
        if (generation === this.socketGeneration) this.onClose(event.code, event.reason);
      };
      ws.onerror = () => {
        if (generation !== this.socketGeneration) return;
        // Browsers follow an error with a close event carrying the code; some
        // runtimes (Node 20's WebSocket, when the connection is refused) do not.
        if (this.opening) {
          this.drop(new CloseError(1006, ""));
        } else {
          setTimeout(() => {
            if (generation === this.socketGeneration) this.drop(new CloseError(1006, ""));
          }, ERROR_CLOSE_WAIT_MS);
        }
      };
    });
  }

  private onOpen(ws: WebSocketLike, hello: Uint8Array): void {
    if (ws.protocol !== SUBPROTOCOL) {
      this.drop(new ConnectError(`the server did not accept the subprotocol ${SUBPROTOCOL} (got "${ws.protocol}")`));
      return;
    }
    this.send(hello);
  }

  private onMessage(data: unknown): void {
    this.lastReceivedAt = performance.now();
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) {
      bytes = new Uint8Array(data);
    } else if (ArrayBuffer.isView(data)) {
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      this.drop(new CloseError(1003, "text_frame", true));
      return;
    }
    let msg: ServerMsg;
    try {
      msg = decodeServerFrame(bytes);
    } catch (e) {
      // A message type of a newer server: not for this client.
      if (e instanceof DecodeError && e.unknownMessageType !== null) return;
      const error = e instanceof DecodeError ? e : new DecodeError("bad_frame", String(e));
      this.drop(new CloseError(error.label === "bad_frame" ? 1007 : 1008, error.label, true, { cause: error }));
      return;
    }
    try {
      this.dispatch(msg);
    } catch (e) {
      // decodeState threw: the game state in a valid frame is not what the game expects.
      const cause = e instanceof TickforgeError ? e : new DecodeError("bad_frame", String(e));
      this.drop(new CloseError(1007, "bad_state", true, { cause }));
    }
  }

  private onClose(code: number, reason: string): void {
    this.socket = null;
    this.socketGeneration++;
    this.dropped(serverCloseError(code, reason));
  }

  /** Lets go of the socket because of `error` found on this side, then handles the drop. */
  private drop(error: TickforgeError): void {
    const ws = this.socket;
    this.socket = null;
    this.socketGeneration++;
    if (ws) {
      // A connection the client reopens keeps its seat on the server for a resume.
      const code = this.closeError === null && this.willReconnect(error) ? CLOSE_KEEP_SEAT : 1000;
      try {
        ws.close(code, error instanceof CloseError ? error.reason : error.kind);
      } catch {
        // The socket is going away either way.
      }
    }
    this.dropped(error);
  }

  /** The socket is gone: settle what waited for it, then reconnect or stop. */
  private dropped(error: TickforgeError): void {
    this.stopHeartbeat();
    // After close(), everything ends with the caller's close, whatever the socket said.
    const reported = this.closeError ?? error;
    const opening = this.opening;
    if (opening) {
      this.opening = null;
      clearTimeout(opening.timer);
      opening.reject(reported);
      return;
    }
    this.failPending(reported);
    const room = this.room;
    this.room = null;
    if (this.closeError) {
      this.finishClose(this.closeError);
      return;
    }
    // A Redirect brought its own ticket; otherwise the seat of the room just lost.
    if (!this.ticket && room && this.resumeAfterDrop && this.resumeToken && this.resumeGraceMs > 0) {
      const now = performance.now();
      this.ticket = { token: this.resumeToken, deadline: now + this.resumeGraceMs, lastTick: this.lastTick, droppedAt: now, moved: false };
    }
    this.resumeToken = null;
    this.scheduleReconnect(error, 1);
  }

  /** Whether a drop for `error` is followed by another attempt (before counting attempts). */
  private willReconnect(error: TickforgeError): boolean {
    if (this.reconnectOptions === null || !this.hadSession) return false;
    if (error instanceof RedirectError) return this.ticket !== null;
    if (error instanceof AccessDeniedError) return false;
    return this.shouldReconnect(error);
  }

  /**
   * A 4003 of a Hello that carried a resume token (`auth_resume_expired`:
   * the seat is gone; another reason may name the resume token as well as
   * the session token). The next attempt goes without it: if the session
   * token was at fault, that one is refused in turn and handled as such.
   */
  private isRefusedResume(error: TickforgeError): boolean {
    return error instanceof AccessDeniedError && error.code === ACCESS_TOKEN_REFUSED && this.offeredTicket !== null;
  }

  private scheduleReconnect(error: TickforgeError, attempt: number): void {
    const options = this.reconnectOptions;
    // Without a seat to take back the next attempt joins again, at once.
    const atOnce = this.isRefusedResume(error) || (error instanceof RedirectError && this.ticket !== null);
    if (this.isRefusedResume(error)) this.ticket = null;
    let worthIt: boolean;
    if (atOnce) worthIt = true;
    else if (error instanceof AccessDeniedError) worthIt = this.mayRetryRefusedToken(error);
    else worthIt = this.shouldReconnect(error);
    this.offeredTicket = null;
    const retry = options !== null && this.hadSession && attempt <= options.maxAttempts && worthIt;
    if (!retry) {
      this.ticket = null;
      this.redirectUrl = null;
      this.setStatus("closed");
      this.emit("disconnected", { error, reconnecting: false, resuming: false, attempt, delayMs: 0 });
      this.emit("closed", error);
      return;
    }
    const delayMs = atOnce ? 0 : backoffDelay(attempt, options, this.random);
    this.attempt = attempt;
    this.setStatus("reconnecting");
    this.emit("disconnected", { error, reconnecting: true, resuming: this.ticket !== null, attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.reconnect();
    }, delayMs);
  }

  private reconnect(): void {
    const lifetime = this.lifetime;
    this.open().then(
      (welcome) => {
        // A resumed Joined follows; or the connection is gone again (a Redirect to the seat).
        if (welcome.resumed || this.currentStatus !== "open") return;
        const target = this.rejoinTarget;
        if (target && this.rejoinAfterReconnect) void this.rejoin(target);
      },
      (error: TickforgeError) => {
        if (this.closeError || lifetime !== this.lifetime) return;
        // A moved room's node that cannot be reached, with no seat held there: back to the configured URL.
        if (!this.ticket) this.redirectUrl = null;
        this.scheduleReconnect(error, this.attempt + 1);
      },
    );
  }

  private async rejoin(target: RejoinTarget): Promise<void> {
    try {
      try {
        await this.joinWith({ type: "joinRoom", roomId: target.roomId, mode: null, private: false }, target.private);
        return;
      } catch (e) {
        const gone = e instanceof RefusedError && (e.code === ErrorCode.RoomNotFound || e.code === ErrorCode.RoomFull);
        if (!gone || !target.mode) throw e;
      }
      // A private room is replaced by a new private one, never by a listed room.
      await (target.private ? this.createPrivate(target.mode) : this.joinOrCreate(target.mode));
    } catch (e) {
      // A drop during the rejoin is reported by the drop itself, and so is a Redirect to the seat.
      const followed = e instanceof RedirectError && this.ticket !== null;
      if (e instanceof TickforgeError && !(e instanceof CloseError) && !followed) this.emit("error", e);
    }
  }

  private failPending(error: TickforgeError): void {
    if (this.awaitingResume) {
      clearTimeout(this.awaitingResume.timer);
      this.awaitingResume = null;
    }
    const join = this.pendingJoin;
    const leave = this.pendingLeave;
    this.pendingJoin = null;
    this.pendingLeave = null;
    if (join) {
      clearTimeout(join.timer);
      join.reject(error);
    }
    if (leave) {
      clearTimeout(leave.timer);
      leave.reject(error);
    }
    for (const sent of this.pings.values()) {
      if (sent.pending) {
        clearTimeout(sent.pending.timer);
        sent.pending.reject(error);
      }
    }
    this.pings.clear();
  }

  // ------------------------------------------------------------ messages

  private dispatch(msg: ServerMsg): void {
    switch (msg.type) {
      case "welcome":
        return this.onWelcome(msg);
      case "joined":
        return this.onJoined(msg);
      case "state":
        return this.onState_(msg);
      case "playerJoined": {
        const player = toPlayer(msg.player);
        this.room?.players.set(player.entityId, player);
        this.emit("playerJoined", player);
        return;
      }
      case "playerLeft": {
        const player = toPlayer(msg.player);
        this.room?.players.delete(player.entityId);
        this.emit("playerLeft", player);
        return;
      }
      case "playerAway": {
        const player = { ...toPlayer(msg.player), away: msg.away };
        if (this.room?.players.has(player.entityId)) this.room.players.set(player.entityId, player);
        this.emit("playerAway", player);
        return;
      }
      case "left": {
        this.room = null;
        const leave = this.pendingLeave;
        this.pendingLeave = null;
        if (leave) {
          clearTimeout(leave.timer);
          leave.resolve();
        }
        this.emit("left", { roomId: msg.roomId ?? "" });
        return;
      }
      case "pong":
        return this.onPong(msg.nonce);
      case "error":
        return this.onError(new RefusedError(msg.code, errorCodeName(msg.code), msg.message ?? ""));
      case "redirect":
        // A Redirect with a resume token answers no join: the seat is at `url` (the room moved,
        // or a resume reached a node that does not hold the seat).
        if (msg.resumeToken && msg.url) return this.followRoom(msg.url, msg.roomId ?? "", msg.resumeToken);
        return this.onError(new RedirectError(msg.url ?? "", msg.roomId ?? ""));
    }
  }

  private onWelcome(msg: Extract<ServerMsg, { type: "welcome" }>): void {
    const opening = this.opening;
    if (!opening) {
      this.drop(new CloseError(1008, "unexpected_message", true, { cause: new DecodeError("unexpected_message", "a second Welcome") }));
      return;
    }
    this.opening = null;
    clearTimeout(opening.timer);
    const playerId = msg.playerId || this.playerId;
    const welcome: Welcome = {
      sessionId: msg.sessionId,
      nodeId: msg.nodeId ?? "",
      tickRateHz: msg.tickRateHz,
      serverTimeUs: num(msg.serverTimeUs),
      protocolVersion: msg.protocolVersion,
      playerId,
      name: msg.name || playerId,
      resumeGraceMs: msg.resumeGraceMs,
      resumed: msg.resumed,
    };
    this.welcomeInfo = welcome;
    this.resumeToken = msg.resumeToken;
    this.resumeGraceMs = msg.resumeGraceMs;
    const offered = this.offeredTicket;
    this.offeredTicket = null;
    // Taken back or not, the old seat is settled: a later drop makes a new ticket.
    this.ticket = null;
    if (msg.resumed && offered) {
      this.awaitingResume = {
        ticket: offered,
        timer: setTimeout(() => this.drop(new TimeoutError("Joined", this.requestTimeoutMs)), this.requestTimeoutMs),
      };
    }
    this.hadSession = true;
    // A Welcome ends the attempt sequence.
    this.attempt = 0;
    this.tokenRetried = false;
    this.lastPingAt = 0;
    this.setStatus("open");
    this.startHeartbeat();
    opening.resolve(welcome);
    this.emit("welcome", welcome);
  }

  private onJoined(msg: Extract<ServerMsg, { type: "joined" }>): void {
    if (msg.resumed) {
      this.onResumed(msg);
      return;
    }
    const info = this.joinedRoom_(msg);
    this.room = { info, players: new Map(info.players.map((p) => [p.entityId, p])) };
    this.lastTick = info.tick;
    this.seatStartSeq = this.lastSeq;
    this.rejoinTarget = { roomId: info.roomId, mode: info.mode, private: this.joiningPrivate };
    const join = this.pendingJoin;
    this.pendingJoin = null;
    if (join) {
      clearTimeout(join.timer);
      join.resolve(info);
    }
    this.emit("joined", info);
  }

  /** The Joined after a Welcome with `resumed`: the same seat, so no rejoin and no `joined` event. */
  private onResumed(msg: Extract<ServerMsg, { type: "joined" }>): void {
    const awaiting = this.awaitingResume;
    this.awaitingResume = null;
    if (awaiting) clearTimeout(awaiting.timer);
    const info = this.joinedRoom_(msg);
    this.room = { info, players: new Map(info.players.map((p) => [p.entityId, p])) };
    this.rejoinTarget = { roomId: info.roomId, mode: info.mode, private: this.rejoinTarget?.private ?? false };
    // Inputs continue after everything sent and everything applied: no number is used twice.
    this.nextSeq = Math.max(this.nextSeq, (msg.lastInputSeq + 1) >>> 0);
    const lastTick = awaiting?.ticket.lastTick ?? this.lastTick;
    this.lastTick = info.tick;
    this.emit("resumed", {
      room: info,
      gapTicks: Math.max(0, info.tick - lastTick),
      gapMs: awaiting ? Math.max(0, performance.now() - awaiting.ticket.droppedAt) : 0,
      lastInputSeq: msg.lastInputSeq,
      lostInputs: Math.max(0, this.lastSeq - Math.max(msg.lastInputSeq, this.seatStartSeq)),
      moved: awaiting?.ticket.moved ?? false,
    });
  }

  /** The room of a Joined, its state decoded. */
  private joinedRoom_(msg: Extract<ServerMsg, { type: "joined" }>): JoinedRoom<S> {
    return {
      roomId: msg.roomId ?? "",
      mode: msg.mode ?? "",
      entityId: msg.entityId,
      tick: num(msg.tick),
      tickRateHz: msg.tickRateHz,
      capacity: msg.capacity,
      state: this.decodeState(msg.state ?? new Uint8Array(0)),
      players: (msg.players ?? []).map(toPlayer),
    };
  }

  /**
   * An unasked Redirect with a resume token: the room moved to `url` (the
   * node drains). Lets go of this connection without giving up the seat and
   * reconnects there at once with the token.
   */
  private followRoom(url: string, roomId: string, token: string): void {
    const now = performance.now();
    const grace = this.resumeGraceMs > 0 ? this.resumeGraceMs : REDIRECT_GRACE_MS;
    this.ticket = { token, deadline: now + grace, lastTick: this.lastTick, droppedAt: now, moved: true };
    this.redirectUrl = url;
    this.drop(new RedirectError(url, roomId));
  }

  // Named with a trailing underscore: `onState` is the public listener method.
  private onState_(msg: Extract<ServerMsg, { type: "state" }>): void {
    const room = this.room;
    if (!room) return; // a tick of a room being left
    this.lastTick = num(msg.tick);
    const acks = msg.acks ?? [];
    const own = acks.find((a) => a.entityId === room.info.entityId);
    this.emit("state", {
      tick: num(msg.tick),
      serverTimeUs: num(msg.serverTimeUs),
      state: this.decodeState(msg.state ?? new Uint8Array(0)),
      ack: own ? own.lastInputSeq : null,
      acks,
      receivedAt: this.lastReceivedAt,
    });
  }

  private onPong(nonce: number): void {
    const sent = this.pings.get(nonce);
    if (!sent) return; // an answer to a ping given up on
    this.pings.delete(nonce);
    const rttMs = Math.max(0, performance.now() - sent.sentAt);
    this.lastRtt = rttMs;
    this.smoothedRtt = this.smoothedRtt === null ? rttMs : this.smoothedRtt + (rttMs - this.smoothedRtt) / 8;
    if (sent.pending) {
      clearTimeout(sent.pending.timer);
      sent.pending.resolve(rttMs);
    }
    this.emit("rtt", { rttMs, smoothedRttMs: this.smoothedRtt });
  }

  private onError(error: RefusedError | RedirectError): void {
    const join = this.pendingJoin;
    if (join) {
      this.pendingJoin = null;
      clearTimeout(join.timer);
      join.reject(error);
      return;
    }
    const leave = this.pendingLeave;
    if (leave && error instanceof RefusedError) {
      this.pendingLeave = null;
      clearTimeout(leave.timer);
      leave.reject(error);
      return;
    }
    if (error instanceof RefusedError && error.code === ErrorCode.ServerBusy && this.room) {
      // Unasked ServerBusy while in a room: the room closed under the player.
      this.room = null;
    }
    this.emit("error", error);
  }

  // ------------------------------------------------------------ requests

  private send(frame: Uint8Array): boolean {
    const ws = this.socket;
    if (!ws) return false;
    try {
      ws.send(frame);
      return true;
    } catch (e) {
      this.drop(new CloseError(1006, "send_failed", true, { cause: e }));
      return false;
    }
  }

  private encode(msg: ClientMsg): Uint8Array {
    return encodeClientFrame(msg, this.builder);
  }

  private request<T>(awaited: string, frame: Uint8Array, keep: (pending: Pending<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.forget(pending);
          reject(new TimeoutError(awaited, this.requestTimeoutMs));
        }, this.requestTimeoutMs),
      };
      keep(pending);
      this.send(frame);
    });
  }

  private forget(pending: object): void {
    if (this.pendingJoin === pending) this.pendingJoin = null;
    if (this.pendingLeave === pending) this.pendingLeave = null;
  }

  private requireOpen(what: string): void {
    if (this.currentStatus !== "open" || !this.socket) {
      throw new StateError(`cannot ${what}: the client is ${this.currentStatus}`);
    }
  }

  /** Sends a JoinRoom; `privateRoom` says what a reconnect creates when the room is gone. */
  private joinWith(msg: Extract<ClientMsg, { type: "joinRoom" }>, privateRoom = msg.private): Promise<JoinedRoom<S>> {
    try {
      this.requireOpen("join");
      if (this.awaitingResume) throw new StateError("the client is taking its seat back; wait for the resumed event");
      if (this.pendingJoin) throw new StateError("a join is already in progress");
      if (this.room) throw new StateError(`already in room ${this.room.info.roomId}: leave it first`);
    } catch (e) {
      return Promise.reject(e);
    }
    this.joiningPrivate = privateRoom;
    return this.request<JoinedRoom<S>>("Joined", this.encode(msg), (p) => {
      this.pendingJoin = p;
    });
  }

  /** Joins a room of `mode` with a free seat, or a new one; resolves with Joined or rejects with a {@link RefusedError}. */
  joinOrCreate(mode: string): Promise<JoinedRoom<S>> {
    return this.joinWith({ type: "joinRoom", roomId: null, mode, private: false });
  }

  /** Joins the room `roomId`; rejects with a {@link RefusedError} (`RoomNotFound`, `RoomFull`) or a {@link RedirectError}. */
  join(roomId: string): Promise<JoinedRoom<S>> {
    return this.joinWith({ type: "joinRoom", roomId, mode: null, private: false });
  }

  /**
   * Creates a private room of `mode` and joins it: a new room that is never
   * listed (no joinOrCreate lands in it) and is joined only by its id, so
   * share `roomId` with the friends who should come in. After a reconnect
   * the client joins it again by id, and creates a new private room if it is gone.
   */
  createPrivate(mode: string): Promise<JoinedRoom<S>> {
    return this.joinWith({ type: "joinRoom", roomId: null, mode, private: true });
  }

  /** Leaves the room; no more State events follow. */
  leave(): Promise<void> {
    try {
      this.requireOpen("leave");
      if (!this.room) throw new StateError("not in a room");
      if (this.pendingLeave) throw new StateError("already leaving");
    } catch (e) {
      return Promise.reject(e);
    }
    this.room = null;
    this.rejoinTarget = null;
    return this.request<void>("Left", this.encode({ type: "leaveRoom" }), (p) => {
      this.pendingLeave = p;
    });
  }

  /**
   * Sends one input (the game's encoding, e.g. `encodeArenaInput`) with the
   * next sequence number and the current time; returns the sequence number,
   * which comes back as `ack` in a later State once the room applied it.
   * Returns null, sending nothing, while not in a room (for example while
   * reconnecting).
   */
  sendInput(payload: Uint8Array): number | null {
    if (this.currentStatus !== "open" || !this.room) return null;
    const seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) >>> 0;
    if (!this.send(this.encode({ type: "input", seq, clientTimeUs: nowMicros(), payload }))) return null;
    this.lastSeq = seq;
    return seq;
  }

  /** Measures one round trip: resolves with the time from Ping to Pong, in ms. */
  ping(): Promise<number> {
    try {
      this.requireOpen("ping");
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<number>((resolve, reject) => {
      const nonce = this.takeNonce();
      const pending: Pending<number> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.pings.delete(nonce);
          reject(new TimeoutError("Pong", this.requestTimeoutMs));
        }, this.requestTimeoutMs),
      };
      this.sendPing(nonce, pending);
    });
  }

  private takeNonce(): number {
    const nonce = this.nextNonce;
    this.nextNonce = (this.nextNonce + 1) >>> 0;
    return nonce;
  }

  private sendPing(nonce: number, pending: Pending<number> | null): void {
    const sentAt = performance.now();
    this.lastPingAt = sentAt;
    this.pings.set(nonce, { sentAt, pending });
    this.send(this.encode({ type: "ping", clientTimeUs: nowMicros(), nonce }));
  }

  // ------------------------------------------------------------ heartbeat

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.lastReceivedAt = performance.now();
    const period = Math.max(50, Math.min(this.pingIntervalMs > 0 ? this.pingIntervalMs : Infinity, this.silenceTimeoutMs / 4));
    this.heartbeat = setInterval(() => this.beat(), period);
    if (this.pingIntervalMs > 0) this.sendPing(this.takeNonce(), null);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  private beat(): void {
    const now = performance.now();
    const watched = this.pingIntervalMs > 0 || this.room !== null;
    if (watched && now - this.lastReceivedAt > this.silenceTimeoutMs) {
      this.drop(new CloseError(1006, "server_silent", true));
      return;
    }
    // Automatic pings nobody answered are forgotten after the request timeout.
    for (const [nonce, sent] of this.pings) {
      if (!sent.pending && now - sent.sentAt > this.requestTimeoutMs) this.pings.delete(nonce);
    }
    if (this.pingIntervalMs > 0 && now - this.lastPingAt >= this.pingIntervalMs) {
      this.sendPing(this.takeNonce(), null);
    }
  }

  // ------------------------------------------------------------ closing

  /**
   * Closes the connection with 1000 and stops reconnecting; resolves once
   * the server confirmed the close (or after two seconds). Pending calls
   * reject with a {@link CloseError}; `closed` is emitted once.
   */
  close(): Promise<void> {
    if (this.currentStatus === "closed" || this.currentStatus === "idle") return Promise.resolve();
    const error = new CloseError(1000, "client_close", true);
    this.closeError = error;
    this.lifetime++;
    this.connecting = null;
    this.rejoinTarget = null;
    this.ticket = null;
    this.redirectUrl = null;
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const ws = this.socket;
    if (!ws || this.opening) {
      // Nothing to wait for: a socket still opening is dropped at once.
      if (ws) this.drop(error);
      this.finishClose(error);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.socket === ws) this.drop(error);
      }, CLOSE_WAIT_MS);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      try {
        ws.close(1000, "bye");
      } catch {
        this.drop(error);
      }
    });
  }

  private finishClose(error: TickforgeError): void {
    this.stopHeartbeat();
    this.failPending(error);
    this.room = null;
    this.setStatus("closed");
    this.emit("closed", error);
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const done of waiters) done();
  }
}
