/**
 * Plugin rules down the tree (main, cluster, client), resolved by `resolveCluster` and `resolveClient`:
 * examples with their messages, then properties over random trees of rules and random catalogues of
 * versions, each checked against a brute-force search of every assignment.
 */
import {
  type AvailablePlugin,
  type Pin,
  type PluginHello,
  type Ranges,
  type RuleLevel,
  resolveClient,
  resolveCluster,
} from "@overworld/manifest";
import fc from "fast-check";
import semver from "semver";
import { describe, expect, it } from "vitest";

const plugin = (
  name: string,
  version: string,
  dependencies: Ranges = {},
  edge: AvailablePlugin["edge"] = "server-client",
): AvailablePlugin => ({ name, version, edge, dependencies });

describe("resolving the rules of a cluster and a client", () => {
  const available = [
    plugin("combat", "1.5.0"),
    plugin("combat", "2.1.0"),
    plugin("combat", "2.4.0"),
    plugin("boss-ai", "1.0.0", { combat: "^2.0.0" }),
    plugin("boss-ai", "1.1.0", { combat: "^2.0.0", loot: "^1.0.0" }),
    plugin("chat", "1.1.0", {}, "client-server"),
    plugin("chat", "1.2.0", {}, "client-server"),
    plugin("chat", "1.3.0", {}, "client-server"),
    plugin("hud", "1.0.0", { chat: "^1.0.0" }, "client-server"),
    plugin("emotes", "1.0.0", { chat: "~1.1.0" }, "client-server"),
    plugin("emotes", "2.0.0", { chat: "^1.2.0" }, "client-server"),
  ];
  const main: RuleLevel = { by: "main", servers: { "boss-ai": "^1.0.0" }, clients: { chat: ">=1.1.0" } };
  const east: RuleLevel = { by: "cluster east", servers: {}, clients: { chat: "<1.3.0", hud: "*" } };

  it("pins the highest versions every level allows, with their dependencies, backtracking past a missing one", () => {
    const resolved = resolveCluster([main, east], available);
    expect(resolved).toEqual({
      ok: true,
      // boss-ai 1.1.0 needs loot, which nobody has: 1.0.0 it is
      servers: [
        { name: "boss-ai", version: "1.0.0" },
        { name: "combat", version: "2.4.0" },
      ],
      hello: {
        required: [
          { name: "chat", version: "1.2.0" },
          { name: "hud", version: "1.0.0" },
        ],
      },
    });
  });

  it("names the plugin and the ranges that conflict, with who set each", () => {
    const strict: RuleLevel = { by: "cluster west", servers: { combat: "<2.0.0" }, clients: {} };
    const resolved = resolveCluster([main, strict], available);
    expect(resolved.ok).toBe(false);
    if (resolved.ok) return;
    expect(resolved.message).toBe(
      "no version of combat satisfies every rule on it: ^2.0.0 (boss-ai@1.1.0), <2.0.0 (cluster west for servers); versions there are: 2.4.0, 2.1.0, 1.5.0",
    );
    expect(resolveCluster([{ by: "main", servers: { chat: "*" }, clients: {} }], available)).toMatchObject({
      ok: false,
      message: "chat is a client-server plugin, run by a client; it cannot be required of a server",
    });
  });

  it("lets a client add plugins around its hello, never drop or change one", () => {
    const hello: PluginHello = { required: [{ name: "chat", version: "1.2.0" }] };
    expect(resolveClient(hello, { emotes: "*" }, available)).toEqual({
      ok: true,
      plugins: [
        { name: "chat", version: "1.2.0" },
        { name: "emotes", version: "2.0.0" },
      ],
    });
    expect(resolveClient(hello, { emotes: "^1.0.0" }, available)).toMatchObject({
      ok: false,
      message:
        "no version of chat satisfies every rule on it: ~1.1.0 (emotes@1.0.0), 1.2.0 (pinned); versions there are: 1.3.0, 1.2.0, 1.1.0",
    });
    expect(resolveClient(hello, { chat: "~1.1.0" }, available)).toMatchObject({
      ok: false,
      message:
        "the client asks for chat ~1.1.0, but the hello requires chat@1.2.0; a required plugin cannot be dropped or changed",
    });
  });
});

// ---- properties -------------------------------------------------------------------------------------

