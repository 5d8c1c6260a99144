/**
 * Zones of a plugin run as pure logic over journals, as replicas run them: each zone's runtime follows
 * its own journal (every input stamped with a sequence and a time), and what it outputs becomes journal
 * entries as the state server and the zone channels make them (a create or a move enters the AI of the
 * object's zone, a move tells the old AI, a zone event is journaled in its zone). Time is a number the
 * test advances, so runs are repeatable; a zone can be stopped (killed) and resumed from its snapshot.
 */
import {
  decodeEnvelope,
  encodeEnvelope,
  type messages,
  packField,
  ZONE_CHANNEL_BASE,
} from "@overworld/protocol";
import type { ZonePlugin } from "../../services/zone-ai/src/plugin.ts";
import {
  type ZoneInput,
  type ZoneOutput,
  ZoneRuntime,
  type ZoneSnapshot,
} from "../../services/zone-ai/src/zone-runtime.ts";

export const PARENT = 1000;
/** The channel a zone's outputs carry and the state server's own (as senders of deliveries). */
export const channelOf = (zone: number) => ZONE_CHANNEL_BASE + zone;
const STATE_SERVER = 4001;

interface StoredObject {
  classId: number;
  zone: number;
  owner: number;
  fields: Map<number, Uint8Array>;
}

export class Journals {
  time = 0;
  readonly journals = new Map<number, ZoneInput[]>();
  readonly objects = new Map<number, StoredObject>();
  readonly running = new Map<number, ZoneRuntime>();
  /** Runtimes that follow a zone's journal from its first entry, never stopped, whose outputs go nowhere. */
  readonly shadows = new Map<number, ZoneRuntime>();
  /** Every output of every zone, with the zone that made it. */
  readonly outputs: { zone: number; output: ZoneOutput }[] = [];
  readonly warnings: { zone: number; message: string }[] = [];
  private nextId = 9000;

  constructor(
    private readonly plugin: ZonePlugin,
    private readonly kindOf: (zone: number) => string,
  ) {}

  /** A zone's runtime, not begun. */
  runtime(zone: number): ZoneRuntime {
    return new ZoneRuntime({
      spec: { parent: PARENT, zone, kind: this.kindOf(zone) },
      channel: channelOf(zone),
      dc: this.plugin.schema.file,
      hooks: this.plugin.kinds[this.kindOf(zone)]!,
      channelOf,
      log: {
        info: () => {},
        warn: (message) => this.warnings.push({ zone, message }),
      },
    });
  }

  /**
   * Starts a zone fresh, or from a snapshot (then it follows its journal from the snapshot's sequence).
   * With `shadow`, a second runtime starts the same way and follows the same journal, uninterrupted.
   */
  start(zone: number, snapshot?: ZoneSnapshot, shadow = false): ZoneRuntime {
    const runtime = this.runtime(zone);
    runtime.addIds(this.nextId, 500);
    const here = [...this.objects].filter(([, object]) => object.zone === zone);
    const data = here.map(([doId, object]) => ({
      doId,
      classId: object.classId,
      parent: PARENT,
      zone,
      owner: object.owner,
      fields: [...object.fields],
    }));
    const backlog = [...this.journal(zone)];
    this.running.set(zone, runtime);
    if (shadow) {
      const copy = this.runtime(zone);
      copy.addIds(this.nextId, 500);
      copy.begin(structuredClone(data), snapshot, this.time);
      for (const input of backlog) copy.receive(input);
      this.shadows.set(zone, copy);
    }
    this.nextId += 500;
    const outputs = runtime.begin(data, snapshot, this.time);
    for (const input of backlog) runtime.receive(input); // those after the snapshot's sequence
    this.perform(zone, outputs);
    return runtime;
  }

  /** The zone's snapshot as a replica stores it (encoded, so only plain data survives). */
  snapshot(zone: number, of: "running" | "shadow" = "running"): ZoneSnapshot {
    const runtime = (of === "running" ? this.running : this.shadows).get(zone)!;
    return decodeEnvelope(encodeEnvelope(runtime.snapshot())) as ZoneSnapshot;
  }

