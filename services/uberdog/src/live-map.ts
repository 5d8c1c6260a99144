/**
 * The dashboard's live map of one world (a parent object and its zones), fed by the cluster itself:
 * uberdog's participant subscribes to the parent's location subjects (`<root>.l.<parent>.*`, which the
 * catalogue lets readers hear: entries, exits, deletions and the zone's broadcast field updates, as every
 * client agent watching a zone hears them) and starts from the state server's view of the parent's active
 * zones (`ss.query-zones`), asked again every few seconds to mend anything missed. Each object is kept as
 * its doId, class, zone, owner and position: the first two numbers of the latest of its position fields
 * (`setXY`, `setSmXYH`, ... : MAP_POSITION_FIELDS).
 *
 * Listeners get the whole picture at most `hz` times a second, and only when something changed, however
 * fast the world moves. The map also times the walk steps it sees: a `setSmXYH`-like field whose last
 * parameter is its sender's cluster time in ms modulo 2^32 (as the bots and the demo client stamp their
 * steps) gives the latency from the sender, through its client agent and the state server, to here.
 */
import { latencyMs } from "@overworld/bots";
import type { DcFile, Field } from "@overworld/protocol";
import { parseDelivery } from "@overworld/service";
import type { AdminCluster, Json, ObjectView } from "./cluster.ts";

/** One object on the map: [doId, class name, zone, x, y, owner channel or 0]; x and y null when unknown. */
export type MapObject = [number, string, number, number | null, number | null, number];

export interface MapFrame {
  readonly parentId: number;
  /** The parent object's own fields (a world's grid, for one), when it could be read. */
  readonly parent: Record<string, Json> | null;
  readonly objects: MapObject[];
  /** Broadcast field updates seen on the parent's zones since the previous frame, per second. */
  readonly updatesPerSecond: number;
}

export interface LiveMapOptions {
  /** The fields whose first two numbers place an object (the latest one seen wins). */
  readonly positionFields: readonly string[];
  /** The most frames a second. */
  readonly hz: number;
  /** How often the state server's view is asked for again (ms). */
  readonly resyncMs: number;
  /** Called with each walk step's latency (ms) when the stamp field is seen. */
  readonly onLatency?: (ms: number) => void;
  readonly onError?: (error: unknown) => void;
}

/** Walk steps stamped with a cluster time: the field name's prefix the demo world and the bots use. */
const STAMPED = /^setSm/;

interface Tracked {
  className: string;
  zoneId: number;
  owner: number;
  x: number | null;
  y: number | null;
}

/** The first two numbers of a field value (flattening arrays and structs), if it has them. */
export function pointOf(value: unknown): [number, number] | undefined {
  const numbers: number[] = [];
  const visit = (each: unknown): void => {
    if (numbers.length >= 2) return;
    if (typeof each === "number") numbers.push(each);
    else if (Array.isArray(each)) for (const item of each) visit(item);
    else if (each !== null && typeof each === "object") for (const item of Object.values(each)) visit(item);
  };
  visit(value);
  return numbers.length === 2 && numbers.every(Number.isFinite) ? [numbers[0]!, numbers[1]!] : undefined;
}