const SERVER_NAMES = ["sa", "sb", "sc"] as const;
const CLIENT_NAMES = ["ca", "cb", "cc"] as const;
const VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "3.0.0"];
const RANGES = [
  "*",
  "^1.0.0",
  "^1.1.0",
  "~1.1.0",
  ">=1.2.0",
  "<2.0.0",
  "1.2.0",
  "^2.0.0",
  ">=2.0.0 <3.0.0",
  "^3.0.0",
];

const RULE_RANGES = ["*", "*", "*", ">=1.0.0", ">=1.0.0", "<3.0.0", ...RANGES];

const rangesOver = (names: readonly string[], maxKeys = 2) =>
  fc.dictionary(fc.constantFrom(...names), fc.constantFrom(...RULE_RANGES), { maxKeys });

/** Some versions of each name (one time in ten none), a third of them with a dependency. */
const availableArb = (names: readonly string[], edge: AvailablePlugin["edge"]) =>
  fc
    .tuple(
      ...names.map((name) =>
        fc
          .oneof(
            { weight: 9, arbitrary: fc.subarray(VERSIONS, { minLength: 1 }) },
            { weight: 1, arbitrary: fc.constant([]) },
          )
          .chain((versions) =>
            fc.tuple(
              ...versions.map((version) =>
                fc
                  .oneof(
                    { weight: 2, arbitrary: fc.constant({}) },
                    {
                      weight: 1,
                      arbitrary: rangesOver(
                        names.filter((other) => other !== name),
                        1,
                      ),
                    },
                  )
                  .map((dependencies): AvailablePlugin => ({ name, version, edge, dependencies })),
              ),
            ),
          ),
      ),
    )
    .map((lists) => lists.flat());

