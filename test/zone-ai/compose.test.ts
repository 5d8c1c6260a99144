/**
 * Plugins composed on one replica (services/zone-ai/src/plugins/compose.ts): a set that cannot run
 * together is refused with a message naming the plugin, the dependency or the kind, and what to do.
 */
import { describe, expect, it } from "vitest";
import { definePlugin } from "../../services/zone-ai/src/plugin.ts";
import { CompositionError, checkComposition, PluginSet } from "../../services/zone-ai/src/plugins/compose.ts";
import { encodeSwitch, readSwitch, switchGroups } from "../../services/zone-ai/src/plugins/switch-entry.ts";
import { hotExtras, hotWorld } from "./hot-plugins.ts";

const v1 = hotWorld({ version: "1.0.0", greeting: "v1", npcStep: 1 });

function refusal(plugins: Parameters<typeof checkComposition>[0]): string {
  try {
    checkComposition(plugins);
  } catch (error) {
    expect(error).toBeInstanceOf(CompositionError);
    return (error as Error).message;
  }
  throw new Error("the set was accepted");
}

describe("composing plugins", () => {
  it("runs plugins side by side, each with its kinds, a dependency in its range", () => {
    const set = new PluginSet([v1, hotExtras("^1.0.0")]);
    expect(set.composed.name).toBe("hot-world@1.0.0+hot-extras@1.0.0");
    expect(Object.keys(set.composed.kinds).sort()).toEqual(["extras", "field"]);
    expect(set.codeOf("field")).toBe("hot-world@1.0.0");
    expect(set.codeOf("extras")).toBe("hot-extras@1.0.0");
    expect(set.composed.kinds.extras?.init).toBeTypeOf("function");
    expect(set.composed.kinds.missing).toBeUndefined();
  });

  it("refuses a missing dependency, naming it and the plugin that needs it", () => {
    expect(refusal([hotExtras("^1.0.0")])).toBe(
      "plugin hot-extras@1.0.0 depends on hot-world ^1.0.0, which is not among the plugins (hot-extras): add hot-world",
    );
  });

  it("refuses a dependency out of its range, naming the version given", () => {
    expect(refusal([v1, hotExtras("^2.0.0")])).toBe(
      "plugin hot-extras@1.0.0 depends on hot-world ^2.0.0, but hot-world@1.0.0 is given: run a version of hot-world in ^2.0.0",
    );
    expect(refusal([v1, hotExtras("not a range!")])).toMatch(
      /hot-world "not a range!", which is not a semver range/,
    );
  });

  it("refuses two plugins claiming one zone kind, naming both", () => {
    expect(refusal([v1, hotExtras("^1.0.0", "field")])).toBe(
      'zone kind "field" is claimed by both hot-world@1.0.0 and hot-extras@1.0.0: each kind has one plugin; rename one',
    );
  });

  it("refuses a plugin given twice, a version that is not semver, two that give avatars", () => {
    expect(refusal([v1, hotWorld({ version: "1.1.0", greeting: "v2", npcStep: 5 })])).toMatch(
      /^plugin hot-world is given twice \(hot-world@1.0.0 and hot-world@1.1.0\)/,
    );
    expect(refusal([hotWorld({ version: "one", greeting: "x", npcStep: 1 })])).toBe(
      'plugin hot-world has version "one", which is not semver (e.g. 1.2.0)',
    );
    const other = hotWorld({ name: "other-world", version: "1.0.0", greeting: "x", npcStep: 1 });
    const renamed = definePlugin({ ...other, kinds: { elsewhere: other.kinds.field! } });
    expect(refusal([v1, renamed])).toMatch(
      /^plugins hot-world@1.0.0 and other-world@1.0.0 both give arriving clients their avatars/,
    );
  });

  it("reads a zone's switch entries only from the zone itself", () => {
    const entry = encodeSwitch({
      sender: 77,
      plugin: "hot-world",
      from: "hot-world@1.0.0",
      to: "hot-world@1.1.0",
      at: 1,
    });
    expect(readSwitch(entry, 77)?.to).toBe("hot-world@1.1.0");
    expect(readSwitch(entry, 78)).toBeUndefined(); // written for another zone: not this zone's switch
    expect(readSwitch(new Uint8Array([1, 2, 3]), 77)).toBeUndefined();
  });
});

describe("switching zones in groups", () => {
  it("groups zones whose migrations fit the budget together, in order, an expensive one alone", () => {
    const costs: [string, number][] = [
      ["a", 10],
      ["b", 10],
      ["c", 10],
      ["d", 40],
      ["e", 1],
    ];
    expect(switchGroups(costs, 25)).toEqual([["a", "b"], ["c"], ["d"], ["e"]]);
    expect(switchGroups(costs, 1000)).toEqual([["a", "b", "c", "d", "e"]]);
    expect(switchGroups([], 25)).toEqual([]);
  });
});
