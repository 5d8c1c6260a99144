/**
 * Packages main publishes (plugins and assets, libs/manifest), kept in Postgres and served to clusters:
 *
 *   POST /v1/packages                    the operator publishes a package main's key signed  -> 201 / 200
 *   GET  /v1/packages/:name/:version     its signed manifest
 *   GET  /v1/files/:sha256               a file of a published package, by its SHA-256
 *
 * Main accepts only packages signed by its own key, after checking them as a cluster would; a name@version
 * is published once (the same package again is a 200, other content a 409). Reading is open: what a
 * package holds goes to players anyway, and a cluster trusts nothing main serves before it verified it
 * against its own trust list (`fetchPackage` then `verifyPackage` or `loadPlugins`).
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { encodeKey, type SigningKey } from "@overworld/federation";
import {
  addKey,
  EMPTY_TRUST_LIST,
  PackageRefused,
  type VerifiedPackage,
  verifyPackage,
} from "@overworld/manifest";
import { quoteIdentifier } from "@overworld/service";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Pool } from "pg";
import { Type } from "typebox";
import { ErrorAnswer } from "./schemas.ts";

/** The largest package one request may publish (its files as base64 in JSON). */
export const PUBLISH_LIMIT_BYTES = 32 * 1024 * 1024;

export class PackageStore {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /** Keeps a verified package; "exists" when this very package is there, "taken" when other content is. */
  async publish(verified: VerifiedPackage, signed: unknown): Promise<"created" | "exists" | "taken"> {
    const { manifest, id } = verified;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const inserted = await client.query(
        `INSERT INTO ${this.s}.packages (id, name, version, kind, signed) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING`,
        [id, manifest.name, manifest.version, manifest.kind, JSON.stringify(signed)],
      );
      if (inserted.rowCount !== 1) {
        await client.query("ROLLBACK");
        const existing = await this.pool.query<{ id: string }>(
          `SELECT id FROM ${this.s}.packages WHERE name = $1 AND version = $2`,
          [manifest.name, manifest.version],
        );
        return existing.rows[0]?.id === id ? "exists" : "taken";
      }
      for (const file of manifest.files) {
        await client.query(
          `INSERT INTO ${this.s}.package_files (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING`,
          [file.sha256, Buffer.from(verified.files.get(file.path)!)],
        );
      }
      await client.query("COMMIT");
      return "created";
    } catch (error) {
      await client.query("ROLLBACK");
      throw error;
    } finally {
      client.release();
    }
  }

  async signed(name: string, version: string): Promise<unknown | undefined> {
    const result = await this.pool.query<{ signed: unknown }>(
      `SELECT signed FROM ${this.s}.packages WHERE name = $1 AND version = $2`,
      [name, version],
    );
    return result.rows[0]?.signed;
  }

  async file(sha256: string): Promise<Buffer | undefined> {
    const result = await this.pool.query<{ bytes: Buffer }>(
      `SELECT bytes FROM ${this.s}.package_files WHERE sha256 = $1`,
      [sha256],
    );
    return result.rows[0]?.bytes;
  }
}

const PublishBody = Type.Object(
  {
    signed: Type.Object(
      {},
      { additionalProperties: true, description: "the signed manifest: {manifest, signature}" },
    ),
    files: Type.Record(Type.String(), Type.String({ contentEncoding: "base64" }), {
      description: "each file of the manifest by its path, base64",
    }),
  },
  { additionalProperties: false },
);
const Published = Type.Object({
  id: Type.String(),
  name: Type.String(),
  version: Type.String(),
  kind: Type.String(),
});
const PackageParams = Type.Object({
  name: Type.String({ maxLength: 64 }),
  version: Type.String({ maxLength: 256 }),
});
const FileParams = Type.Object({ sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }) });
const SignedManifest = Type.Object({}, { additionalProperties: true });

export interface PackageRouteDeps {
  readonly store: PackageStore;
  readonly main: SigningKey;
  /** Refuses a request that is not the operator's. */
  readonly operator: (request: FastifyRequest) => Promise<void>;
}

export function addPackageRoutes(app: FastifyInstance, deps: PackageRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const ownKey = addKey(EMPTY_TRUST_LIST, encodeKey(deps.main.publicKey), "this main");

  typed.post(
    "/v1/packages",
    {
      onRequest: deps.operator,
      bodyLimit: PUBLISH_LIMIT_BYTES,
      schema: {
        tags: ["operator"],
        summary: "Publish a package (a plugin or an asset) signed with main's key",
        security: [{ operator: [] }],
        body: PublishBody,
        response: { 200: Published, 201: Published, 400: ErrorAnswer, 401: ErrorAnswer, 409: ErrorAnswer },
      },
    },
    async (request, reply) => {
      const { signed, files } = request.body;
      let verified: VerifiedPackage;
      try {
        verified = await verifyPackage(
          {
            origin: "the request",
            signed,
            read: async (path) =>
              Object.hasOwn(files, path) ? Buffer.from(files[path]!, "base64") : undefined,
          },
          ownKey,
        );
      } catch (error) {
        if (!(error instanceof PackageRefused)) throw error;
        return reply.code(400).send({ error: "invalid_request", reason: error.message });
      }
      const { manifest, id } = verified;
      const outcome = await deps.store.publish(verified, signed);
      const answer = { id, name: manifest.name, version: manifest.version, kind: manifest.kind };
      if (outcome === "taken") {
        return reply.code(409).send({
          error: "name_taken",
          reason: `${manifest.name}@${manifest.version} is published already with other content; publish it under a new version`,
        });
      }
      request.log.info(answer, outcome === "created" ? "package published" : "package published again");
      return reply.code(outcome === "created" ? 201 : 200).send(answer);
    },
  );

  typed.get(
    "/v1/packages/:name/:version",
    {
      schema: {
        tags: ["clusters"],
        summary: "A published package's signed manifest",
        params: PackageParams,
        response: { 200: SignedManifest, 404: ErrorAnswer },
      },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      const signed = await deps.store.signed(name, version);
      if (signed === undefined) {
        return reply
          .code(404)
          .send({ error: "not_found", reason: `no package ${name}@${version} is published` });
      }
      return signed;
    },
  );

  typed.get(
    "/v1/files/:sha256",
    {
      schema: {
        tags: ["clusters"],
        summary: "A file of a published package, by its SHA-256",
        params: FileParams,
        response: { 200: Type.Unsafe<Buffer>({ type: "string", format: "binary" }), 404: ErrorAnswer },
      },
    },
    async (request, reply) => {
      const bytes = await deps.store.file(request.params.sha256);
      if (bytes === undefined) {
        return reply
          .code(404)
          .send({ error: "not_found", reason: `no published file has SHA-256 ${request.params.sha256}` });
      }
      return reply.type("application/octet-stream").send(bytes);
    },
  );
}
