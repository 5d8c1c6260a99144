/** A simulated network between one NetcodeServer and NetcodeClients: time in 10 ms ticks, optional loss. */
import type { NetcodeAddress } from "../../libs/protocol/src/transport/netcode/address.ts";
import type { ClientEvent, NetcodeClient } from "../../libs/protocol/src/transport/netcode/client.ts";
import type { NetcodeServer, ServerEvent } from "../../libs/protocol/src/transport/netcode/server.ts";
import { NOW_MS } from "./netcode-support.ts";

export interface Datagram {
  readonly from: NetcodeAddress;
  readonly to: NetcodeAddress;
  readonly bytes: Uint8Array;
}

export interface Peer {
  readonly address: NetcodeAddress;
  readonly client: NetcodeClient;
  readonly events: ClientEvent[];
}

/** A server's reply to one datagram: what came in and what went out because of it. */
export interface Exchange {
  readonly received: Datagram;
  readonly replies: Datagram[];
}

export const TICK_MS = 10;

export class SimulatedLink {
  now = NOW_MS;
  readonly serverEvents: ServerEvent[] = [];
  readonly exchanges: Exchange[] = [];
  readonly delivered: Datagram[] = [];
  /** Return true to lose a datagram. */
  lose: (datagram: Datagram) => boolean = () => false;
  private readonly inFlight: Datagram[] = [];
  private readonly peers = new Map<string, Peer>();

  constructor(
    readonly server: NetcodeServer,
    readonly serverAddress: NetcodeAddress,
  ) {}

  add(address: NetcodeAddress, client: NetcodeClient): Peer {
    const peer: Peer = { address, client, events: [] };
    this.peers.set(address.key, peer);
    return peer;
  }

  connect(peer: Peer, token: Uint8Array): void {
    this.fromClient(peer, peer.client.connect(token, this.now));
  }

  /** Advances time by one tick: updates everyone, then delivers everything in flight. */
  tick(): void {
    this.now += TICK_MS;
    this.fromServer(this.server.update(this.now));
    for (const peer of this.peers.values()) this.fromClient(peer, peer.client.update(this.now));
    this.deliver();
  }

  run(ms: number): void {
    for (let elapsed = 0; elapsed < ms; elapsed += TICK_MS) this.tick();
  }

  /** Runs until the condition holds, failing after `limitMs`. */
  runUntil(condition: () => boolean, limitMs = 10_000): void {
    for (let elapsed = 0; !condition(); elapsed += TICK_MS) {
      if (elapsed >= limitMs) throw new Error(`condition not reached within ${limitMs} ms`);
      this.tick();
    }
  }

  /** Puts a datagram on the wire as if `from` had sent it (replays, forgeries). */
  inject(datagram: Datagram): void {
    this.inFlight.push(datagram);
    this.deliver();
  }

  sendFromServer(events: ServerEvent[]): void {
    this.fromServer(events);
    this.deliver();
  }

  sendFromClient(peer: Peer, events: ClientEvent[]): void {
    this.fromClient(peer, events);
    this.deliver();
  }

  private deliver(): void {
    for (let datagram = this.inFlight.shift(); datagram; datagram = this.inFlight.shift()) {
      if (this.lose(datagram)) continue;
      this.delivered.push(datagram);
      if (datagram.to.key === this.serverAddress.key) {
        const events = this.server.receive(datagram.bytes, datagram.from, this.now);
        const replies = this.fromServer(events);
        this.exchanges.push({ received: datagram, replies });
      } else {
        const peer = this.peers.get(datagram.to.key);
        if (peer) this.fromClient(peer, peer.client.receive(datagram.bytes, datagram.from, this.now));
      }
    }
  }

  private fromServer(events: ServerEvent[]): Datagram[] {
    const sent: Datagram[] = [];
    for (const event of events) {
      this.serverEvents.push(event);
      if (event.type === "send") sent.push({ from: this.serverAddress, to: event.to, bytes: event.bytes });
    }
    this.inFlight.push(...sent);
    return sent;
  }

  private fromClient(peer: Peer, events: ClientEvent[]): void {
    for (const event of events) {
      peer.events.push(event);
      if (event.type === "send") this.inFlight.push({ from: peer.address, to: event.to, bytes: event.bytes });
    }
  }
}
