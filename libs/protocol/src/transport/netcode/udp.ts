/**
 * A thin node:dgram adapter: datagrams in as (bytes, NetcodeAddress), datagrams out to a NetcodeAddress. The
 * protocol logic stays in the pure NetcodeServer / NetcodeClient; this only moves bytes.
 */

import { createSocket, type RemoteInfo, type Socket, type SocketType } from "node:dgram";
import { addressFromHostPort, formatHost, type NetcodeAddress } from "./address.ts";

export interface UdpEndpointOptions {
  /** Local host to bind; "127.0.0.1" by default. */
  readonly host?: string;
  /** Local port; 0 (any free port) by default. */
  readonly port?: number;
  readonly type?: SocketType;
  readonly onDatagram: (bytes: Uint8Array, from: NetcodeAddress) => void;
}

export interface UdpEndpoint {
  /** The address the socket is bound to. */
  readonly address: NetcodeAddress;
  send(bytes: Uint8Array, to: NetcodeAddress): void;
  close(): Promise<void>;
}

export async function openUdpEndpoint(options: UdpEndpointOptions): Promise<UdpEndpoint> {
  const socket = createSocket(options.type ?? "udp4");
  const senders = new SenderAddresses();
  socket.on("message", (message: Buffer, remote: RemoteInfo) => {
    const from = senders.of(remote);
    if (from !== null)
      options.onDatagram(new Uint8Array(message.buffer, message.byteOffset, message.byteLength), from);
  });
  await bind(socket, options.host ?? "127.0.0.1", options.port ?? 0);
  const local = socket.address();
  return {
    address: addressFromHostPort(local.address, local.port),
    // no completion callback: one costs a closure call and a queued tick per datagram, and node:dgram
    // reports nothing to it that the agent acts on (closing waits on the socket's own send queue instead)
    send: (bytes, to) => socket.send(bytes, to.port, hostText(to)),
    close: async () => {
      await drainSends(socket);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/**
 * Waits for the sends under way (a disconnect's packets) to leave, at most CLOSE_DRAIN_LIMIT_MS: node:dgram
 * hands a datagram to the socket a tick after `send` (after its address lookup), and the socket sends at once
 * or queues it (`getSendQueueCount`) when the kernel's buffer is full.
 */
async function drainSends(socket: Socket): Promise<void> {
  const until = Date.now() + CLOSE_DRAIN_LIMIT_MS;
  await new Promise((resolve) => setImmediate(resolve));
  while (socket.getSendQueueCount() > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** How long closing waits for sends under way, at most. */
const CLOSE_DRAIN_LIMIT_MS = 100;

function bind(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

/** Senders' addresses kept, so a datagram from a known peer parses no text. */
const SENDER_CACHE_LIMIT = 65_536;

/** The sender of each datagram as a NetcodeAddress, the same object for the same peer (a bounded cache). */
class SenderAddresses {
  private readonly byText = new Map<string, NetcodeAddress | null>();

  /** Null for a scoped IPv6 address (with a zone), which tokens cannot name. */
  of(remote: RemoteInfo): NetcodeAddress | null {
    const text = `${remote.address}|${remote.port}`;
    let address = this.byText.get(text);
    if (address !== undefined) return address;
    address = remote.address.includes("%") ? null : addressFromHostPort(remote.address, remote.port);
    if (this.byText.size >= SENDER_CACHE_LIMIT) this.byText.clear(); // a flood of new peers: start afresh
    this.byText.set(text, address);
    return address;
  }
}

/** The host text node:dgram sends to, made once per address object. */
const hostTexts = new WeakMap<NetcodeAddress, string>();

function hostText(address: NetcodeAddress): string {
  let text = hostTexts.get(address);
  if (text === undefined) {
    text = formatHost(address);
    hostTexts.set(address, text);
  }
  return text;
}
