/**
 * What the Colyseus side of the players benchmark shares between its server process (server.ts), its
 * clients process (clients.ts) and the benchmark that runs them: the room's state, the move message's
 * layout, the server's counters, and the clients' report.
 *
 * The state is what the Overworld side's step carries, less its heading: each player's `x` and `y` as
 * float32 and a uint32 send time (`sentAt`, the sender's clock in whole ms modulo 2^32), in a map of all
 * players (everyone sees everyone).
 */
import { schema, t } from "@colyseus/schema";
import type { LatencySummary } from "../../libs/bots/src/latency.ts";
import type { Tally } from "../../libs/bots/src/stats.ts";

/** The room's name in the matchmaker. */
export const ROOM_NAME = "players-bench";

/** The server sends patches every 50 ms (20 Hz), as the client agent ticks on the Overworld side. */
export const PATCH_INTERVAL_MS = 50;

export const BenchPlayer = schema({ x: t.float32(), y: t.float32(), sentAt: t.uint32() }, "BenchPlayer");
export type BenchPlayer = InstanceType<typeof BenchPlayer>;

/** Every player of the room by session id. */
export const BenchState = schema({ players: t.map(BenchPlayer) }, "BenchState");
export type BenchState = InstanceType<typeof BenchState>;

/**
 * The move a client sends 10 times a second: a bytes message (`room.sendBytes`) of this type whose
 * body is x and y as float32 and the send time as uint32, little-endian: the same 12 bytes of values
 * the state holds, with no field names or msgpack framing around them.
 */
export const MOVE_MESSAGE = 1;
export const MOVE_BYTES = 12;

export interface Move {
  readonly x: number;
  readonly y: number;
  readonly sentAt: number;
}

/** Writes a move into `into` (MOVE_BYTES long); x and y are rounded to float32 on the way. */
export function encodeMove(move: Move, into: Uint8Array): void {
  const view = new DataView(into.buffer, into.byteOffset, MOVE_BYTES);
  view.setFloat32(0, move.x, true);
  view.setFloat32(4, move.y, true);
  view.setUint32(8, move.sentAt, true);
}

/** Reads a move; undefined when the body is not MOVE_BYTES long or a coordinate is not finite. */
export function decodeMove(body: Uint8Array): Move | undefined {
  if (body.byteLength !== MOVE_BYTES) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, MOVE_BYTES);
  const x = view.getFloat32(0, true);
  const y = view.getFloat32(4, true);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return undefined;
  return { x, y, sentAt: view.getUint32(8, true) };
}

/** The server's counters on its /metrics (Prometheus text), read by the benchmark twice a second. */
export const SERVER_METRICS = {
  /**
   * WebSocket message payload bytes the server sent: every message through the transport's one send
   * path (WebSocketClient.raw: patches, full states, join handshakes), WebSocket frame headers and
   * TCP/IP headers not included; control frames (pings) are not messages and not counted.
   */
  sentBytes: "colyseus_bench_sent_bytes_total",
  /** WebSocket messages the server sent (one frame each: the transport does not fragment). */
  sentMessages: "colyseus_bench_sent_messages_total",
  /** The WebSocket frame headers those messages went out with (2 bytes up to 125, 4 up to 65,535). */
  frameHeaderBytes: "colyseus_bench_frame_header_bytes_total",
  /** Moves applied to the state, and moves refused (a body of another length, a coordinate not finite). */
  moves: "colyseus_bench_moves_total",
  movesRefused: "colyseus_bench_moves_refused_total",
  /** Clients in rooms now (a gauge): 0 between runs. */
  clients: "colyseus_bench_clients",
} as const;

/** What the clients process writes to its --json file. */
export interface ClientsReport {
  readonly options: {
    readonly count: number;
    readonly rate: number;
    readonly durationSeconds: number;
    readonly warmupSeconds: number;
    readonly ramp: number;
    readonly url: string;
  };
  readonly startedAt: string;
  /** Seconds from the first client's start until the measured window began (the ramp plus warm-up). */
  readonly warmupSeconds: number;
  /** The measured window, in seconds. */
  readonly measuredSeconds: number;
  readonly clients: {
    readonly requested: number;
    /** Clients that joined the room and moved. */
    readonly joined: number;
    readonly failed: number;
    /** Clients still in the room when the window ended. */
    readonly connectedAtEnd: number;
    /** Other players followed (their moves listened to), summed over the clients: N x (N - 1) at most. */
    readonly follows: number;
  };
  /** Clients that did not join, by what stopped them. */
  readonly failures: Readonly<Record<string, Tally>>;
  /** Connections that ended before the run closed them, by close code. */
  readonly disconnects: Readonly<Record<string, Tally>>;
  /** Moves in the measured window: sent by the clients, and other players' moves decoded by them. */
  readonly updates: {
    readonly sent: number;
    readonly delivered: number;
    readonly sentPerSecond: number;
    readonly deliveredPerSecond: number;
    /** Deliveries per move sent. */
    readonly fanOut: number;
    /** Over the whole run, warm-up included. */
    readonly sentTotal: number;
    readonly deliveredTotal: number;
  };
  /**
   * End-to-end latency (ms), measured window: the receiver's clock when the patch carrying a move was
   * decoded minus the move's `sentAt`. Sender and receiver are clients of this one process: one clock.
   */
  readonly latencyMs: LatencySummary;
  /**
   * Every CHECK_EVERY-th delivery, whole run: the x and y that arrived compared bit for bit with the
   * float32 values the sender sent with that `sentAt`.
   */
  readonly bitCheck: {
    readonly checked: number;
    readonly mismatched: number;
    /** Deliveries whose `sentAt` the sender no longer remembered (not checked). */
    readonly unmatched: number;
    /** The first mismatch, in words. */
    readonly example?: string;
  };
  readonly process: {
    readonly eventLoopDelayP99Ms: number;
    readonly eventLoopDelayMaxMs: number;
  };
  /** True when every client joined, none lost its connection, and every checked value was bit-equal. */
  readonly ok: boolean;
  readonly problems: readonly string[];
}
