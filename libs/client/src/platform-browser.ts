/**
 * The client in a browser: WebSocket only (browsers have no UDP), the model given as a DcFile (no file
 * system), HTTP through fetch (from the page's own address).
 */
import type { Platform } from "./platform.ts";
import { type WebSocketConstructor, WebSocketTransport } from "./websocket-transport.ts";

/** The browser's WebSocket (typed here without the DOM library). */
const BrowserWebSocket = (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket;

export const platform: Platform = {
  async openTransport(token, target, events) {
    if (target.url === undefined) {
      throw new TypeError("in a browser, connect needs `url` (ws:// or wss://): browsers have no UDP");
    }
    return new WebSocketTransport(target.url, token, events, BrowserWebSocket);
  },
  loadDcFiles() {
    throw new TypeError(
      "in a browser, give connect `file` (a DcFile: defineSchema's `.file`, or parseDcText of the .dc text) instead of `dcFiles`: there is no file system",
    );
  },
  base64Bytes: (text) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0)),
  async postJson(url, json, localAddress, timeoutMs) {
    if (localAddress !== undefined) {
      throw new TypeError("a browser cannot choose the local address a request comes from (`localAddress`)");
    }
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: json,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return {
      status: response.status,
      statusText: response.statusText,
      retryAfter: response.headers.get("retry-after") ?? undefined,
      text: await response.text(),
    };
  },
};
