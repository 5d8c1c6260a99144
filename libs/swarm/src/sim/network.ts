/**
 * The simulated network: each node has an uplink of `uplink` bytes per second that sends what it is given
 * one message after another (a FIFO: a message waits behind those queued before it, which is the queueing
 * delay game packets feel when a swarm fills the link), a one-way delay (`delayMs`, the path's delay being
 * the sum of its ends') and a loss rate. A lost message is sent again after a retransmission time-out (the
 * bytes count twice, it arrives late): the transport is reliable, as the real one is. Downlinks are taken
 * to be faster than any uplink.
 */
import type { Random } from "../random.ts";
import type { EventLoop } from "./events.ts";

export interface LinkOptions {
  /** Upload capacity, bytes per second. */
  readonly uplink: number;
  /** One-way delay from this node to the network, ms. */
  readonly delayMs: number;
  /** Probability that a message it sends is lost (and sent again). */
  readonly loss: number;
}

export interface Transmission {
  /** When it is delivered (after any retransmissions). */
  readonly arrivesAt: number;
  /** How many times it was lost on the way. */
  readonly losses: number;
  /** When it was handed to the uplink. */
  readonly queuedAt: number;
}

export class Uplink {
  #freeAt = 0;
  /** Bytes sent, retransmissions included. */
  sent = 0;

  constructor(
    readonly options: LinkOptions,
    private readonly loop: EventLoop,
  ) {}

  /** How long a message handed over now would wait before its first byte goes out, ms. */
  backlogMs(): number {
    return Math.max(0, this.#freeAt - this.loop.now());
  }

  /** Puts `bytes` on the wire after what is queued; when its last byte is out. */
  transmit(bytes: number): number {
    const start = Math.max(this.#freeAt, this.loop.now());
    this.#freeAt = start + (bytes * 1000) / this.options.uplink;
    this.sent += bytes;
    return this.#freeAt;
  }

  /** Forgets what was queued (the node went away). */
  reset(): void {
    this.#freeAt = this.loop.now();
  }
}

export class Network {
  readonly #links = new Map<string, Uplink>();

  constructor(
    readonly loop: EventLoop,
    private readonly random: Random,
  ) {}

  add(id: string, options: LinkOptions): Uplink {
    const link = new Uplink(options, this.loop);
    this.#links.set(id, link);
    return link;
  }

  link(id: string): Uplink {
    const link = this.#links.get(id);
    if (link === undefined) throw new Error(`no node ${id} in the simulated network`);
    return link;
  }

  /** The one-way delay between two nodes, ms. */
  delay(from: string, to: string): number {
    return this.link(from).options.delayMs + this.link(to).options.delayMs;
  }

  /** Sends `bytes` from one node to another, lost and sent again as the sender's loss rate says. */
  send(from: string, to: string, bytes: number): Transmission {
    const link = this.link(from);
    const queuedAt = this.loop.now();
    const delay = this.delay(from, to);
    let sentAt = link.transmit(bytes);
    let losses = 0;
    while (this.random.chance(link.options.loss) && losses < 16) {
      losses++;
      // the sender learns of the loss about a round trip later and sends it again, behind what is queued then
      sentAt = Math.max(sentAt + 2 * delay, link.transmit(bytes));
    }
    return { arrivesAt: sentAt + delay, losses, queuedAt };
  }
}
