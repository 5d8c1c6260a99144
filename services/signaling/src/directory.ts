/**
 * Main's directory and policy in Postgres (migrations.ts): every replica of main reads and writes the
 * same rows, so replicas share one view and a restarted main goes on where it stopped. Liveness is
 * judged by Postgres's clock (`now()`), the same for every replica.
 */
import type { LinkReport } from "@overworld/federation";
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";

export type ClusterKind = "cluster" | "main";

export interface ClusterRecord {
  readonly name: string;
  /** Ed25519 public key, base64. */
  readonly publicKey: string;
  readonly kind: ClusterKind;
  readonly plugins: readonly string[];
  readonly linkAddress: string | null;
  /** The tags it declared (a plugin set can be pushed to a tag). */
  readonly tags: readonly string[];
  readonly registeredAt: Date;
  readonly revokedAt: Date | null;
  readonly revokedReason: string | null;
}

export interface InstanceRecord {
  readonly cluster: string;
  readonly instance: string;
  readonly observed: string;
  readonly load: number;
  readonly links: readonly LinkReport[];
  readonly lastSeen: Date;
  readonly live: boolean;
}

export type RegisterResult =
  | { readonly ok: true; readonly created: boolean }
  | { readonly ok: false; readonly reason: "revoked" | "name_taken" | "key_taken" };

export interface Registration {
  readonly name: string;
  readonly publicKey: string;
  readonly kind: ClusterKind;
  readonly plugins: readonly string[];
  readonly linkAddress: string | null;
  readonly tags?: readonly string[];
}

interface ClusterRow {
  name: string;
  public_key: string;
  kind: ClusterKind;
  plugins: string[];
  link_address: string | null;
  tags: string[];
  registered_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

const toCluster = (row: ClusterRow): ClusterRecord => ({
  name: row.name,
  publicKey: row.public_key,
  kind: row.kind,
  plugins: row.plugins,
  linkAddress: row.link_address,
  tags: row.tags,
  registeredAt: row.registered_at,
  revokedAt: row.revoked_at,
  revokedReason: row.revoked_reason,
});

/** How often `firstUse` sweeps signatures past their expiry. */
const SWEEP_SEEN_MS = 60_000;

export class Directory {
  private readonly s: string;
  private sweptAt = 0;

  constructor(
    private readonly pool: Pool,
    schema: string,
    /** An instance whose last heartbeat is older than this is not live. */
    private readonly liveMs: number,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /**
   * Records the signature of a signed request main takes, kept until `expiresAt` (Unix ms: when the
   * signature is stale anyway); false when it was taken before, that is, the request is a replay.
   * Signatures past their expiry are swept once a minute, on the way.
   */
  async firstUse(signature: string, expiresAt: number, now: number): Promise<boolean> {
    if (now - this.sweptAt > SWEEP_SEEN_MS) {
      this.sweptAt = now;
      await this.pool.query(
        `DELETE FROM ${this.s}.seen_signatures WHERE expires_at < to_timestamp($1 / 1000.0)`,
        [now],
      );
    }
    const result = await this.pool.query(
      `INSERT INTO ${this.s}.seen_signatures (signature, expires_at) VALUES ($1, to_timestamp($2 / 1000.0))
       ON CONFLICT DO NOTHING`,
      [signature, expiresAt],
    );
    return result.rowCount === 1;
  }

  async ping(): Promise<boolean> {
    await this.pool.query("SELECT 1");
    return true;
  }

  /**
   * Registers a cluster, or updates what it published when it registers again with the same key. A name
   * held by another key, a key that holds another name, and a revoked key are refused.
   */
  async register(registration: Registration): Promise<RegisterResult> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`overworld-signaling:${this.s}`]);
      const revoked = await client.query(`SELECT 1 FROM ${this.s}.revoked_keys WHERE public_key = $1`, [
        registration.publicKey,
      ]);
      if (revoked.rowCount) {
        await client.query("ROLLBACK");
        return { ok: false, reason: "revoked" };
      }
      const byKey = await client.query<{ name: string }>(
        `SELECT name FROM ${this.s}.clusters WHERE public_key = $1`,
        [registration.publicKey],
      );
      if (byKey.rows[0] && byKey.rows[0].name !== registration.name) {
        await client.query("ROLLBACK");
        return { ok: false, reason: "key_taken" };
      }
      const existing = await client.query<{ public_key: string }>(
        `SELECT public_key FROM ${this.s}.clusters WHERE name = $1 FOR UPDATE`,
        [registration.name],
      );
      const current = existing.rows[0];
      if (current && current.public_key !== registration.publicKey) {
        await client.query("ROLLBACK");
        return { ok: false, reason: "name_taken" };
      }
      await client.query(
        `INSERT INTO ${this.s}.clusters (name, public_key, kind, plugins, link_address, tags)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO UPDATE SET kind = $3, plugins = $4, link_address = $5, tags = $6, updated_at = now()`,
        [
          registration.name,
          registration.publicKey,
          registration.kind,
          JSON.stringify(registration.plugins),
          registration.linkAddress,
          JSON.stringify([...new Set(registration.tags ?? [])].sort()),
        ],
      );
      await client.query("COMMIT");
      return { ok: true, created: current === undefined };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async find(name: string): Promise<ClusterRecord | undefined> {
    const result = await this.pool.query<ClusterRow>(`SELECT * FROM ${this.s}.clusters WHERE name = $1`, [
      name,
    ]);
    return result.rows[0] && toCluster(result.rows[0]);
  }

