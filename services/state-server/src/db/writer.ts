import { messages } from "@overworld/protocol";
import type { Logger } from "@overworld/service";
import { quoteIdentifier } from "@overworld/service";
import type { Pool, PoolClient } from "pg";
import type { DbRow } from "../live.ts";

export interface BatchOptions {
  /** How long the first write of a batch waits for others to join it. */
  readonly windowMs: number;
  /** A batch is committed at once when it holds this many rows. */
  readonly maxRows: number;
}

interface Pending {
  readonly rows: readonly DbRow[];
  resolve(missing: Set<number>): void;
  reject(error: Error): void;
}

/** Postgres error codes worth a retry: the transaction lost a race, not a rule. */
const RETRYABLE = new Set(["40001", "40P01"]);
const COMMIT_ATTEMPTS = 3;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Group commit for db field writes. Writes arriving within a short window (and every write arriving
 * while a commit is under way) go into one transaction; each caller's promise resolves only after
 * that transaction has committed, so an acknowledged write survives a crash of this process at any
 * moment. Within a batch the last write of a field wins; rows are written in (doId, field) order so
 * that replicas writing the same rows cannot deadlock.
 */
export class BatchWriter {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly fields: string;
  private readonly objects: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly options: BatchOptions,
    private readonly observe: (rows: number, seconds: number) => void,
    private readonly log: Logger,
  ) {
    this.fields = `${quoteIdentifier(schema)}.fields`;
    this.objects = `${quoteIdentifier(schema)}.objects`;
  }

  /** Queues rows; resolves after their commit with the doIds that are not stored objects (rows dropped). */
  write(rows: readonly DbRow[]): Promise<Set<number>> {
    if (this.closed) {
      return Promise.reject(new messages.RequestError("unavailable", "the db writer is shutting down"));
    }
    if (rows.length === 0) return Promise.resolve(new Set());
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      this.schedule();
    });
  }

  /** Commits what is queued and refuses new writes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.queue.length > 0) this.start();
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queuedRows >= this.options.maxRows || this.options.windowMs === 0) {
      this.start();
      return;
    }
    this.timer ??= setTimeout(() => this.start(), this.options.windowMs);
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.schedule();
    });
  }

  /** Commits batches back to back while writes keep arriving. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.take();
      await this.commitBatch(batch);
    }
  }

  private take(): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (batch.length > 0 && rows + next.rows.length > this.options.maxRows) break;
      batch.push(this.queue.shift()!);
      rows += next.rows.length;
    }
    this.queuedRows -= rows;
    return batch;
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    const rows = latestPerField(batch.flatMap((pending) => pending.rows));
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await this.commit(rows);
        this.observe(rows.length, (performance.now() - started) / 1000);
        for (const pending of batch) {
          pending.resolve(
            new Set(pending.rows.filter((row) => !stored.has(row.doId)).map((row) => row.doId)),
          );
        }
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < COMMIT_ATTEMPTS) continue;
        this.log.error({ err: error, rows: rows.length }, "db write batch failed");
        const failure = new messages.RequestError(
          "unavailable",
          `Postgres did not commit the write: ${(error as Error).message}`,
        );
        for (const pending of batch) pending.reject(failure);
        return;
      }
    }
  }

  /** One transaction; answers which of the rows' objects exist (rows of other objects are dropped). */
  private async commit(rows: readonly DbRow[]): Promise<Set<number>> {
    const doIds = [...new Set(rows.map((row) => row.doId))];
    let client: PoolClient | undefined;
    let broken: Error | undefined;
    try {
      client = await this.pool.connect();
      await client.query("BEGIN");
      const found = await client.query<{ do_id: string }>(
        `SELECT do_id FROM ${this.objects} WHERE do_id = ANY($1::bigint[]) ORDER BY do_id FOR KEY SHARE`,
        [doIds],
      );
      const stored = new Set(found.rows.map((row) => Number(row.do_id)));
      const upserts = rows.filter((row) => row.value !== null && stored.has(row.doId));
      const deletes = rows.filter((row) => row.value === null && stored.has(row.doId));
      if (upserts.length > 0) {
        await client.query(
          `INSERT INTO ${this.fields} (do_id, field_id, value)
           SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bytea[])
           ON CONFLICT (do_id, field_id) DO UPDATE SET value = EXCLUDED.value`,
          [
            upserts.map((row) => row.doId),
            upserts.map((row) => row.fieldId),
            upserts.map((row) => asBuffer(row.value!)),
          ],
        );
      }
      if (deletes.length > 0) {
        await client.query(
          `DELETE FROM ${this.fields} f USING unnest($1::bigint[], $2::integer[]) AS d(do_id, field_id)
           WHERE f.do_id = d.do_id AND f.field_id = d.field_id`,
          [deletes.map((row) => row.doId), deletes.map((row) => row.fieldId)],
        );
      }
      await client.query("COMMIT");
      return stored;
    } catch (error) {
      broken = error as Error;
      await client?.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client?.release(broken && !(broken as { code?: string }).code ? broken : undefined);
    }
  }
}

/** Keeps the last row of each (doId, field), sorted by doId then field. */
function latestPerField(rows: readonly DbRow[]): DbRow[] {
  const latest = new Map<string, DbRow>();
  for (const row of rows) latest.set(`${row.doId}:${row.fieldId}`, row);
  return [...latest.values()].sort((a, b) => a.doId - b.doId || a.fieldId - b.fieldId);
}
