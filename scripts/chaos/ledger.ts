/**
 * Acknowledged writes, and whether they are still there. The harness joins the cluster as an operator
 * tool (role `tool`) and writes through the state server, one write at a time, round-robin over its
 * own objects:
 * - stored objects (Postgres): `db.set` of a DistributedAvatar's `setName` (a db field) to `w<n>`,
 *   answered once Postgres committed it;
 * - live objects (Redis): `ss.set` of a DistributedNpc's `setXY` (a ram field) to `[n, 0]`, answered
 *   once the state server's script ran in Redis. They live under parent LEDGER_PARENT, where no zone
 *   logic runs and nobody looks.
 * n counts up over the run. A write is acknowledged when its `{ok: true}` answer came; the ledger keeps,
 * per object, the last acknowledged n and the last n attempted. The check reads every object back
 * (`db.get`, `ss.get`): a value below the last acknowledged (or none) is an acknowledged write lost; the
 * write in flight when a fault struck may have landed without its answer, so anything up to the last
 * attempted is fine.
 */
import { readFileSync } from "node:fs";
import {
  type DcFile,
  type Field,
  legacyHash,
  loadDcFiles,
  messages,
  packField,
  unpackField,
} from "../../libs/protocol/src/index.ts";
import { connectPostgres, joinCluster, type Participant, trustFiles } from "../../libs/service/src/index.ts";
import type { ChaosCluster } from "./cluster.ts";

/** Where the live ledger objects are: a parent of no world, its zone 1. */
const LEDGER_PARENT = 999;
const WRITE_GAP_MS = 20;
const REQUEST_TIMEOUT_MS = 2000;

interface Entry {
  readonly doId: number;
  readonly kind: "db" | "ram";
  acked: number;
  attempted: number;
  /** Left alone from now on (the canary removed its acknowledged write behind the cluster's back). */
  frozen: boolean;
}

export interface LedgerCheck {
  /** Acknowledged writes found missing or older, one line each. */
  readonly lost: string[];
  /** Objects that could not be read now (a service still down): check again. */
  readonly unreadable: number;
}

export class Ledger {
  readonly dc: DcFile;
  acked = 0;
  failed = 0;
  private readonly entries: Entry[] = [];
  private participant: Participant | undefined;
  private writing: Promise<void> | undefined;
  private running = false;
  private next = 0;
  private seq = 0;
  private readonly nameField: Field;
  private readonly positionField: Field;

  constructor(private readonly cluster: ChaosCluster) {
    this.dc = loadDcFiles(cluster.dcFiles);
    this.nameField = this.dc.class("DistributedAvatar")!.field("setName")!;
    this.positionField = this.dc.class("DistributedNpc")!.field("setXY")!;
  }

  get tool(): Participant {
    if (this.participant === undefined) throw new Error("the ledger has not joined the cluster");
    return this.participant;
  }

