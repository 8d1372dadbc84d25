// An in-memory stand-in for a tickforge server behind the WebSocket API, for
// the client's unit tests: it answers Hello, JoinRoom, LeaveRoom and Ping
// the way the real server does, holds a dropped member's seat for a resume
// when `resumeGraceMs` is set, lets a test send any frame or close code,
// and records what the client sent. The real server is exercised by the
// browser test and by the live test in server/tests.

import {
  SUBPROTOCOL,
  decodeClientFrame,
  encodeArenaState,
  encodeServerFrame,
  type ArenaStateView,
  type ClientMsg,
  type ServerMsg,
  type WebSocketFactory,
  type WebSocketLike,
} from "../src/index.js";

export interface FakeOptions {
  /** Subprotocol the server selects ("" for none). */
  protocol?: string;
  /** Whether sockets open at all (false: every connection fails with 1006). */
  reachable?: boolean;
  /** How a refused connection shows: an error then a close (browsers), or only an error (Node 20). */
  refusal?: "error-and-close" | "error-only";
  /** Whether Hello is answered. */
  welcome?: boolean;
  /** Whether Pings are answered. */
  pong?: boolean;
  /** Rooms that exist (join by id); join-or-create makes `room-<n>`. */
  rooms?: string[];
  /**
   * Answers a message instead of the fake (null: no answer; undefined: the
   * fake's answer). It may close `socket` (`socket.closeSoon`), as a server
   * refusing a token does.
   */
  answer?: (msg: ClientMsg, socket: FakeSocket) => ServerMsg | null | undefined;
  /**
   * Seat hold after an unexpected drop, in ms, announced in Welcome with a
   * resume token (0: no resume, the default). As the real server: not after
   * LeaveRoom, a client close with 1000, a server close with 1001 or 4003–4006.
   */
  resumeGraceMs?: number;
}

/** A seat held for a resume. */
interface HeldSeat {
  roomId: string;
  entityId: number;
  lastInputSeq: number;
  until: number;
}

export const arenaState = (entities: ArenaStateView["entities"]): Uint8Array => encodeArenaState({ width: 1000, height: 1000, entities });

/** One connection, seen from the server. */
export class FakeSocket implements WebSocketLike {
  binaryType = "blob";
  protocol = "";
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly received: ClientMsg[] = [];
  /** The frames behind `received`, as sent. */
  readonly frames: Uint8Array[] = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null;
  /** The session as the server sees it: resume token, room and entity, last applied input. */
  resumeToken: string | null = null;
  seat: { roomId: string; entityId: number; lastInputSeq: number } | null = null;
  private closed = false;

  constructor(
    readonly url: string,
    readonly protocols: string[],
    private readonly server: FakeServer,
  ) {}

  send(data: Uint8Array): void {
    if (this.closed) return;
    const msg = decodeClientFrame(data);
    this.frames.push(data.slice());
    this.received.push(msg);
    this.server.handle(this, msg);
  }

  close(code?: number, reason?: string): void {
    if (this.closed) return;
    this.closedByClient = { code, reason };
    // The server echoes the close, as a real one does, a moment later.
    setTimeout(() => this.serverClose(code ?? 1005, ""), 1);
    this.server.ended(this, code === 1000);
  }

  /** The server sends a message (or raw bytes, or text). */
  deliver(msg: ServerMsg | Uint8Array | string): void {
    if (this.closed) return;
    const data = typeof msg === "string" ? msg : msg instanceof Uint8Array ? msg : encodeServerFrame(msg);
    // Browsers hand binary frames over as an ArrayBuffer of their own.
    const payload = typeof data === "string" ? data : data.slice().buffer;
    this.onmessage?.({ data: payload });
  }

  /** The server closes the connection a moment later, as one refusing a Hello does. */
  closeSoon(code: number, reason: string): void {
    setTimeout(() => this.serverClose(code, reason), 1);
  }

  /** The server closes the connection with `code` and `reason`. */
  serverClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.server.ended(this, code === 1001 || (code >= 4003 && code <= 4006));
    this.onclose?.({ code, reason });
  }

  /** The connection breaks without a close frame (the client sees 1006). */
  breakOff(): void {
    this.serverClose(1006, "");
  }

  open(protocol: string): void {
    this.protocol = protocol;
    this.onopen?.({});
  }
}

