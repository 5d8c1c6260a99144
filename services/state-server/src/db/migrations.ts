import { type Migration, migrate as migrateSchema } from "@overworld/service";
import type { Pool } from "pg";

/**
 * The stored objects: one row per object (its class), one row per stored field value (the packed
 * bytes). Deleting an object deletes its fields.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "stored objects and their db fields",
    sql: (s) => `
      CREATE TABLE ${s}.objects (
        do_id bigint PRIMARY KEY CHECK (do_id > 0 AND do_id <= 4294967295),
        class_id integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.fields (
        do_id bigint NOT NULL REFERENCES ${s}.objects (do_id) ON DELETE CASCADE,
        field_id integer NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (do_id, field_id)
      );`,
  },
];

/** Brings this service's schema up to date (see `migrate` in @overworld/service). */
export function migrate(pool: Pool, schema: string): Promise<number[]> {
  return migrateSchema(pool, schema, MIGRATIONS);
}
