import { type Migration, migrate as migrateSchema } from "@overworld/service";
import type { Pool } from "pg";

/**
 * Main's directory and policy:
 * - `clusters`: every registered cluster (or child main) by name, its Ed25519 public key, what it
 *   published (plugins, declared link address) and whether its key is revoked;
 * - `revoked_keys`: every key ever revoked, so that it cannot come back under another name;
 * - `instances`: each link end of a cluster that heartbeats, with the address main observed it at, its
 *   load, its links as it reports them, and the sequence of its last heartbeat (which must grow);
 * - `link_policy`: the pairs of clusters the operator lets link (names in order, a < b);
 * - `plugin_outbox`: plugin messages main's plugins send first, to a cluster's servers or one of its
 *   clients, until the cluster's link end takes them (main-plugins.ts);
 * - `seen_signatures`: the signatures of the signed requests main took, while they are fresh, so that
 *   one sent again is refused (signatures.ts).
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "directory and policy",
    sql: (s) => `
      CREATE TABLE ${s}.clusters (
        name text PRIMARY KEY,
        public_key text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('cluster', 'main')),
        plugins jsonb NOT NULL DEFAULT '[]',
        link_address text,
        registered_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_reason text
      );
      CREATE UNIQUE INDEX clusters_public_key ON ${s}.clusters (public_key);
      CREATE TABLE ${s}.revoked_keys (
        public_key text PRIMARY KEY,
        cluster text NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.instances (
        cluster text NOT NULL REFERENCES ${s}.clusters (name) ON DELETE CASCADE,
        instance text NOT NULL,
        observed text NOT NULL,
        load real NOT NULL DEFAULT 0,
        seq bigint NOT NULL,
        links jsonb NOT NULL DEFAULT '[]',
        last_seen timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (cluster, instance)
      );
      CREATE TABLE ${s}.link_policy (
        a text NOT NULL,
        b text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (a, b),
        CHECK (a < b)
      );`,
  },
  {
    version: 2,
    name: "clusters of child mains",
    // what each child main last told of its clusters (main-main): their keys and link ends
    sql: (s) => `
      CREATE TABLE ${s}.child_clusters (
        name text PRIMARY KEY,
        main text NOT NULL,
        main_url text NOT NULL,
        public_key text NOT NULL,
        instances jsonb NOT NULL DEFAULT '[]',
        updated_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    version: 3,
    name: "published packages",
    // plugins and assets main published (libs/manifest): each signed manifest once per name@version, and
    // their files by SHA-256 (one copy of a file that several packages hold)
    sql: (s) => `
      CREATE TABLE ${s}.packages (
        id text PRIMARY KEY,
        name text NOT NULL,
        version text NOT NULL,
        kind text NOT NULL,
        signed jsonb NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, version)
      );
      CREATE TABLE ${s}.package_files (
        sha256 text PRIMARY KEY,
        bytes bytea NOT NULL
      );`,
  },
  {
    version: 4,
    name: "plugin sets pushed to clusters",
    // the tags a cluster declares when it registers; every push of a plugin set (to all clusters, to named
    // ones, or to a tag: a cluster's assigned set is the newest push that names it); what each cluster last
    // reported it runs, and the packages it refused (plugin-sets.ts)
    sql: (s) => `
      ALTER TABLE ${s}.clusters ADD COLUMN tags jsonb NOT NULL DEFAULT '[]';
      CREATE TABLE ${s}.plugin_pushes (
        id bigserial PRIMARY KEY,
        target_all boolean NOT NULL DEFAULT false,
        target_clusters jsonb NOT NULL DEFAULT '[]',
        target_tag text,
        servers jsonb NOT NULL,
        clients jsonb NOT NULL,
        pushed_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.plugin_reports (
        cluster text PRIMARY KEY REFERENCES ${s}.clusters (name) ON DELETE CASCADE,
        push bigint NOT NULL,
        servers jsonb NOT NULL,
        clients jsonb NOT NULL,
        refusals jsonb NOT NULL DEFAULT '[]',
        reported_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    version: 5,
    name: "plugin messages main sends first",
    sql: (s) => `
      CREATE TABLE ${s}.plugin_outbox (
        id bigserial PRIMARY KEY,
        cluster text NOT NULL REFERENCES ${s}.clusters (name) ON DELETE CASCADE,
        plugin text NOT NULL,
        client bigint,
        encoding smallint NOT NULL CHECK (encoding IN (0, 1)),
        data bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX plugin_outbox_cluster ON ${s}.plugin_outbox (cluster, id);`,
  },
  {
    version: 6,
    name: "signatures main took",
    // every signed request main took, until its signature is stale anyway: the same request again
    // within its window is refused as a replay (signatures.ts)
    sql: (s) => `
      CREATE TABLE ${s}.seen_signatures (
        signature text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX seen_signatures_expiry ON ${s}.seen_signatures (expires_at);`,
  },
];

/** Brings main's schema up to date (see `migrate` in @overworld/service). */
export function migrate(pool: Pool, schema: string): Promise<number[]> {
  return migrateSchema(pool, schema, MIGRATIONS);
}
