/**
 * The client in Node: UDP (netcode.io) or WebSocket (the `ws` package), .dc files from disk, and HTTP over
 * node:http(s), which can bind the local address requests come from (`localAddress`): uberdog limits logins
 * per client address, and a load tester gives each bot an address of its own.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { loadDcFiles } from "@overworld/protocol";
import type { HttpAnswer, Platform } from "./platform.ts";
import { UdpTransport } from "./udp-transport.ts";
import { type WebSocketConstructor, WebSocketTransport } from "./websocket-transport.ts";

export const platform: Platform = {
  async openTransport(token, target, events, now) {
    if (target.url !== undefined) {
      // loaded only by clients that use it: UDP clients (bots by the hundred, in worker threads) never do
      const { WebSocket } = await import("ws");
      return new WebSocketTransport(target.url, token, events, WebSocket as unknown as WebSocketConstructor);
    }
    return UdpTransport.open(token, target.host ?? "127.0.0.1", events, now);
  },
  loadDcFiles: (paths) => loadDcFiles([...paths]),
  base64Bytes: (text) => new Uint8Array(Buffer.from(text, "base64")),
  postJson,
};

function postJson(
  url: URL,
  json: string,
  localAddress: string | undefined,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const request = send(
      url,
      {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(json) },
        ...(localAddress === undefined ? {} : { localAddress }),
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const retryAfter = response.headers["retry-after"];
          resolve({
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? "",
            retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
            text: Buffer.concat(chunks).toString("utf8"),
          });
        });
      },
    );
    request.on("error", reject);
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.end(json);
  });
}
