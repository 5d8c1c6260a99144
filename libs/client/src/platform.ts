/**
 * What the client does differently in Node and in a browser, behind one shape; `#platform` (package.json
 * `imports`) picks platform-node.ts, or platform-browser.ts when bundled for a browser.
 */
import type { DcFile } from "@overworld/protocol";
import type { ClientTransport, TransportEvents } from "./transport.ts";

/** Where to connect: a WebSocket URL, or (Node only) UDP from a local address to the token's servers. */
export interface ConnectTarget {
  /** `ws://` or `wss://` URL of a client agent's WebSocket listener. */
  readonly url?: string;
  /** Local address of the UDP socket (without `url`); 127.0.0.1 by default. */
  readonly host?: string;
}

/** An HTTP answer, whatever its status. */
export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly retryAfter: string | undefined;
  readonly text: string;
}

export interface Platform {
  openTransport(
    token: Uint8Array,
    target: ConnectTarget,
    events: TransportEvents,
    now: () => number,
  ): Promise<ClientTransport>;
  /** Loads .dc files, in order. */
  loadDcFiles(paths: readonly string[]): DcFile;
  base64Bytes(text: string): Uint8Array;
  /** One POST of a JSON body; resolves with the answer whatever its status, rejects when there is none. */
  postJson(url: URL, json: string, localAddress: string | undefined, timeoutMs: number): Promise<HttpAnswer>;
}
