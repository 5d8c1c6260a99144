/**
 * Type-level tests of the typed client API (`pnpm typecheck` checks this file: each `@ts-expect-error`
 * must really be a type error): narrowing with `is`, typed values, per-field listeners, class
 * notifications, and senders that refuse a field the client may not send. Nothing here connects; the
 * run-time side is in typed.test.ts.
 */
import type { ObjectMirror, OverworldClient } from "@overworld/client";
import type { FieldKeywords } from "@overworld/protocol";
import { describe, expect, expectTypeOf, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";

/** Compiled, never called: the client is only a type here. */
function game(client: OverworldClient, mirror: ObjectMirror): void {
  // @ts-expect-error an untyped mirror's values are not the avatar's until narrowed: no such field typed
  expectTypeOf(mirror.get("setXY")).toEqualTypeOf<[number, number] | undefined>();
  if (mirror.is(demo.DistributedAvatar)) {
    expectTypeOf(mirror.get("setXY")).toEqualTypeOf<[number, number] | undefined>();
    expectTypeOf(mirror.get("hp")).toEqualTypeOf<number | undefined>();
    expectTypeOf(mirror.get("setXYH")).toEqualTypeOf<[number, number, number] | undefined>();
    // @ts-expect-error a wrong field name
    mirror.get("setNope");
    mirror.on("chat", ([from, text]) => {
      expectTypeOf(from).toEqualTypeOf<number>();
      expectTypeOf(text).toEqualTypeOf<string>();
    });
    // @ts-expect-error a wrong field name
    mirror.on("chatter", () => {});
    mirror.send("say", ["hi"]); // clsend
    mirror.send("setXY", [1, 2]); // ownsend: the owner check is at run time
    mirror.send("setXYH", [1, 2, 90]); // a molecular field of ownsend atoms
    // @ts-expect-error a wrong value type
    mirror.send("say", [42]);
    // @ts-expect-error a wrong value shape (an atomic field takes its argument tuple)
    mirror.send("say", "hi");
    // @ts-expect-error hp is broadcast ram: no client may send it
    mirror.send("hp", 5);
    // @ts-expect-error chat is broadcast only: the zone sends it
    mirror.send("chat", [1, "hi"]);
    // @ts-expect-error kick is gmonly airecv
    mirror.send("kick", ["spam"]);
  }
  if (mirror.is(demo.DistributedNpc)) {
    // @ts-expect-error an NPC has no say
    mirror.send("say", ["hi"]);
    expectTypeOf(mirror.get("setKind")).toEqualTypeOf<[number] | undefined>();
  }

  client.onCreated(demo.DistributedAvatar, (avatar) => {
    expectTypeOf(avatar.get("setName")).toEqualTypeOf<[string] | undefined>();
  });
  client.onUpdated(demo.DistributedAvatar, (_avatar, update) => {
    if (update.field === "setXY") expectTypeOf(update.value).toEqualTypeOf<[number, number]>();
    if (update.field === "hp") expectTypeOf(update.value).toEqualTypeOf<number>();
    // @ts-expect-error no such field in the union
    if (update.field === "setNope") return;
  });
  client.onDisabled(demo.DistributedBoss, (boss) =>
    expectTypeOf(boss.get("hp")).toEqualTypeOf<number | undefined>(),
  );
  client.onDeleted(demo.DistributedNpc, () => {});
  client.onField(demo.DistributedMover, "setSmXYH", (_mover, [x, y, h, t]) => {
    expectTypeOf([x, y, h, t]).toEqualTypeOf<number[]>();
  });
  // @ts-expect-error a wrong field name
  client.onField(demo.DistributedMover, "say", () => {});
  // @ts-expect-error a wrong value type in the listener
  client.onField(demo.DistributedAvatar, "say", (_a, [text]: [number]) => text);
}

describe("typed client API types", () => {
  it("carries the keywords of each field, a molecular field's from its atoms", () => {
    expectTypeOf<FieldKeywords<typeof demo.DistributedAvatar, "say">>().toEqualTypeOf<"clsend" | "airecv">();
    expectTypeOf<FieldKeywords<typeof demo.DistributedAvatar, "setXYH">>().toEqualTypeOf<
      "required" | "broadcast" | "ram" | "ownsend" | "airecv"
    >();
    expect(game).toBeTypeOf("function");
  });
});