  /** Joins as a tool and makes `perKind` stored and `perKind` live objects. */
  async open(perKind: number): Promise<void> {
    const { cluster } = this;
    this.participant = await joinCluster({
      natsUrl: cluster.nats!.url,
      credentials: readFileSync(trustFiles(cluster.natsDir).credentials("tool"), "utf8"),
      role: "tool",
      instanceId: `${cluster.ns.tag}-chaos-ledger`,
      version: cluster.version,
      schemaHash: legacyHash(this.dc),
      root: cluster.ns.root,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const avatar = this.dc.class("DistributedAvatar")!;
    const npc = this.dc.class("DistributedNpc")!;
    const value = (cls: typeof npc, name: string, fieldValue: unknown) => {
      const field = cls.field(name)!;
      return [field.id, packField(field, fieldValue as never)] as [number, Uint8Array];
    };
    for (let i = 0; i < perKind; i++) {
      const stored = await this.tool.request("db", "create", {
        classId: avatar.id,
        fields: [value(avatar, "setName", ["w0"])],
      });
      this.entries.push({ doId: stored.doId, kind: "db", acked: 0, attempted: 0, frozen: false });
      const live = await this.tool.request("ss", "create", {
        classId: npc.id,
        parentId: LEDGER_PARENT,
        zoneId: 1,
        fields: [value(npc, "setXY", [0, 0]), value(npc, "setH", [0]), value(npc, "setKind", [0])],
      });
      this.entries.push({ doId: live.doId, kind: "ram", acked: 0, attempted: 0, frozen: false });
    }
  }

  /** Writes, one at a time, until `stopWriting`. */
  startWriting(): void {
    this.running = true;
    this.writing = (async () => {
      while (this.running) {
        await this.writeOne();
        await new Promise((wake) => setTimeout(wake, WRITE_GAP_MS));
      }
    })();
  }

  async stopWriting(): Promise<void> {
    this.running = false;
    await this.writing;
  }

  /** Reads every object back and compares with what was acknowledged. */
  async check(): Promise<LedgerCheck> {
    const lost: string[] = [];
    let unreadable = 0;
    await Promise.all(
      this.entries.map(async (entry) => {
        // acknowledged before the read was asked: what the read must see (a write acknowledged while
        // the read is under way may land after it)
        const acked = entry.acked;
        let found: number | undefined;
        try {
          found = await this.read(entry);
        } catch (error) {
          // the object itself is gone: its writes with it; anything else (a timeout, a service down): later
          const gone =
            error instanceof messages.RequestError &&
            (error.code === "unknown_object" || error.code === "not_found");
          if (!gone) {
            unreadable++;
            return;
          }
        }
        if (found === undefined || found < acked) {
          const what = entry.kind === "db" ? "setName (db, Postgres)" : "setXY (ram, Redis)";
          lost.push(
            `object ${entry.doId} ${what}: write ${acked} was acknowledged, found ${found === undefined ? "no value" : `write ${found}`}`,
          );
        }
      }),
    );
    return { lost, unreadable };
  }

  /**
   * The canary: removes one acknowledged write behind the cluster's back (its row in the state server's
   * Postgres table), and writes that object no more. Returns what it removed.
   */
  async dropOneAcked(): Promise<string> {
    const entry = this.entries.find((each) => each.kind === "db" && each.acked > 0 && !each.frozen);
    if (entry === undefined) throw new Error("the canary found no acknowledged db write to drop yet");
    entry.frozen = true;
    while (this.inFlight === entry) await new Promise((wake) => setTimeout(wake, WRITE_GAP_MS));
    const pool = await connectPostgres(this.cluster.databaseUrl, "chaos-canary", 1);
    try {
      await pool.query(`DELETE FROM "${this.cluster.ns.schemas.stateServer}".fields WHERE do_id = $1`, [
        entry.doId,
      ]);
    } finally {
      await pool.end();
    }
    return `object ${entry.doId} setName: acknowledged write ${entry.acked}, deleted from Postgres`;
  }

  async close(): Promise<void> {
    await this.stopWriting();
    await this.participant?.leave().catch(() => {});
  }

  private inFlight: Entry | undefined;

  private async writeOne(): Promise<void> {
    const writable = this.entries.filter((entry) => !entry.frozen);
    if (writable.length === 0) return;
    const entry = writable[this.next++ % writable.length]!;
    const n = ++this.seq;
    entry.attempted = n;
    this.inFlight = entry;
    try {
      if (entry.kind === "db") {
        await this.tool.request("db", "set", {
          doId: entry.doId,
          fields: [[this.nameField.id, packField(this.nameField, [`w${n}`])]],
        });
      } else {
        await this.tool.request("ss", "set", {
          doId: entry.doId,
          fields: [[this.positionField.id, packField(this.positionField, [n, 0])]],
        });
      }
      entry.acked = n;
      this.acked++;
    } catch {
      this.failed++; // not acknowledged: nothing is promised
    } finally {
      this.inFlight = undefined;
    }
  }

  private async read(entry: Entry): Promise<number | undefined> {
    if (entry.kind === "db") {
      const reply = await this.tool.request("db", "get", { doId: entry.doId, fieldIds: [this.nameField.id] });
      const bytes = reply.fields.find(([id]) => id === this.nameField.id)?.[1];
      if (bytes === undefined) return undefined;
      const [name] = unpackField(this.nameField, bytes) as [string];
      return Number(name.slice(1));
    }
    const reply = await this.tool.request("ss", "get", {
      doId: entry.doId,
      fieldIds: [this.positionField.id],
    });
    const bytes = reply.fields.find(([id]) => id === this.positionField.id)?.[1];
    if (bytes === undefined) return undefined;
    const [x] = unpackField(this.positionField, bytes) as [number, number];
    return x;
  }
}
