/**
 * The key a client's address is limited under, the same in every service: uberdog's login limits, the
 * client agent's sessions per address and its datagram budget. An IPv4 address is its own key (IPv4-mapped
 * IPv6 too, as a dual-stack socket reports IPv4 clients); an IPv6 address counts by its /64 network, since
 * one subscriber usually holds a whole /64 and can pick any address in it. The port never counts: every
 * port of an address (every player behind one NAT) shares its limits.
 */
import { netcode } from "@overworld/protocol";

const keysOf = new WeakMap<netcode.NetcodeAddress, string>();

/** Bytes of an IPv6 address that name its /64 network. */
const IPV6_NETWORK_BYTES = 8;
const IPV4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

/**
 * `10.1.2.3`, or `20010db800010002/64` for any address of 2001:db8:1:2::/64. Takes an address with its
 * port (as the client agent's socket reports it) or an IP text (as HTTP reports it); IP text that does
 * not parse is its own key.
 */
export function addressKey(address: netcode.NetcodeAddress | string): string {
  if (typeof address !== "string") {
    // the socket hands out one address object per peer: its key is worked out once
    let key = keysOf.get(address);
    if (key === undefined) {
      key = hostKey(address.host);
      keysOf.set(address, key);
    }
    return key;
  }
  if (!address.includes(":")) return address;
  try {
    return hostKey(netcode.parseAddress(`[${address}]:1`).host);
  } catch {
    return address;
  }
}

function hostKey(host: Uint8Array): string {
  if (host.length === 4) return `${host[0]}.${host[1]}.${host[2]}.${host[3]}`;
  if (IPV4_MAPPED_PREFIX.every((byte, i) => host[i] === byte)) {
    return `${host[12]}.${host[13]}.${host[14]}.${host[15]}`;
  }
  return `${Buffer.from(host.buffer, host.byteOffset, IPV6_NETWORK_BYTES).toString("hex")}/64`;
}
