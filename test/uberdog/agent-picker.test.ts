/**
 * Which client agent a login's token names first: the least full of those that answered `ca.load`, a
 * burst of logins spread between answers, an agent that did not answer last.
 */
import { netcode } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { AgentPicker } from "../../services/uberdog/src/agent-picker.ts";

const A = netcode.parseAddress("10.0.0.1:40000");
const B = netcode.parseAddress("10.0.0.2:40000");
const C = netcode.parseAddress("10.0.0.3:40000");
const load = (address: netcode.NetcodeAddress, clients: number, maxClients = 100) => ({
  ok: true as const,
  agent: 1,
  instanceId: address.key,
  publicAddress: address.key,
  clients,
  maxClients,
});
const firsts = (picker: AgentPicker, tokens: number) =>
  Array.from({ length: tokens }, () => picker.next()[0]!.key);

describe("the agent picker", () => {
  it("names every agent, the least full first, by share of its capacity", () => {
    const picker = new AgentPicker([A, B, C]);
    picker.update([load(A, 50), load(B, 10), load(C, 30, 1000)]);
    expect(picker.next().map((address) => address.key)).toEqual([C.key, B.key, A.key]);
  });

  it("spreads a burst of logins between two answers", () => {
    const picker = new AgentPicker([A, B]);
    picker.update([load(A, 40), load(B, 30)]);
    const burst = firsts(picker, 30);
    expect(burst.slice(0, 10)).toEqual(Array(10).fill(B.key)); // B catches up first
    const counts = new Map<string, number>();
    for (const key of burst) counts.set(key, (counts.get(key) ?? 0) + 1);
    expect(counts.get(A.key)).toBe(10);
    expect(counts.get(B.key)).toBe(20);
  });

  it("puts an agent that did not answer last, still named for a client to try", () => {
    const picker = new AgentPicker([A, B, C]);
    picker.update([load(B, 90), load(C, 95)]);
    expect(picker.next().map((address) => address.key)).toEqual([B.key, C.key, A.key]);
    picker.update([]); // nobody answered: the configured order
    expect(picker.next().map((address) => address.key)).toEqual([A.key, B.key, C.key]);
  });
});
