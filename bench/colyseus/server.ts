/**
 * The Colyseus side's server, a process of its own: Colyseus 0.18 (@colyseus/core with
 * @colyseus/ws-transport) on loopback with one room type whose state is every player's x, y (float32)
 * and send time (uint32), everyone seeing everyone, patched to all clients every 50 ms (20 Hz). A
 * client's move (a 12-byte bytes message) is checked and written into its player; Colyseus encodes
 * the changes once per patch and sends the same bytes to every client.
 *
 * Beside Colyseus, a small HTTP server on HTTP_PORT answers /healthz (the benchmark waits for it) and
 * /metrics (Prometheus text: SERVER_METRICS in shared.ts), which the benchmark reads twice a second.
 *
 *   COLYSEUS_PORT=2567 HTTP_PORT=2568 node --import tsx bench/colyseus/server.ts
 */
import { createServer } from "node:http";
import { type Client, Room, Server } from "@colyseus/core";
import { WebSocketClient, WebSocketTransport } from "@colyseus/ws-transport";
import {
  BenchPlayer,
  BenchState,
  decodeMove,
  MOVE_MESSAGE,
  PATCH_INTERVAL_MS,
  ROOM_NAME,
  SERVER_METRICS,
} from "./shared.ts";

const HOST = "127.0.0.1";
/** WebSocket frame payloads up to this length have a 2-byte header (server frames are not masked)... */
const SHORT_PAYLOAD_MAX = 125;
/** ... up to this one a 4-byte header, longer ones a 10-byte header. */
const MEDIUM_PAYLOAD_MAX = 0xffff;
const SHORT_HEADER_BYTES = 2;
const MEDIUM_HEADER_BYTES = 4;
const LONG_HEADER_BYTES = 10;

const counters = {
  sentBytes: 0,
  sentMessages: 0,
  frameHeaderBytes: 0,
  moves: 0,
  movesRefused: 0,
  clients: 0,
};

/** A port from the environment variable `name`; the process ends with the reason when it is not one. */
function portFromEnv(name: string): number {
  const text = process.env[name];
  const port = Number(text);
  if (text === undefined || !Number.isInteger(port) || port < 1 || port > 0xffff) {
    process.stderr.write(`${name} must be a TCP port (1 to 65535), not ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return port;
}

/**
 * Counts what the server sends where every room message leaves: WebSocketClient.raw (patches, full
 * states, handshakes and room messages all pass through it, once per recipient). Wrapping it, as the
 * transport's own latency simulation does, leaves what is sent unchanged.
 */
function countSends(): void {
  const send = WebSocketClient.prototype.raw;
  WebSocketClient.prototype.raw = function counted(this: WebSocketClient, data, options, callback) {
    const length = data.byteLength;
    counters.sentBytes += length;
    counters.sentMessages += 1;
    counters.frameHeaderBytes +=
      length <= SHORT_PAYLOAD_MAX
        ? SHORT_HEADER_BYTES
        : length <= MEDIUM_PAYLOAD_MAX
          ? MEDIUM_HEADER_BYTES
          : LONG_HEADER_BYTES;
    send.call(this, data, options, callback);
  };
}

class PlayersRoom extends Room<{ state: BenchState }> {
  override onCreate(): void {
    this.state = new BenchState();
    this.patchRate = PATCH_INTERVAL_MS;
    this.onMessageBytes(MOVE_MESSAGE, (client: Client, body: Uint8Array) => this.move(client, body));
  }

  override onJoin(client: Client): void {
    this.state.players.set(client.sessionId, new BenchPlayer());
    counters.clients += 1;
  }

  override onLeave(client: Client): void {
    this.state.players.delete(client.sessionId);
    counters.clients -= 1;
  }

  /** Validated where it enters, as the Overworld side does: a move that is not one changes nothing. */
  private move(client: Client, body: Uint8Array): void {
    const move = decodeMove(body);
    const player = this.state.players.get(client.sessionId);
    if (move === undefined || player === undefined) {
      counters.movesRefused += 1;
      return;
    }
    player.x = move.x;
    player.y = move.y;
    player.sentAt = move.sentAt;
    counters.moves += 1;
  }
}

function metricsText(): string {
  const lines: string[] = [];
  for (const [key, name] of Object.entries(SERVER_METRICS)) {
    lines.push(`${name} ${counters[key as keyof typeof counters]}`);
  }
  return `${lines.join("\n")}\n`;
}

/** /healthz and /metrics on their own port, apart from Colyseus's HTTP routes. */
function startStatsServer(port: number): void {
  const stats = createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (request.url === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText());
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: /healthz and /metrics\n");
    }
  });
  stats.listen(port, HOST);
}

async function main(): Promise<void> {
  const colyseusPort = portFromEnv("COLYSEUS_PORT");
  const httpPort = portFromEnv("HTTP_PORT");
  countSends();
  // Colyseus stops its rooms and exits on SIGTERM (gracefullyShutdown), which is how the benchmark stops it
  const server = new Server({ transport: new WebSocketTransport(), greet: false });
  server.define(ROOM_NAME, PlayersRoom);
  await server.listen(colyseusPort, HOST);
  startStatsServer(httpPort);
}

main().catch((error: unknown) => {
  process.stderr.write(`colyseus server: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
