/**
 * A small internet of network namespaces for the federation's network tests (and the link benchmark):
 *
 *   root namespace: a bridge with 198.18.N.1 ("the internet", where main runs, reaching Postgres as usual)
 *     |-- nat-a (wan 198.18.N.11) -- MASQUERADE -- host a (198.19.N.2, behind it)
 *     |-- nat-b (wan 198.18.N.12) -- MASQUERADE -- host b (198.19.N.130, behind it)
 *
 * Each NAT is a router like a home one: it masquerades what leaves by its wan side, lets in only what
 * answers something that left (conntrack), and drops anything unsolicited addressed to itself. A `cone`
 * NAT keeps the host's source port (Linux's MASQUERADE does when it can: the same mapping whatever the
 * destination, what hole punching needs); a `symmetric` one picks a random port for every new
 * destination (`--random-fully`), so the port main observed is useless to a peer and only the relay helps.
 *
 * N is random per topology, and every name carries it, so that two runs on one machine do not collide.
 * The addresses are from 198.18.0.0/15, set aside for benchmarks (RFC 2544): nothing real is there.
 * `teardown` kills what runs in the namespaces and removes them and the bridge, whatever state they are in.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomInt } from "node:crypto";

export type NatKind = "cone" | "symmetric";

export interface Site {
  /** The host's namespace (where the link end runs) and its address. */
  readonly ns: string;
  readonly address: string;
  /** The NAT's namespace and its public (wan) address. */
  readonly natNs: string;
  readonly publicAddress: string;
}

export interface Topology {
  readonly tag: string;
  /** Main's address on the bridge, in the root namespace. */
  readonly mainAddress: string;
  readonly a: Site;
  readonly b: Site;
  /** Runs a command inside a namespace (throws with its stderr on failure). */
  exec(ns: string, command: string, args: readonly string[]): string;
  /** Starts a long-running process inside a namespace (its stdin a pipe when asked); killed at teardown. */
  spawn(
    ns: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    stdin?: "pipe" | "ignore",
  ): ChildProcess;
  /** Cuts a site off the internet (its NAT forwards nothing), or lets it back. */
  partition(site: Site): void;
  heal(site: Site): void;
  teardown(): Promise<void>;
}

const run = (command: string, args: readonly string[]) => {
  try {
    return execFileSync(command, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${failure.stderr?.trim() || failure.message}`);
  }
};
const ip = (...args: string[]) => run("ip", args);
const inNs = (ns: string, command: string, ...args: string[]) =>
  run("ip", ["netns", "exec", ns, command, ...args]);

/** Fails, saying why, when this machine cannot make namespaces (not root, no `ip`, no iptables). */
export function requireNamespaces(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the network tests make network namespaces and NAT rules: run them as root (CI does)");
  }
  for (const tool of ["ip", "iptables"]) {
    try {
      run("which", [tool]);
    } catch {
      throw new Error(`the network tests need ${tool} (apt-get install -y iproute2 iptables)`);
    }
  }
}

export function buildTopology(kinds: { a: NatKind; b: NatKind }): Topology {
  requireNamespaces();
  const n = randomInt(1, 250);
  const tag = `owf${n}${randomInt(0, 36 ** 2).toString(36)}`;
  const bridge = `${tag}br`;
  const mainAddress = `198.18.${n}.1`;
  const processes: ChildProcess[] = [];
  const namespaces: string[] = [];
  const site = (side: "a" | "b"): Site => ({
    ns: `${tag}${side}`,
    natNs: `${tag}n${side}`,
    address: side === "a" ? `198.19.${n}.2` : `198.19.${n}.130`,
    publicAddress: side === "a" ? `198.18.${n}.11` : `198.18.${n}.12`,
  });
  const a = site("a");
  const b = site("b");

  const teardown = async () => {
    for (const child of processes) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.all(
      processes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => {
              child.kill("SIGKILL");
              resolve();
            }, 3000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    for (const ns of namespaces) {
      // anything still inside (started by hand) goes too: these namespaces are this topology's own
      try {
        for (const pid of ip("netns", "pids", ns).split("\n").filter(Boolean))
          process.kill(Number(pid), "SIGKILL");
      } catch {}
      try {
        ip("netns", "del", ns);
      } catch {}
    }
    try {
      ip("link", "del", bridge);
    } catch {}
  };

  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${mainAddress}/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (const [side, s] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const kind = kinds[side];
      for (const ns of [s.natNs, s.ns]) {
        ip("netns", "add", ns);
        namespaces.push(ns);
        inNs(ns, "ip", "link", "set", "lo", "up");
      }
      // the NAT's wan side, on the bridge
      const wanOutside = `${tag}w${side}`;
      ip("link", "add", wanOutside, "type", "veth", "peer", "name", "wan", "netns", s.natNs);
      ip("link", "set", wanOutside, "master", bridge);
      ip("link", "set", wanOutside, "up");
      inNs(s.natNs, "ip", "addr", "add", `${s.publicAddress}/24`, "dev", "wan");
      inNs(s.natNs, "ip", "link", "set", "wan", "up");
      inNs(s.natNs, "ip", "route", "add", "default", "via", mainAddress);
      // the NAT's lan side and the host behind it
      const lanPrefix = side === "a" ? `198.19.${n}.1/25` : `198.19.${n}.129/25`;
      const gateway = lanPrefix.split("/")[0]!;
      inNs(s.natNs, "ip", "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", s.ns);
      inNs(s.natNs, "ip", "addr", "add", lanPrefix, "dev", "lan");
      inNs(s.natNs, "ip", "link", "set", "lan", "up");
      inNs(s.ns, "ip", "addr", "add", `${s.address}/25`, "dev", "eth0");
      inNs(s.ns, "ip", "link", "set", "eth0", "up");
      inNs(s.ns, "ip", "route", "add", "default", "via", gateway);
      // the router: forward, masquerade, let in only answers
      inNs(s.natNs, "sysctl", "-qw", "net.ipv4.ip_forward=1");
      const masquerade = ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"];
      inNs(s.natNs, "iptables", ...masquerade, ...(kind === "symmetric" ? ["--random-fully"] : []));
      inNs(s.natNs, "iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT");
      inNs(
        s.natNs,
        "iptables",
        "-A",
        "FORWARD",
        "-i",
        "wan",
        "-o",
        "lan",
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
      );
      inNs(s.natNs, "iptables", "-A", "FORWARD", "-j", "DROP");
      inNs(
        s.natNs,
        "iptables",
        "-A",
        "INPUT",
        "-i",
        "wan",
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
      );
      inNs(s.natNs, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP");
    }
  } catch (error) {
    void teardown();
    throw error;
  }

  return {
    tag,
    mainAddress,
    a,
    b,
    exec: (ns, command, args) => inNs(ns, command, ...args),
    spawn: (ns, command, args, env, stdin = "ignore") => {
      const child = spawn("ip", ["netns", "exec", ns, command, ...args], {
        env,
        stdio: [stdin, "pipe", "pipe"],
      });
      processes.push(child);
      return child;
    },
    partition: (s) => {
      inNs(s.natNs, "iptables", "-I", "FORWARD", "1", "-j", "DROP");
    },
    heal: (s) => {
      inNs(s.natNs, "iptables", "-D", "FORWARD", "1");
    },
    teardown,
  };
}
