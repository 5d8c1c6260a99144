/**
 * Each bot sends from an address of its own, for its login (HTTP) and its UDP socket alike, as real
 * players do: uberdog's and the client agent's limits per client address then hold for bots as for
 * players, and a run of hundreds of bots plays within the default limits. On Linux all of 127.0.0.0/8 is
 * loopback, so bots against a local cluster bind 127.0.1.1, 127.0.1.2, ... with no setup (macOS answers
 * only 127.0.0.1 unless given aliases: `sudo ifconfig lo0 alias 127.0.1.1 up`, and so on).
 */
import { isIPv4 } from "node:net";

/** Where bots against a loopback cluster start: clear of 127.0.0.1, which everything else uses. */
export const FIRST_LOOPBACK_SOURCE = "127.0.1.1";
const OCTET = 256;
/** Host numbers per /24 that are neither .0 nor .255 (which some stacks treat as network or broadcast). */
const HOSTS_PER_24 = 254;

/**
 * The `n`-th address (from 0) counting up from `first`, skipping those that end in .0 or .255:
 * 127.0.1.1, 127.0.1.2, ... 127.0.1.254, 127.0.2.1, ...
 */
export function sourceAddress(first: string, n: number): string {
  if (!isIPv4(first))
    throw new RangeError(`the first source address must be an IPv4 address, not "${first}"`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a whole number of 0 or more, not ${n}`);
  const octets = first.split(".").map(Number);
  const last = octets[3]!;
  if (last === 0 || last === OCTET - 1) {
    throw new RangeError(`the first source address must not end in .0 or .255, as ${first} does`);
  }
  const from24 = ((octets[0]! * OCTET + octets[1]!) * OCTET + octets[2]!) * HOSTS_PER_24 + (last - 1);
  const index = from24 + n;
  const network = Math.floor(index / HOSTS_PER_24);
  if (network >= OCTET ** 3) throw new RangeError(`no address ${n} after ${first}: past 255.255.255.254`);
  const host = (index % HOSTS_PER_24) + 1;
  return `${Math.floor(network / OCTET ** 2)}.${Math.floor(network / OCTET) % OCTET}.${network % OCTET}.${host}`;
}

/** True when the URL names an IPv4 loopback host (127.x.x.x), which bots can reach from any 127.x address. */
export function isIpv4LoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return isIPv4(host) && host.startsWith("127.");
}