/** The fake server: a WebSocket factory plus the server's side of every socket. */
export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly options: Required<FakeOptions>;
  private nextRoom = 1;
  private nextEntity = 1;
  private nextSession = 1n;
  /** Seats held for a resume, by resume token. */
  readonly held = new Map<string, HeldSeat>();

  constructor(options: FakeOptions = {}) {
    this.options = {
      protocol: SUBPROTOCOL,
      reachable: true,
      refusal: "error-and-close",
      welcome: true,
      pong: true,
      rooms: [],
      answer: () => undefined,
      resumeGraceMs: 0,
      ...options,
    };
  }

  /** Pass as `options.webSocket`. */
  readonly factory: WebSocketFactory = (url, protocols) => {
    const socket = new FakeSocket(url, protocols, this);
    this.sockets.push(socket);
    setTimeout(() => {
      if (this.options.reachable) {
        socket.open(this.options.protocol);
      } else {
        socket.onerror?.({});
        if (this.options.refusal === "error-and-close") socket.serverClose(1006, "");
      }
    }, 1);
    return socket;
  };

  /** The socket opened last. */
  get last(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  /** A connection ended; `deliberate`: its seat is given up rather than held. */
  ended(socket: FakeSocket, deliberate: boolean): void {
    const seat = socket.seat;
    socket.seat = null;
    if (!seat || deliberate || !socket.resumeToken || this.options.resumeGraceMs <= 0) return;
    this.held.set(socket.resumeToken, { ...seat, until: Date.now() + this.options.resumeGraceMs });
  }

  /** Answers a Hello with a resume token: the held seat back, or a refusal when it is gone. Returns whether it answered. */
  private resume(socket: FakeSocket, msg: Extract<ClientMsg, { type: "hello" }>): boolean {
    if (msg.resumeToken === null) return false;
    const seat = this.held.get(msg.resumeToken);
    this.held.delete(msg.resumeToken);
    if (!seat || seat.until < Date.now()) {
      if (msg.token !== null) return false; // an ordinary login: Welcome without resumed
      socket.closeSoon(4003, "auth_resume_expired");
      return true;
    }
    socket.deliver(this.welcomeFor(socket, msg, true));
    socket.seat = { roomId: seat.roomId, entityId: seat.entityId, lastInputSeq: seat.lastInputSeq };
    socket.deliver({
      ...this.joinedFor(seat.roomId, seat.entityId),
      tick: 40n,
      resumed: true,
      lastInputSeq: seat.lastInputSeq,
    });
    return true;
  }

  private welcomeFor(socket: FakeSocket, msg: Extract<ClientMsg, { type: "hello" }>, resumed: boolean): ServerMsg {
    const sessionId = this.nextSession++;
    socket.resumeToken = this.options.resumeGraceMs > 0 ? `resume-${sessionId}` : null;
    return {
      type: "welcome",
      sessionId,
      nodeId: "fake",
      tickRateHz: 30,
      serverTimeUs: 1_700_000_000_000_000n,
      protocolVersion: 1,
      // A server with identity: the token's subject, or the id from Hello.
      playerId: msg.playerId || "g_fake",
      name: "Ada",
      resumeToken: socket.resumeToken,
      resumeGraceMs: this.options.resumeGraceMs,
      resumed,
    };
  }

  /** A Joined of `roomId` with the player's entity. */
  joinedFor(roomId: string, entityId: number): Extract<ServerMsg, { type: "joined" }> {
    return {
      type: "joined",
      roomId,
      mode: "arena",
      entityId,
      tick: 10n,
      tickRateHz: 30,
      capacity: 8,
      state: arenaState([{ id: entityId, x: 100, y: 200, vx: 0, vy: 0, buttons: 0 }]),
      players: [{ entityId, playerId: "alice", name: "alice", away: false }],
      resumed: false,
      lastInputSeq: 0,
    };
  }

  handle(socket: FakeSocket, msg: ClientMsg): void {
    const answer = this.options.answer(msg, socket);
    if (answer !== undefined) {
      if (answer !== null) socket.deliver(answer);
      return;
    }
    switch (msg.type) {
      case "hello":
        if (this.resume(socket, msg)) return;
        if (this.options.welcome) socket.deliver(this.welcomeFor(socket, msg, false));
        return;
      case "joinRoom": {
        let roomId = msg.roomId;
        if (roomId !== null && !this.options.rooms.includes(roomId)) {
          socket.deliver({ type: "error", code: 1, message: `room ${roomId} not found` });
          return;
        }
        if (roomId === null) {
          roomId = `room-${this.nextRoom++}`;
          this.options.rooms.push(roomId);
        }
        const entityId = this.nextEntity++;
        socket.seat = { roomId, entityId, lastInputSeq: 0 };
        socket.deliver(this.joinedFor(roomId, entityId));
        return;
      }
      case "leaveRoom":
        socket.seat = null;
        socket.deliver({ type: "left", roomId: "left-room" });
        return;
      case "ping":
        if (this.options.pong) {
          socket.deliver({ type: "pong", clientTimeUs: msg.clientTimeUs, serverTimeUs: 1n, nonce: msg.nonce });
        }
        return;
      case "input":
        if (socket.seat) socket.seat.lastInputSeq = msg.seq;
        return;
    }
  }
}