const treeArb = fc.record({
  available: fc
    .tuple(availableArb(SERVER_NAMES, "server-client"), availableArb(CLIENT_NAMES, "client-server"))
    .map(([servers, clients]) => [...servers, ...clients]),
  main: fc.record({ servers: rangesOver(SERVER_NAMES), clients: rangesOver(CLIENT_NAMES) }),
  clusters: fc.array(
    fc.record({
      servers: rangesOver(SERVER_NAMES),
      clients: rangesOver(CLIENT_NAMES),
      players: fc.array(rangesOver(CLIENT_NAMES), { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});

type Tree = typeof treeArb extends fc.Arbitrary<infer T> ? T : never;

function levelsOf(tree: Tree, index: number): RuleLevel[] {
  const cluster = tree.clusters[index]!;
  return [
    { by: "main", ...tree.main },
    { by: `cluster ${index}`, servers: cluster.servers, clients: cluster.clients },
  ];
}

/** Is there any assignment of versions (or none) to `names` meeting every range and dependency? */
function solvable(
  names: readonly string[],
  ranges: readonly (readonly [string, string])[],
  fixed: readonly Pin[],
  available: readonly AvailablePlugin[],
): boolean {
  const options = names.map((name) => {
    const pin = fixed.find((candidate) => candidate.name === name);
    const versions = available.filter((entry) => entry.name === name);
    return pin ? versions.filter((entry) => entry.version === pin.version) : [undefined, ...versions];
  });
  const assignment: (AvailablePlugin | undefined)[] = [];
  const valid = () => {
    const version = (name: string) => assignment[names.indexOf(name)]?.version;
    return (
      ranges.every(
        ([name, range]) => version(name) !== undefined && semver.satisfies(version(name)!, range),
      ) &&
      assignment.every(
        (chosen) =>
          chosen === undefined ||
          Object.entries(chosen.dependencies).every(
            ([name, range]) => version(name) !== undefined && semver.satisfies(version(name)!, range),
          ),
      )
    );
  };
  const walk = (at: number): boolean => {
    if (at === names.length) return valid();
    return options[at]!.some((option) => {
      assignment[at] = option;
      return walk(at + 1);
    });
  };
  return walk(0);
}

/** The pins meet every range on them and every dependency of each other, and are all available. */
function sound(
  pins: readonly Pin[],
  ranges: readonly (readonly [string, string])[],
  available: readonly AvailablePlugin[],
) {
  const version = (name: string) => pins.find((pin) => pin.name === name)?.version;
  for (const [name, range] of ranges) {
    expect(version(name), `${name} ${range}`).toBeDefined();
    expect(semver.satisfies(version(name)!, range), `${name}@${version(name)} in ${range}`).toBe(true);
  }
  for (const pin of pins) {
    const entry = available.find(
      (candidate) => candidate.name === pin.name && candidate.version === pin.version,
    );
    expect(entry, `${pin.name}@${pin.version} is available`).toBeDefined();
    for (const [name, range] of Object.entries(entry!.dependencies)) {
      expect(version(name) !== undefined && semver.satisfies(version(name)!, range)).toBe(true);
    }
  }
}

const entriesOf = (...all: Ranges[]) => all.flatMap((ranges) => Object.entries(ranges));

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const reorder = (ranges: Ranges, seed: number): Ranges =>
  Object.fromEntries(shuffled(Object.entries(ranges), seed));

describe("resolution over random trees of rules", () => {
  it("pins every plugin required from above, in every range, and fails only when nothing could", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        tree.clusters.forEach((cluster, index) => {
          const resolved = resolveCluster(levelsOf(tree, index), tree.available);
          const serverRanges = entriesOf(tree.main.servers, cluster.servers);
          const clientRanges = entriesOf(tree.main.clients, cluster.clients);
          const possible =
            solvable(SERVER_NAMES, serverRanges, [], tree.available) &&
            solvable(CLIENT_NAMES, clientRanges, [], tree.available);
          expect(resolved.ok).toBe(possible);
          if (!resolved.ok) return;
          sound(resolved.servers, serverRanges, tree.available);
          sound(resolved.hello.required, clientRanges, tree.available);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("gives a client its hello's plugins at their versions, plus its own additions, or an error", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        tree.clusters.forEach((cluster, index) => {
          const resolved = resolveCluster(levelsOf(tree, index), tree.available);
          if (!resolved.ok) return;
          for (const optional of cluster.players) {
            const client = resolveClient(resolved.hello, optional, tree.available);
            const possible = solvable(
              CLIENT_NAMES,
              Object.entries(optional),
              resolved.hello.required,
              tree.available,
            );
            expect(client.ok).toBe(possible);
            if (!client.ok) continue;
            for (const required of resolved.hello.required) expect(client.plugins).toContainEqual(required);
            sound(
              client.plugins,
              [...entriesOf(tree.main.clients, cluster.clients), ...Object.entries(optional)],
              tree.available,
            );
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it("is deterministic and independent of the order of its inputs", () => {
    fc.assert(
      fc.property(treeArb, fc.integer(), (tree, seed) => {
        tree.clusters.forEach((cluster, index) => {
          const levels = levelsOf(tree, index);
          const first = resolveCluster(levels, tree.available);
          const again = resolveCluster(
            levels.map((level) => ({
              ...level,
              servers: reorder(level.servers, seed),
              clients: reorder(level.clients, seed + 1),
            })),
            shuffled(tree.available, seed).map((entry) => ({
              ...entry,
              dependencies: reorder(entry.dependencies, seed),
            })),
          );
          expect(again).toEqual(first);
          if (!first.ok) return;
          for (const optional of cluster.players) {
            const client = resolveClient(first.hello, optional, tree.available);
            const shuffledHello = { required: shuffled(first.hello.required, seed) };
            expect(
              resolveClient(shuffledHello, reorder(optional, seed), shuffled(tree.available, seed + 2)),
            ).toEqual(client);
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it("names, when it fails, the plugin and every range in conflict, which no version of it meets", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const failures = tree.clusters.flatMap((cluster, index) => {
          const resolved = resolveCluster(levelsOf(tree, index), tree.available);
          if (!resolved.ok) return [resolved];
          return cluster.players
            .map((optional) => resolveClient(resolved.hello, optional, tree.available))
            .filter((client) => !client.ok);
        });
        for (const failure of failures) {
          if (failure.ok) continue;
          const { conflict, message } = failure;
          expect(message).toContain(conflict.plugin);
          expect(conflict.ranges.length).toBeGreaterThan(0);
          for (const { range, by } of conflict.ranges) {
            expect(message).toContain(range);
            expect(message).toContain(by);
          }
          for (const version of conflict.available) {
            expect(conflict.ranges.every(({ range }) => semver.satisfies(version, range))).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
