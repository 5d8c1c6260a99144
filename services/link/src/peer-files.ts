/**
 * Package files between linked clusters: a cluster that lacks a file of a plugin set main pushed asks its
 * linked peers for it by SHA-256, before main (plugin-sync.ts), so a set pushed to many clusters need not
 * all come from main. A peer answers from the packages it verified itself, in parts of `PART_BYTES`
 * (reliable link messages, fragmented by the link's reliable layer), or says it has none.
 *
 * Nothing from a peer is trusted: the file must have the size and SHA-256 asked for (else the next peer,
 * then main, is asked), and the package is verified whole against the cluster's own trust list afterwards,
 * as one fetched from main is.
 *
 * Messages (MessagePack envelopes on the link, beside shared objects'):
 *   {t: "file-get", id, sha256, offset}          ask for the part of a file starting at `offset`
 *   {t: "file-part", id, size, bytes}            that part (`size`: the whole file's)
 *   {t: "file-none", id}                         the peer does not hold it
 */
import { sha256 as sha256Of } from "@overworld/manifest";
import { encodeEnvelope } from "@overworld/protocol";
import type { Logger } from "@overworld/service";
import { readTagged } from "./link-message.ts";

export const PART_BYTES = 64 * 1024;
/** How long a peer may take to answer one part. */
const ASK_TIMEOUT_MS = 2000;
const SHA256 = /^[0-9a-f]{64}$/;

type Answer = { t: "file-part"; size: number; bytes: Uint8Array } | { t: "file-none" };

export interface PeerFilesOptions {
  readonly sendTo: (peer: string, bytes: Uint8Array) => boolean;
  readonly upPeers: () => string[];
  /** A file this cluster holds, verified, by its SHA-256. */
  readonly held: (sha256: string) => Uint8Array | undefined;
  readonly log: Logger;
}

export class PeerFiles {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { peer: string; settle: (answer: Answer | undefined) => void }
  >();
  /** Files this cluster took from a peer, and parts it served to peers. */
  fetched = 0;
  served = 0;

  constructor(private readonly options: PeerFilesOptions) {}

  /** True when the message was one of these (the caller leaves it to others otherwise). */
  receive(peer: string, bytes: Uint8Array): boolean {
    const message = readTagged(bytes);
    if (message === undefined || !message.t.startsWith("file-")) return false;
    const id = message.id;
    if (typeof id !== "number" || !Number.isSafeInteger(id)) return true;
    if (message.t === "file-get") {
      this.serve(peer, id, message.sha256, message.offset);
      return true;
    }
    const waiter = this.waiting.get(id);
    if (waiter === undefined || waiter.peer !== peer) return true; // not asked of this peer: dropped
    this.waiting.delete(id);
    if (
      message.t === "file-part" &&
      typeof message.size === "number" &&
      message.bytes instanceof Uint8Array
    ) {
      waiter.settle({ t: "file-part", size: message.size, bytes: message.bytes });
    } else waiter.settle({ t: "file-none" });
    return true;
  }

  private serve(peer: string, id: number, sha256: unknown, offset: unknown): void {
    const file = typeof sha256 === "string" && SHA256.test(sha256) ? this.options.held(sha256) : undefined;
    if (file === undefined || typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      this.options.sendTo(peer, encodeEnvelope({ t: "file-none", id }));
      return;
    }
    const bytes = file.subarray(offset, offset + PART_BYTES);
    this.options.sendTo(peer, encodeEnvelope({ t: "file-part", id, size: file.length, bytes }));
    this.served++;
  }

  /** The file of this SHA-256 and size from the first linked peer that holds it, checked; undefined if none. */
  async fetch(sha256: string, size: number): Promise<Uint8Array | undefined> {
    for (const peer of this.options.upPeers()) {
      const bytes = await this.fetchFrom(peer, sha256, size);
      if (bytes === undefined) continue;
      if (bytes.length !== size || sha256Of(bytes) !== sha256) {
        this.options.log.warn({ peer, sha256 }, "a peer sent a file that is not the one asked for");
        continue;
      }
      this.fetched++;
      this.options.log.info({ peer, sha256, size }, "package file taken from a linked peer");
      return bytes;
    }
    return undefined;
  }

  private async fetchFrom(peer: string, sha256: string, size: number): Promise<Uint8Array | undefined> {
    const whole = new Uint8Array(size);
    let offset = 0;
    do {
      const answer = await this.ask(peer, sha256, offset);
      if (answer?.t !== "file-part" || answer.size !== size || answer.bytes.length === 0) {
        if (size === 0 && answer?.t === "file-part" && answer.size === 0) return whole;
        return undefined;
      }
      if (offset + answer.bytes.length > size) return undefined;
      whole.set(answer.bytes, offset);
      offset += answer.bytes.length;
    } while (offset < size);
    return whole;
  }

  private ask(peer: string, sha256: string, offset: number): Promise<Answer | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      this.waiting.set(id, {
        peer,
        settle: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
      });
      if (!this.options.sendTo(peer, encodeEnvelope({ t: "file-get", id, sha256, offset }))) {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(undefined);
      }
    });
  }
}
