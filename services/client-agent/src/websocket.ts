/**
 * The players' WebSocket listener: browsers reach the same sessions as UDP clients through it (the agent
 * gives each one a ClientSession over a StreamLink, session-link.ts).
 *
 * An upgrade request passes three checks before any WebSocket exists: its Origin, if it has one, must be in
 * the allow-list (WS_ORIGINS; browsers always send one, programs need not, and the token authenticates
 * either), its address's datagram budget must have a token left (the same per-address bucket as UDP's,
 * one token for the request), and the agent must have room (MAX_CLIENTS). Refusals are plain HTTP
 * answers (403, 429, 503) naming the reason.
 *
 * The first message must then come within CONNECT_REQUEST_TIMEOUT_MS: the netcode connection request the
 * client builds from its connect token (the very bytes a UDP client sends first). The agent checks it as
 * netcode checks a datagram's (key, expiry, protocol id, its own address in the token) and spends the token
 * (`NetcodeServer.admitStreamRequest`); a refused one closes the socket with 1008 and the reason, e.g.
 * `connect token refused: token_reused`. TLS, when configured (WS_TLS_CERT, WS_TLS_KEY), is the listener's.
 */

import { createServer as createHttpServer, type IncomingMessage, type Server, STATUS_CODES } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import type { netcode } from "@overworld/protocol";
import { addressKey, type Logger } from "@overworld/service";
import { type RawData, type WebSocket, WebSocketServer } from "ws";

/** How long a socket may take to send its connection request. */
export const CONNECT_REQUEST_TIMEOUT_MS = 5000;
/** Frames larger than this close the socket (1009); up to it, the session's own rule applies (106). */
const MAX_FRAME_BYTES = 64 * 1024;
/** The WebSocket close code of a policy refusal (a bad connect token). */
export const CLOSE_REFUSED = 1008;

export interface WebSocketListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM certificate chain and key: `wss://` when given. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Origins allowed to connect (`*`: any). */
  readonly origins: readonly string[];
  readonly log: Logger;
  readonly gate: WebSocketGate;
}

/** What the agent decides for the listener. */
export interface WebSocketGate {
  /** Takes one token of the address's budget; false: refuse. */
  allow(address: string, now: number): boolean;
  /** True when the agent holds as many sessions as it may. */
  full(): boolean;
  /** Checks and spends the connect token of a connection request. */
  admit(request: Uint8Array, now: number): netcode.ReadResult<netcode.PrivateConnectToken>;
  /** An authenticated socket: it becomes a session. */
  accepted(socket: WebSocket, token: netcode.PrivateConnectToken, address: string): void;
}

export interface WebSocketListener {
  /** `ws://host:port` or `wss://host:port`, as bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function listenWebSocket(options: WebSocketListenerOptions): Promise<WebSocketListener> {
  const { gate, log } = options;
  const server: Server = options.tls ? createHttpsServer(options.tls) : createHttpServer();
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const anyOrigin = options.origins.includes("*");
  const origins = new Set(options.origins);
  server.on("request", (_request, response) => {
    response.writeHead(426, { "content-type": "text/plain" }).end("this port speaks WebSocket only\n");
  });
  server.on("upgrade", (request: IncomingMessage, stream: Duplex, head: Buffer) => {
    const address = addressKey(request.socket.remoteAddress ?? "");
    const origin = request.headers.origin;
    if (origin !== undefined && !anyOrigin && !origins.has(origin)) {
      refuse(stream, 403, `origin ${origin} is not allowed here (WS_ORIGINS)`);
      return;
    }
    if (!gate.allow(address, Date.now())) {
      refuse(stream, 429, "too many requests from this address");
      return;
    }
    if (gate.full()) {
      refuse(stream, 503, "the client agent is full (MAX_CLIENTS)");
      return;
    }
    sockets.handleUpgrade(request, stream, head, (socket) => awaitRequest(socket, address));
  });

  /** The first message is the connection request; until it passes, nothing else is read. */
  function awaitRequest(socket: WebSocket, address: string): void {
    const timer = setTimeout(
      () => socket.close(CLOSE_REFUSED, `no connection request within ${CONNECT_REQUEST_TIMEOUT_MS} ms`),
      CONNECT_REQUEST_TIMEOUT_MS,
    );
    socket.on("error", (error) => log.debug({ err: error, address }, "websocket error"));
    socket.once("close", () => clearTimeout(timer));
    socket.once("message", (data: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      const bytes = isBinary ? bytesOf(data) : new Uint8Array(0);
      const admitted = gate.admit(bytes, Date.now());
      if (!admitted.ok) {
        log.debug({ address, reason: admitted.reason }, "websocket connect token refused");
        socket.close(CLOSE_REFUSED, `connect token refused: ${admitted.reason}`);
        return;
      }
      gate.accepted(socket, admitted.value, address);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `${options.tls ? "wss" : "ws"}://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets.clients) socket.terminate();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A binary frame's bytes (ws hands out a Buffer, or an array of them for a fragmented message). */
export function bytesOf(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

function refuse(stream: Duplex, status: number, reason: string): void {
  const text = `${reason}\n`;
  stream.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
