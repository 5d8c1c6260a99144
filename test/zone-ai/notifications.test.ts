/**
 * A zone's notifications and clean hooks as pure logic over its journal (no services; typed.test.ts runs
 * them in a cluster): created for objects present at start and entering, updated after the handlers,
 * disabled for an object whose AI moved away, deleted for a deleted one; a clean hook's changed value of a
 * stored field is written back, a refused value is set back to the value held and reaches no handler.
 * Also the zone side's type errors: a wrong field, a wrong value, a clean hook returning a wrong value.
 */
import { type messages, packField, unpackField, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import {
  clean,
  onCreated,
  onDeleted,
  onDisabled,
  onField,
  onUpdated,
  refuse,
  type ZoneHooks,
} from "../../services/zone-ai/src/plugin.ts";
import { type ZoneInput, type ZoneOutput, ZoneRuntime } from "../../services/zone-ai/src/zone-runtime.ts";

const { DistributedAvatar } = demo;
const CHANNEL = ZONE_CHANNEL_BASE + 1;
const CLIENT = 9_000_001;

interface State {
  log: string[];
}

const hooks: ZoneHooks<State> = {
  init: () => ({ log: [] }),
  fields: [
    onField(DistributedAvatar, "say", (_zone, state, avatar, [text]) =>
      state.log.push(`say ${avatar.doId} ${text}`),
    ),
  ],
  notifications: [
    onCreated(DistributedAvatar, (_zone, state, avatar) => state.log.push(`created ${avatar.doId}`)),
    onUpdated(DistributedAvatar, (_zone, state, avatar, { field }, sender) =>
      state.log.push(`updated ${avatar.doId} ${field} from ${sender}`),
    ),
    onDisabled(DistributedAvatar, (_zone, state, avatar) => state.log.push(`disabled ${avatar.doId}`)),
    onDeleted(DistributedAvatar, (_zone, state, avatar) => state.log.push(`deleted ${avatar.doId}`)),
  ],
  clean: [
    clean(DistributedAvatar, "say", (_zone, _state, _avatar, [text]) =>
      text === "no" ? refuse("no") : [text.toUpperCase()],
    ),
    clean(DistributedAvatar, "setXY", (_zone, _state, _avatar, [x, y]) =>
      x < 0 ? refuse("off the map") : [Math.min(x, 100), y],
    ),
  ],
};

const warnings: string[] = [];
const runtime = new ZoneRuntime({
  spec: { parent: 1000, zone: 1, kind: "field" },
  channel: CHANNEL,
  dc: demo.file,
  hooks: hooks as ZoneHooks<unknown>,
  channelOf: (zone) => ZONE_CHANNEL_BASE + zone,
  log: { info: () => {}, warn: (message) => warnings.push(message) },
});

const xy = DistributedAvatar.field("setXY");
const say = DistributedAvatar.field("say");
function avatar(doId: number, x: number): messages.ObjectSnapshot {
  return {
    doId,
    classId: DistributedAvatar.dclass.id,
    parentId: 1000,
    zoneId: 1,
    owner: CLIENT,
    fields: [[xy.id, packField(xy, [x, 0])]],
  };
}
let seq = 0;
const input = (message: messages.ZoneChannelMessage): ZoneInput => ({ seq: ++seq, time: seq, message });
const update = (doId: number, field: typeof xy, value: unknown) =>
  input({ kind: "update", sender: 1, updates: [[doId, field.id, packField(field, value as never), CLIENT]] });
const written = (outputs: ZoneOutput[]) =>
  outputs
    .flatMap((output) => (output.op === "updates" ? output.updates : []))
    .map(([doId, fieldId, bytes]) => ({
      doId,
      value: unpackField(DistributedAvatar.dclass.fieldById(fieldId)!, bytes),
    }));
const log = () => (runtime.snapshot().state as State).log;

describe("zone notifications and clean hooks", () => {
  it("reports objects at start and entering as created", () => {
    runtime.begin(
      [{ doId: 1, classId: DistributedAvatar.dclass.id, parent: 1000, zone: 1, owner: 0, fields: [] }],
      undefined,
      0,
    );
    runtime.receive(input({ kind: "enter-ai", sender: 1, object: avatar(2, 5) }));
    runtime.tick(10);
    expect(log()).toEqual(["created 1", "created 2"]);
  });

  it("cleans values before they are applied: changed, written back; refused, set back and unheard", () => {
    log().length = 0;
    runtime.receive(update(2, say, ["hi"]));
    runtime.receive(update(2, say, ["no"]));
    runtime.receive(update(2, xy, [500, 7]));
    const changed = written(runtime.tick(20));
    expect(log()).toEqual([`say 2 HI`, `updated 2 say from ${CLIENT}`, `updated 2 setXY from ${CLIENT}`]);
    expect(changed).toEqual([{ doId: 2, value: [100, 7] }]); // say is not stored: nothing to write back

    log().length = 0;
    runtime.receive(update(2, xy, [-1, 0]));
    expect(written(runtime.tick(30))).toEqual([{ doId: 2, value: [100, 7] }]); // set back to what the zone held
    expect(log()).toEqual([]);
    expect(warnings).toEqual([
      `refused DistributedAvatar.say of object 2 from channel ${CLIENT}: no`,
      `refused DistributedAvatar.setXY of object 2 from channel ${CLIENT}: off the map`,
    ]);
  });

  it("reports an object whose AI moved away as disabled, a deleted one as deleted", () => {
    log().length = 0;
    runtime.receive(
      input({ kind: "changing-ai", sender: 1, doId: 1, ai: ZONE_CHANNEL_BASE + 2, oldAi: CHANNEL }),
    );
    runtime.receive(input({ kind: "delete", sender: 1, doId: 2 }));
    runtime.tick(40);
    expect(log()).toEqual(["disabled 1", "deleted 2"]);
  });

  it("refuses at compile time a wrong field, a wrong value and a wrong cleaned value", () => {
    const wrong = [
      // @ts-expect-error a wrong field name
      () => onCreated(DistributedAvatar, (_zone, _state, avatar) => avatar.get("setNope")),
      // @ts-expect-error a wrong field name
      () => clean(DistributedAvatar, "sayy", () => refuse("x")),
      // @ts-expect-error a clean hook returns the field's value: setXY is [number, number]
      () => clean(DistributedAvatar, "setXY", () => [1]),
      // @ts-expect-error a wrong value for a zone's set
      () => onUpdated(DistributedAvatar, (zone, _state, avatar) => zone.set(avatar, "hp", "full")),
    ];
    expect(wrong).toHaveLength(4);
    expect(() => clean(DistributedAvatar, "sayy" as "say", () => refuse("x"))).toThrow(/has no field 'sayy'/);
  });
});