  /** Kills a zone's runtime: its journal goes on receiving, nothing runs it. */
  kill(zone: number): void {
    this.running.delete(zone);
  }

  /** An object created in a zone by the cluster (as `Cluster.create` does). */
  create(classId: number, zone: number, fields: [number, Uint8Array][], owner = 0): number {
    const doId = this.nextId++;
    this.objects.set(doId, { classId, zone, owner, fields: new Map(fields) });
    this.append(zone, { kind: "enter-ai", sender: STATE_SERVER, object: this.snapshotOf(doId) });
    return doId;
  }

  /** A field update from a client (its channel), to the object's AI. */
  update(
    doId: number,
    field: Parameters<typeof packField>[0],
    value: Parameters<typeof packField>[1],
    from: number,
  ) {
    const object = this.objects.get(doId)!;
    const bytes = packField(field, value);
    object.fields.set(field.id, bytes);
    this.append(object.zone, {
      kind: "update",
      sender: STATE_SERVER,
      updates: [[doId, field.id, bytes, from]],
    });
  }

  /** Advances time and ticks every running zone once, in zone order. */
  tick(ms: number): void {
    this.time += ms;
    const zones = new Set([...this.running.keys(), ...this.shadows.keys()]);
    for (const zone of [...zones].sort((a, b) => a - b)) {
      this.shadows.get(zone)?.tick(this.time); // first: it applies the same entries as the zone it shadows
      const runtime = this.running.get(zone);
      if (runtime) this.perform(zone, runtime.tick(this.time));
    }
  }

  journal(zone: number): ZoneInput[] {
    let journal = this.journals.get(zone);
    if (journal === undefined) {
      journal = [];
      this.journals.set(zone, journal);
    }
    return journal;
  }

  /** Journals a message in a zone's journal (as if published to its channel). */
  append(zone: number, message: messages.ZoneChannelMessage): void {
    const journal = this.journal(zone);
    const input: ZoneInput = { seq: journal.length + 1, time: this.time, message };
    journal.push(input);
    this.running.get(zone)?.receive(input);
    this.shadows.get(zone)?.receive(input);
  }

  private snapshotOf(doId: number): messages.ObjectSnapshot {
    const object = this.objects.get(doId)!;
    return {
      doId,
      classId: object.classId,
      parentId: PARENT,
      zoneId: object.zone,
      fields: [...object.fields].sort((a, b) => a[0] - b[0]),
      ...(object.owner ? { owner: object.owner } : {}),
    };
  }

  private perform(zone: number, outputs: readonly ZoneOutput[]): void {
    for (const output of outputs) {
      this.outputs.push({ zone, output });
      switch (output.op) {
        case "create":
          this.objects.set(output.doId, {
            classId: output.classId,
            zone: output.zone,
            owner: output.owner,
            fields: new Map(output.fields),
          });
          this.append(output.zone, {
            kind: "enter-ai",
            sender: STATE_SERVER,
            object: this.snapshotOf(output.doId),
          });
          break;
        case "updates":
          for (const [doId, fieldId, value] of output.updates)
            this.objects.get(doId)?.fields.set(fieldId, value);
          break;
        case "move": {
          const object = this.objects.get(output.doId);
          if (object === undefined || object.zone === output.zone) break;
          const old = object.zone;
          object.zone = output.zone;
          this.append(old, {
            kind: "changing-ai",
            sender: STATE_SERVER,
            doId: output.doId,
            ai: output.ai,
            oldAi: channelOf(old),
          });
          this.append(output.zone, {
            kind: "enter-ai",
            sender: STATE_SERVER,
            object: this.snapshotOf(output.doId),
          });
          break;
        }
        case "delete":
          this.objects.delete(output.doId);
          break;
        case "event":
          this.append(output.channel - ZONE_CHANNEL_BASE, {
            kind: "zone-event",
            sender: channelOf(zone),
            name: output.name,
            target: output.target,
            data: output.data,
            origin: output.origin,
          });
          break;
      }
    }
  }
}
