// The verifier's view of protocol/schema/*.fbs: one layout per table, slot by
// slot in schema order. Union keys and struct sizes come from the generated
// code; test/layouts.test.ts checks each layout's slot count against the
// generated builders, and the shared mutation vectors check that these
// layouts refuse exactly what the Rust verifier refuses.

import { table, type TableLayout } from "./verifier.js";
import { ClientMessage } from "./generated/tickforge/v1/client-message.js";
import { ServerMessage } from "./generated/tickforge/v1/server-message.js";
import { PlayerAck } from "./generated/tickforge/v1/player-ack.js";
import { ArenaEntity } from "./generated/tickforge/arena/arena-entity.js";

const U8 = 1;
const U16 = 2;
const U32 = 4;
const U64 = 8;
const F32 = 4;
const F64 = 8;

// ------------------------------------------------------------ client -> server

export const Hello = table("Hello", 4, (t) => {
  t.string(0, true); // player_id
  t.string(1); // token
  t.string(2); // client_version
  t.string(3); // resume_token
});

export const JoinRoom = table("JoinRoom", 3, (t) => {
  t.string(0); // room_id
  t.string(1); // mode
  t.scalar(2, U8); // private
});

export const LeaveRoom = table("LeaveRoom", 0, () => {});

export const Input = table("Input", 3, (t) => {
  t.scalar(0, U32); // seq
  t.scalar(1, U64); // client_time_us
  t.bytes(2); // payload
});

export const Ping = table("Ping", 2, (t) => {
  t.scalar(0, U64); // client_time_us
  t.scalar(1, U32); // nonce
});

const clientMessages: ReadonlyMap<number, TableLayout> = new Map([
  [ClientMessage.Hello, Hello],
  [ClientMessage.JoinRoom, JoinRoom],
  [ClientMessage.LeaveRoom, LeaveRoom],
  [ClientMessage.Input, Input],
  [ClientMessage.Ping, Ping],
]);

export const ClientFrame = table("ClientFrame", 2, (t) => {
  t.union(0, clientMessages, true); // message_type, message
});

// ------------------------------------------------------------ server -> client

export const Welcome = table("Welcome", 10, (t) => {
  t.scalar(0, U64); // session_id
  t.string(1); // node_id
  t.scalar(2, U16); // tick_rate_hz
  t.scalar(3, U64); // server_time_us
  t.scalar(4, U16); // protocol_version
  t.string(5); // player_id
  t.string(6); // name
  t.string(7); // resume_token
  t.scalar(8, U32); // resume_grace_ms
  t.scalar(9, U8); // resumed
});

export const PlayerInfo = table("PlayerInfo", 4, (t) => {
  t.scalar(0, U32); // entity_id
  t.string(1); // player_id
  t.string(2); // name
  t.scalar(3, U8); // away
});

export const Joined = table("Joined", 11, (t) => {
  t.string(0); // room_id
  t.string(1); // mode
  t.scalar(2, U32); // entity_id
  t.scalar(3, U64); // tick
  t.scalar(4, U16); // tick_rate_hz
  t.scalar(5, U16); // capacity
  t.bytes(6); // state
  t.tables(7, PlayerInfo); // players
  t.scalar(8, U8); // resumed
  t.scalar(9, U32); // last_input_seq
  t.scalar(10, U16); // view_radius_cells
});

export const State = table("State", 4, (t) => {
  t.scalar(0, U64); // tick
  t.scalar(1, U64); // server_time_us
  t.bytes(2); // state
  t.structs(3, PlayerAck.sizeOf()); // acks
});

export const PlayerJoined = table("PlayerJoined", 1, (t) => {
  t.table(0, PlayerInfo, true); // player
});

export const PlayerAway = table("PlayerAway", 2, (t) => {
  t.table(0, PlayerInfo, true); // player
  t.scalar(1, U8); // away
});

export const PlayerLeft = table("PlayerLeft", 1, (t) => {
  t.table(0, PlayerInfo, true); // player
});

export const Left = table("Left", 1, (t) => {
  t.string(0); // room_id
});

export const Pong = table("Pong", 3, (t) => {
  t.scalar(0, U64); // client_time_us
  t.scalar(1, U64); // server_time_us
  t.scalar(2, U32); // nonce
});

export const Error = table("Error", 2, (t) => {
  t.scalar(0, U16); // code
  t.string(1); // message
});

export const Redirect = table("Redirect", 3, (t) => {
  t.string(0); // url
  t.string(1); // room_id
  t.string(2); // resume_token
});

const serverMessages: ReadonlyMap<number, TableLayout> = new Map([
  [ServerMessage.Welcome, Welcome],
  [ServerMessage.Joined, Joined],
  [ServerMessage.State, State],
  [ServerMessage.PlayerJoined, PlayerJoined],
  [ServerMessage.PlayerLeft, PlayerLeft],
  [ServerMessage.Left, Left],
  [ServerMessage.Pong, Pong],
  [ServerMessage.Error, Error],
  [ServerMessage.Redirect, Redirect],
  [ServerMessage.PlayerAway, PlayerAway],
]);

export const ServerFrame = table("ServerFrame", 2, (t) => {
  t.union(0, serverMessages, true); // message_type, message
});

// ------------------------------------------------------------ arena

export const ArenaInput = table("ArenaInput", 3, (t) => {
  t.scalar(0, U8); // move_x
  t.scalar(1, U8); // move_y
  t.scalar(2, U8); // buttons
});

export const ArenaState = table("ArenaState", 3, (t) => {
  t.scalar(0, F32); // width
  t.scalar(1, F32); // height
  t.structs(2, ArenaEntity.sizeOf()); // entities
});

export const ArenaSave = table("ArenaSave", 3, (t) => {
  t.scalar(0, F32); // x
  t.scalar(1, F32); // y
  t.scalar(2, F64); // distance
});
