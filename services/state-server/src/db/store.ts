import { bytesEqual } from "@overworld/protocol";
import { quoteIdentifier } from "@overworld/service";
import type { Pool, PoolClient } from "pg";
import type { FieldBytes } from "../model.ts";

/** A compare-and-set condition: the field must hold these bytes, or be unset when `expected` is null. */
export interface Expectation {
  readonly fieldId: number;
  readonly expected: Uint8Array | null;
}

export type CompareOutcome =
  | { readonly status: "missing" }
  | { readonly status: "applied" }
  | { readonly status: "mismatch"; readonly current: Map<number, Uint8Array> };

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Stored objects in Postgres, for the operations that are not plain field writes (those go through
 * the BatchWriter): creating, reading, compare-and-set and deleting objects.
 */
export class DbStore {
  private readonly objects: string;
  private readonly fields: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.objects = `${quoteIdentifier(schema)}.objects`;
    this.fields = `${quoteIdentifier(schema)}.fields`;
  }

  /** Stores a new object with its fields; false if the doId is already taken. */
  async createObject(doId: number, classId: number, fields: readonly FieldBytes[]): Promise<boolean> {
    return this.transaction(async (client) => {
      const inserted = await client.query(
        `INSERT INTO ${this.objects} (do_id, class_id) VALUES ($1, $2) ON CONFLICT (do_id) DO NOTHING`,
        [doId, classId],
      );
      if (inserted.rowCount !== 1) return false;
      await this.upsert(client, doId, fields);
      return true;
    });
  }

  async classOf(doId: number): Promise<number | undefined> {
    const result = await this.pool.query<{ class_id: number }>(
      `SELECT class_id FROM ${this.objects} WHERE do_id = $1`,
      [doId],
    );
    return result.rows[0]?.class_id;
  }

  /** Stored values by field id; all of them, or those of `fieldIds` that are set. */
  async getFields(doId: number, fieldIds?: readonly number[]): Promise<Map<number, Uint8Array>> {
    const result =
      fieldIds === undefined
        ? await this.pool.query<{ field_id: number; value: Buffer }>(
            `SELECT field_id, value FROM ${this.fields} WHERE do_id = $1 ORDER BY field_id`,
            [doId],
          )
        : await this.pool.query<{ field_id: number; value: Buffer }>(
            `SELECT field_id, value FROM ${this.fields} WHERE do_id = $1 AND field_id = ANY($2::integer[])
             ORDER BY field_id`,
            [doId, fieldIds],
          );
    return new Map(result.rows.map((row) => [row.field_id, row.value]));
  }

  /**
   * Writes `writes` if every expectation holds, in one transaction holding the object's row lock (so
   * compare-and-sets and batched writes of one object are serialized).
   */
  async compareAndSet(
    doId: number,
    expectations: readonly Expectation[],
    writes: readonly FieldBytes[],
  ): Promise<CompareOutcome> {
    return this.transaction(async (client): Promise<CompareOutcome> => {
      const found = await client.query(`SELECT 1 FROM ${this.objects} WHERE do_id = $1 FOR UPDATE`, [doId]);
      if (found.rowCount !== 1) return { status: "missing" };
      const current = await client.query<{ field_id: number; value: Buffer }>(
        `SELECT field_id, value FROM ${this.fields} WHERE do_id = $1 AND field_id = ANY($2::integer[])
         ORDER BY field_id`,
        [doId, expectations.map((expectation) => expectation.fieldId)],
      );
      const values = new Map(current.rows.map((row) => [row.field_id, row.value as Uint8Array]));
      const holds = expectations.every(({ fieldId, expected }) => {
        const value = values.get(fieldId);
        return expected === null ? value === undefined : value !== undefined && bytesEqual(value, expected);
      });
      if (!holds) return { status: "mismatch", current: values };
      await this.upsert(client, doId, writes);
      return { status: "applied" };
    });
  }

  /** Deletes a stored object and its fields; false if there was none. */
  async deleteObject(doId: number): Promise<boolean> {
    const result = await this.pool.query(`DELETE FROM ${this.objects} WHERE do_id = $1`, [doId]);
    return result.rowCount === 1;
  }

  private async upsert(client: PoolClient, doId: number, fields: readonly FieldBytes[]): Promise<void> {
    if (fields.length === 0) return;
    const latest = new Map(fields);
    const ids = [...latest.keys()].sort((a, b) => a - b);
    await client.query(
      `INSERT INTO ${this.fields} (do_id, field_id, value)
       SELECT $1, f, v FROM unnest($2::integer[], $3::bytea[]) AS u(f, v)
       ON CONFLICT (do_id, field_id) DO UPDATE SET value = EXCLUDED.value`,
      [doId, ids, ids.map((id) => asBuffer(latest.get(id)!))],
    );
  }

  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
