// What the client tests share: a client wired to a fake server with short
// timeouts, waiting for an event, and the messages a socket received.

import { TickforgeClient, decodeArenaState, type ArenaStateView, type ClientEvents, type ClientMsg, type ClientOptions } from "../src/index.js";
import type { FakeServer } from "./fake-server.js";

export type Client = TickforgeClient<ArenaStateView>;

export function client(server: FakeServer, options: Partial<ClientOptions<ArenaStateView>> = {}): Client {
  return new TickforgeClient<ArenaStateView>({
    url: "ws://game.example/ws",
    playerId: "alice",
    decodeState: decodeArenaState,
    webSocket: server.factory,
    pingIntervalMs: 0,
    requestTimeoutMs: 500,
    reconnect: { initialDelayMs: 5, maxDelayMs: 40, jitter: 0 },
    ...options,
  });
}

/** The next `event` of `c`, failing after `ms`. */
export function next<K extends keyof ClientEvents<ArenaStateView>>(c: Client, event: K, ms = 2000): Promise<ClientEvents<ArenaStateView>[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${String(event)} event within ${ms} ms`));
    }, ms);
    const stop = c.on(event, (value) => {
      clearTimeout(timer);
      stop();
      resolve(value);
    });
  });
}

export function sent<T extends ClientMsg["type"]>(server: FakeServer, type: T, socket = server.last): Extract<ClientMsg, { type: T }>[] {
  return socket.received.filter((m): m is Extract<ClientMsg, { type: T }> => m.type === type);
}