export class LiveMap {
  private readonly objects = new Map<number, Tracked>();
  private readonly listeners = new Set<(frame: MapFrame) => void>();
  private readonly positionIds: Set<number>;
  private parent: Record<string, Json> | null = null;
  private dirty = true;
  private updates = 0;
  private lastFrameAt = Date.now();
  private unsubscribe: (() => void) | undefined;
  private frameTimer: ReturnType<typeof setInterval> | undefined;
  private resyncTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly cluster: AdminCluster,
    readonly parentId: number,
    private readonly options: LiveMapOptions,
  ) {
    const dc: DcFile = cluster.dc;
    this.positionIds = new Set(
      dc.classes
        .flatMap((dclass) => options.positionFields.map((name) => dclass.field(name)))
        .filter((field): field is Field => field !== undefined)
        .map((field) => field.id),
    );
  }

  get listening(): number {
    return this.listeners.size;
  }

  /** Adds a listener (starting the map with the first); returns how to remove it (stopping with the last). */
  listen(listener: (frame: MapFrame) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    else listener(this.frame());
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearInterval(this.frameTimer);
    clearInterval(this.resyncTimer);
    this.objects.clear();
    this.listeners.clear();
  }

  private start(): void {
    this.unsubscribe = this.cluster.watchLocations(this.parentId, (data) => this.heard(data));
    const resync = () => {
      this.resync().catch((error: unknown) => this.options.onError?.(error));
    };
    resync();
    this.resyncTimer = setInterval(resync, this.options.resyncMs);
    this.frameTimer = setInterval(() => this.tick(), Math.max(1, Math.round(1000 / this.options.hz)));
  }

  /** The state server's view of the parent's active zones: objects missed or gone are mended. */
  private async resync(): Promise<void> {
    const [zones, parent] = await Promise.all([
      this.cluster.activeZones(this.parentId),
      this.cluster.object(this.parentId).then(
        (object) => object.fields,
        () => null,
      ),
    ]);
    const seen = zones.length === 0 ? [] : await this.cluster.objectsIn(this.parentId, zones);
    if (this.unsubscribe === undefined) return; // stopped meanwhile
    this.parent = parent;
    const present = new Set<number>();
    for (const view of seen) {
      present.add(view.doId);
      const known = this.objects.get(view.doId);
      const point = this.pointOfView(view);
      this.objects.set(view.doId, {
        className: view.className,
        zoneId: view.zoneId,
        owner: view.owner ?? 0,
        // what the feed brought since the query was answered is at least as new
        x: known?.x ?? point?.[0] ?? null,
        y: known?.y ?? point?.[1] ?? null,
      });
    }
    for (const doId of this.objects.keys()) if (!present.has(doId)) this.objects.delete(doId);
    this.dirty = true;
  }

  private pointOfView(view: ObjectView): [number, number] | undefined {
    for (const name of this.options.positionFields.toReversed()) {
      const point = name in view.fields ? pointOf(view.fields[name]) : undefined;
      if (point) return point;
    }
    return undefined;
  }

  private heard(data: Uint8Array): void {
    let delivery: ReturnType<typeof parseDelivery>;
    try {
      delivery = parseDelivery(data);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    switch (delivery.kind) {
      case "enter": {
        const view = this.cluster.view(delivery.object);
        const point = this.pointOfView(view);
        this.objects.set(view.doId, {
          className: view.className,
          zoneId: view.zoneId,
          owner: view.owner ?? 0,
          x: point?.[0] ?? null,
          y: point?.[1] ?? null,
        });
        break;
      }
      case "leave": {
        const object = this.objects.get(delivery.doId);
        // an exit from a zone the object has already entered anew says nothing of where it is now
        if (object && object.zoneId === delivery.zoneId) this.objects.delete(delivery.doId);
        break;
      }
      case "delete":
        this.objects.delete(delivery.doId);
        break;
      case "update":
        for (const [doId, fieldId, bytes] of delivery.updates) this.updated(doId, fieldId, bytes);
        break;
      default:
        return;
    }
    this.dirty = true;
  }

  private updated(doId: number, fieldId: number, bytes: Uint8Array): void {
    this.updates++;
    if (!this.positionIds.has(fieldId)) return;
    const field = this.cluster.dc.fieldById(fieldId);
    if (field === undefined) return;
    let value: Json;
    try {
      value = this.cluster.decode(field, bytes);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    if (STAMPED.test(field.name) && Array.isArray(value) && typeof value.at(-1) === "number") {
      this.options.onLatency?.(latencyMs(Date.now(), value.at(-1) as number));
    }
    const object = this.objects.get(doId);
    const point = pointOf(value);
    if (!object || !point) return;
    [object.x, object.y] = point;
  }

  private tick(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const frame = this.frame();
    for (const listener of this.listeners) listener(frame);
  }

  private frame(): MapFrame {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastFrameAt) / 1000);
    const frame: MapFrame = {
      parentId: this.parentId,
      parent: this.parent,
      objects: [...this.objects].map(([doId, object]) => [
        doId,
        object.className,
        object.zoneId,
        object.x,
        object.y,
        object.owner,
      ]),
      updatesPerSecond: Math.round(this.updates / seconds),
    };
    this.updates = 0;
    this.lastFrameAt = now;
    return frame;
  }
}

/** The live maps uberdog keeps, one per parent being watched, shared by every dashboard watching it. */
export class LiveMaps {
  private readonly maps = new Map<number, LiveMap>();

  constructor(
    private readonly cluster: AdminCluster,
    private readonly options: LiveMapOptions,
  ) {}

  listen(parentId: number, listener: (frame: MapFrame) => void): () => void {
    let map = this.maps.get(parentId);
    if (!map) {
      map = new LiveMap(this.cluster, parentId, this.options);
      this.maps.set(parentId, map);
    }
    const stop = map.listen(listener);
    return () => {
      stop();
      if (map.listening === 0) this.maps.delete(parentId);
    };
  }
}