  async list(): Promise<ClusterRecord[]> {
    const result = await this.pool.query<ClusterRow>(`SELECT * FROM ${this.s}.clusters ORDER BY name`);
    return result.rows.map(toCluster);
  }

  /** Revokes a cluster's key for good: its heartbeats and token requests are refused from now on. */
  async revoke(name: string, reason: string): Promise<ClusterRecord | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const updated = await client.query<ClusterRow>(
        `UPDATE ${this.s}.clusters SET revoked_at = COALESCE(revoked_at, now()), revoked_reason = $2
         WHERE name = $1 RETURNING *`,
        [name, reason],
      );
      const row = updated.rows[0];
      if (row) {
        await client.query(
          `INSERT INTO ${this.s}.revoked_keys (public_key, cluster) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [row.public_key, name],
        );
      }
      await client.query("COMMIT");
      return row && toCluster(row);
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Records a heartbeat if its sequence is newer than the instance's last one; false for a replayed or
   * reordered heartbeat (nothing is changed then).
   */
  async heartbeat(
    cluster: string,
    instance: string,
    seq: number,
    observed: string,
    load: number,
    links: readonly LinkReport[],
  ): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO ${this.s}.instances (cluster, instance, observed, load, seq, links, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (cluster, instance) DO UPDATE
         SET observed = $3, load = $4, seq = $5, links = $6, last_seen = now()
         WHERE ${this.s}.instances.seq < $5`,
      [cluster, instance, observed, load, seq, JSON.stringify(links)],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** The live link ends of some clusters (all their instances, live or not, with `live` set). */
  async instances(clusters?: readonly string[]): Promise<InstanceRecord[]> {
    const result = await this.pool.query<{
      cluster: string;
      instance: string;
      observed: string;
      load: number;
      links: LinkReport[];
      last_seen: Date;
      live: boolean;
    }>(
      `SELECT cluster, instance, observed, load, links, last_seen,
              last_seen > now() - make_interval(secs => $2::double precision / 1000) AS live
       FROM ${this.s}.instances WHERE ($1::text[] IS NULL OR cluster = ANY($1)) ORDER BY cluster, instance`,
      [clusters ?? null, this.liveMs],
    );
    return result.rows.map((row) => ({
      cluster: row.cluster,
      instance: row.instance,
      observed: row.observed,
      load: row.load,
      links: row.links,
      lastSeen: row.last_seen,
      live: row.live,
    }));
  }

  /** Lets two clusters link (idempotent). */
  async allow(a: string, b: string): Promise<void> {
    const [low, high] = ordered(a, b);
    await this.pool.query(`INSERT INTO ${this.s}.link_policy (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      low,
      high,
    ]);
  }

  /** Stops two clusters linking; false if they were not allowed to. */
  async deny(a: string, b: string): Promise<boolean> {
    const [low, high] = ordered(a, b);
    const result = await this.pool.query(`DELETE FROM ${this.s}.link_policy WHERE a = $1 AND b = $2`, [
      low,
      high,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async allowed(a: string, b: string): Promise<boolean> {
    const [low, high] = ordered(a, b);
    const result = await this.pool.query(`SELECT 1 FROM ${this.s}.link_policy WHERE a = $1 AND b = $2`, [
      low,
      high,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async policy(): Promise<{ a: string; b: string; createdAt: Date }[]> {
    const result = await this.pool.query<{ a: string; b: string; created_at: Date }>(
      `SELECT a, b, created_at FROM ${this.s}.link_policy ORDER BY a, b`,
    );
    return result.rows.map((row) => ({ a: row.a, b: row.b, createdAt: row.created_at }));
  }

  /** The clusters `name` may link with that are registered and not revoked, with their keys. */
  async peersOf(name: string): Promise<ClusterRecord[]> {
    const result = await this.pool.query<ClusterRow>(
      `SELECT c.* FROM ${this.s}.link_policy p
       JOIN ${this.s}.clusters c ON c.name = CASE WHEN p.a = $1 THEN p.b ELSE p.a END
       WHERE (p.a = $1 OR p.b = $1) AND c.revoked_at IS NULL ORDER BY c.name`,
      [name],
    );
    return result.rows.map(toCluster);
  }
}

/** A cluster of a child main, as that main last told (main-main). */
export interface ChildCluster {
  readonly name: string;
  readonly main: string;
  /** Where that main's API is. */
  readonly mainUrl: string;
  readonly publicKey: string;
  readonly instances: readonly {
    readonly instance: string;
    readonly observed: string;
    readonly live: boolean;
  }[];
  /** The child main told of it lately. */
  readonly fresh: boolean;
}

/** Main-main: what child mains tell of their clusters, kept by their parent. */
export class ChildClusters {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly liveMs: number,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /** Replaces what `main` told before with `clusters`. */
  async sync(
    main: string,
    mainUrl: string,
    clusters: readonly Omit<ChildCluster, "main" | "mainUrl" | "fresh">[],
  ): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`DELETE FROM ${this.s}.child_clusters WHERE main = $1`, [main]);
      for (const cluster of clusters) {
        await client.query(
          `INSERT INTO ${this.s}.child_clusters (name, main, main_url, public_key, instances)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE
             SET main = $2, main_url = $3, public_key = $4, instances = $5, updated_at = now()`,
          [cluster.name, main, mainUrl, cluster.publicKey, JSON.stringify(cluster.instances)],
        );
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async all(): Promise<ChildCluster[]> {
    const result = await this.pool.query<{
      name: string;
      main: string;
      main_url: string;
      public_key: string;
      instances: ChildCluster["instances"];
      fresh: boolean;
    }>(
      `SELECT name, main, main_url, public_key, instances,
              updated_at > now() - make_interval(secs => $1::double precision / 1000) AS fresh
       FROM ${this.s}.child_clusters ORDER BY name`,
      [this.liveMs],
    );
    return result.rows.map((row) => ({
      name: row.name,
      main: row.main,
      mainUrl: row.main_url,
      publicKey: row.public_key,
      instances: row.instances,
      fresh: row.fresh,
    }));
  }

  async find(name: string): Promise<ChildCluster | undefined> {
    return (await this.all()).find((cluster) => cluster.name === name);
  }
}

function ordered(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}
