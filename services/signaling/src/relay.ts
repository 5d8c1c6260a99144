/**
 * The relay for links that cannot punch through their NATs (symmetric NAT). Each side of a pair binds with
 * a ticket main gave it (minted with the relay key, checked here without state: forged, expired and
 * malformed tickets are refused); from then on a datagram `0xF4 | pair | packet` from one bound side goes
 * to the other, as it came. What it carries is netcode's ciphertext: the relay holds no key that opens
 * it. Each pair has a byte budget (a token bucket): past it, datagrams are dropped. Bindings nobody uses
 * for `IDLE_MS` are forgotten.
 */
import {
  checkTicket,
  MAX_CONTROL_BYTES,
  PacketKind,
  pairKey,
  relayPair,
  writeRelayBound,
} from "@overworld/federation";
import { netcode } from "@overworld/protocol";
import type { Logger } from "@overworld/service";
import type { Metrics } from "./metrics.ts";

export interface RelayOptions {
  readonly host: string;
  readonly port: number;
  readonly relayKey: Uint8Array;
  /** Bytes per second each pair may send through the relay (both ways together). */
  readonly bytesPerSecond: number;
  /** Bytes a pair may send at once above its rate. */
  readonly burstBytes: number;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

export interface Relay {
  readonly address: netcode.NetcodeAddress;
  /** Pairs with at least one side bound. */
  readonly pairs: number;
  close(): Promise<void>;
}

const IDLE_MS = 60_000;
const SWEEP_MS = 10_000;
/** The largest datagram relayed: a netcode packet (1200 bytes of payload at most) and the relay header. */
const MAX_RELAYED_BYTES = 1400;

interface Binding {
  readonly sides: [netcode.NetcodeAddress | undefined, netcode.NetcodeAddress | undefined];
  tokens: number;
  refilledAt: number;
  usedAt: number;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const now = options.now ?? Date.now;
  const { metrics, log } = options;
  const bindings = new Map<string, Binding>();
  const count = (result: string) => metrics.relayPackets.inc({ result });

  const bind = (bytes: Uint8Array, from: netcode.NetcodeAddress) => {
    const check = checkTicket(options.relayKey, bytes.subarray(1), now());
    if (!check.ok) {
      count(`ticket_${check.reason}`);
      log.warn({ from: from.key, reason: check.reason }, "relay ticket refused");
      return;
    }
    const key = pairKey(check.ticket.pair);
    let binding = bindings.get(key);
    if (binding === undefined) {
      binding = {
        sides: [undefined, undefined],
        tokens: options.burstBytes,
        refilledAt: now(),
        usedAt: now(),
      };
      bindings.set(key, binding);
      metrics.relayedLinks.set(bindings.size);
    }
    const previous = binding.sides[check.ticket.side];
    binding.sides[check.ticket.side] = from;
    binding.usedAt = now();
    if (previous?.key !== from.key)
      log.info({ pair: key, side: check.ticket.side, from: from.key }, "relay bound");
    count("bound");
    udp.send(writeRelayBound(check.ticket.pair, check.ticket.side), from);
  };

  const forward = (bytes: Uint8Array, from: netcode.NetcodeAddress) => {
    const pair = relayPair(bytes);
    if (pair === null || bytes.length > MAX_RELAYED_BYTES) return count("malformed");
    const binding = bindings.get(pairKey(pair));
    if (binding === undefined) return count("unbound");
    const [a, b] = binding.sides;
    const to = a?.key === from.key ? b : b?.key === from.key ? a : null;
    if (to === null) return count("not_bound_here"); // only a bound side may send, and only for its pair
    if (to === undefined) return count("other_side_unbound");
    const at = now();
    binding.tokens = Math.min(
      options.burstBytes,
      binding.tokens + ((at - binding.refilledAt) * options.bytesPerSecond) / 1000,
    );
    binding.refilledAt = at;
    if (binding.tokens < bytes.length) return count("rate_limited");
    binding.tokens -= bytes.length;
    binding.usedAt = at;
    count("forwarded");
    metrics.relayBytes.inc(bytes.length);
    udp.send(bytes, to);
  };

  const udp = await netcode.openUdpEndpoint({
    host: options.host,
    port: options.port,
    onDatagram: (bytes, from) => {
      if (bytes.length === 0) return;
      if (bytes[0] === PacketKind.RelayBind && bytes.length <= MAX_CONTROL_BYTES) bind(bytes, from);
      else if (bytes[0] === PacketKind.RelayData) forward(bytes, from);
      else count("malformed");
    },
  });
  const sweep = setInterval(() => {
    const cutoff = now() - IDLE_MS;
    for (const [key, binding] of bindings) if (binding.usedAt < cutoff) bindings.delete(key);
    metrics.relayedLinks.set(bindings.size);
  }, SWEEP_MS);
  sweep.unref();
  log.info({ address: udp.address.key, bytesPerSecond: options.bytesPerSecond }, "relay listening");
  return {
    address: udp.address,
    get pairs() {
      return bindings.size;
    },
    close: async () => {
      clearInterval(sweep);
      await udp.close();
    },
  };
}
