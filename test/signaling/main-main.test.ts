/**
 * Main-main: two mains registered with a parent main form a tree, and a cluster under one links with a
 * cluster under the other, as the parent's operator allows. The token is minted by the acceptor's own main
 * and comes back sealed hop by hop; the link comes up and carries messages both ways, through the parent's
 * relay when the two clusters cannot reach each other.
 */
import { execFileSync } from "node:child_process";
import { encodeKey, MainError } from "@overworld/federation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestLinkEnd, type TestLinkEnd, waitForLink } from "../link/support.ts";
import { eventually } from "../support/wait.ts";
import { clusterOf, dropMain, schemaFor, startMain, type TestMain } from "./support.ts";

let root: TestMain;
let east: TestMain;
let west: TestMain;
const ends: TestLinkEnd[] = [];

beforeAll(async () => {
  root = await startMain(schemaFor("mm_root"), { MAIN_NAME: "root" });
  const under = { PARENT_URL: root.url, PARENT_KEY: encodeKey(root.key.publicKey) };
  east = await startMain(schemaFor("mm_east"), { MAIN_NAME: "main-east", ...under });
  west = await startMain(schemaFor("mm_west"), { MAIN_NAME: "main-west", ...under });
});

afterAll(async () => {
  for (const end of ends) await end.stop().catch(() => undefined);
  await dropMain(east);
  await dropMain(west);
  await dropMain(root);
});

describe("mains under a parent main", () => {
  it("register with it as mains, and link a cluster under one with a cluster under the other", async () => {
    const a = await startTestLinkEnd(east, "mm-a");
    const b = await startTestLinkEnd(west, "mm-b");
    ends.push(a, b);
    await eventually(
      () => a.handle.node.mainAnsweredAt > 0 && b.handle.node.mainAnsweredAt > 0,
      "both heartbeating",
    );
    await new Promise((resolve) => setTimeout(resolve, 1200)); // a sync of each main with the parent
    const listed = await root.operator("GET", "/v1/clusters");
    expect(listed.body.clusters.map((c: { name: string; kind: string }) => [c.name, c.kind])).toEqual([
      ["main-east", "main"],
      ["main-west", "main"],
    ]);
    // not allowed yet: neither main knows of a peer for its cluster
    const refused = await clusterOf(east, "mm-a", a.seed)
      .client.linkToken("mm-b")
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MainError);

    expect((await root.operator("PUT", "/v1/policy/mm-a/mm-b")).status).toBe(204);
    await waitForLink(a, b, 15_000);
    expect(a.handle.node.status()[0]).toMatchObject({ peer: "mm-b", role: "dial", via: "direct" });
    a.handle.sendTo("mm-b", Buffer.from("across mains"));
    b.handle.sendTo("mm-a", Buffer.from("and back"));
    await eventually(() => b.received.some((m) => m.text === "across mains"), "a's message at b");
    await eventually(() => a.received.some((m) => m.text === "and back"), "b's message at a");
  }, 30_000);

  it("relay a link across mains through the parent's relay when the clusters cannot reach each other", async () => {
    const env = { PUNCH_TIMEOUT_MS: "800" };
    const c = await startTestLinkEnd(east, "mx-c", { env });
    const d = await startTestLinkEnd(west, "mx-d", { env });
    ends.push(c, d);
    // no datagram goes straight between the two link ends: only through a relay
    const [pc, pd] = [String(c.handle.udpAddress.port), String(d.handle.udpAddress.port)];
    const rules = [
      ["OUTPUT", "-o", "lo", "-p", "udp", "--sport", pc, "--dport", pd, "-j", "DROP"],
      ["OUTPUT", "-o", "lo", "-p", "udp", "--sport", pd, "--dport", pc, "-j", "DROP"],
    ];
    for (const rule of rules) execFileSync("iptables", ["-I", ...rule]);
    try {
      expect((await root.operator("PUT", "/v1/policy/mx-c/mx-d")).status).toBe(204);
      await waitForLink(c, d, 20_000);
      expect(c.handle.node.status()[0]).toMatchObject({ peer: "mx-d", via: "relay" });
      // the parent's relay (both sides can bind there), not either child's
      const forwarded = /ow_signaling_relay_packets_total\{[^}]*result="forwarded"[^}]*\} [1-9]/;
      expect(await (await fetch(`${root.url}/metrics`)).text()).toMatch(forwarded);
      expect(east.handle.relay!.pairs + west.handle.relay!.pairs).toBe(0);
      c.handle.sendTo("mx-d", Buffer.from("through the parent's relay"));
      await eventually(
        () => d.received.some((m) => m.text === "through the parent's relay"),
        "c's message at d",
      );
    } finally {
      for (const rule of rules) execFileSync("iptables", ["-D", ...rule]);
    }
  }, 40_000);
});
