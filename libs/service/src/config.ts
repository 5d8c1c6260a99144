import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { type DcFile, loadDcFiles, SUBJECT_ROOT } from "@overworld/protocol";
import { z } from "zod";
import { parseRedisUrl } from "./stores.ts";

/** A variable of the environment is missing or wrong; the message names it and says what it needs. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * A file holding a secret, read at start: the variable names the path (so the secret itself never
 * appears in the environment or an error message).
 */
export const secretFile = (what: string) =>
  z
    .string()
    .optional()
    .transform((path, context) => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path, "utf8");
      } catch (error) {
        context.addIssue({
          code: "custom",
          message: `cannot read ${what} from ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
          input: path,
        });
        return z.NEVER;
      }
    });

/**
 * A service instance's id when INSTANCE_ID is not set: the host, the process and a random tag, so that
 * two instances in one process (tests) or a restarted container (same host name, pid 1) never share one.
 */
export function defaultInstanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
}

/** Where Postgres is unless DATABASE_URL says otherwise: the local one. */
export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** The variables every service reads: where NATS, Redis and Postgres are, and its HTTP port. */
export const commonConfig = {
  /** One NATS URL or several, comma-separated (the nodes of a NATS cluster). */
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /**
   * The path of the service's role's join credentials (`<role>.creds`, made by `pnpm overworld nats
   * init`). Unset: no credentials, which only a NATS without authentication accepts.
   */
  NATS_CREDS: secretFile("the NATS join credentials"),
  /**
   * One Redis (`redis://host:port`), or a Redis Cluster by some of its nodes:
   * `redis-cluster://host:port,host:port` (see the README's "Redis Cluster").
   */
  REDIS_URL: z
    .string()
    .default("redis://127.0.0.1:6379")
    .superRefine((url, ctx) => {
      try {
        if (parseRedisUrl(url).kind === "single") new URL(url);
      } catch (error) {
        const reason = error instanceof TypeError ? "not a URL" : (error as Error).message;
        ctx.addIssue({
          code: "custom",
          message: `${reason}: redis://host:port for one Redis, redis-cluster://host:port,host:port for a Redis Cluster`,
        });
      }
    }),
  DATABASE_URL: z.string().url().default(DEFAULT_DATABASE_URL),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** 0.0.0.0 in containers, so /healthz and /metrics can be reached from outside. */
  HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  INSTANCE_ID: z.string().min(1).optional(),
};

/**
 * The variables of a cluster participant that handles game objects: which `.dc` files (in order), the
 * cluster's version (checked when it joins and when clients say hello), and the subject root.
 */
export const clusterConfig = {
  DC_FILES: z
    .string({ error: "required: comma-separated paths of the .dc files to load, in order" })
    .transform((text) =>
      text
        .split(",")
        .map((path) => path.trim())
        .filter((path) => path.length > 0),
    )
    .refine((paths) => paths.length > 0, "name at least one .dc file"),
  CLUSTER_VERSION: z
    .string({ error: "required: the cluster's version, which the message director and clients check" })
    .min(1)
    .max(64),
  SUBJECT_ROOT: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '_' and '-' only (it is one NATS subject token)")
    .default(SUBJECT_ROOT),
};

/**
 * Reads and validates configuration from environment variables. Every problem is reported at once,
 * each naming its variable, e.g. `HTTP_PORT: expected a number from 0 to 65535, got "80a"`.
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<S>> {
  const schema = z.object(shape);
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) input[key] = env[key] === "" ? undefined : env[key];
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "?");
    return `  ${name}: ${issue.message} (got ${JSON.stringify(input[name] ?? null)})`;
  });
  throw new ConfigError(`bad configuration in the environment:\n${problems.join("\n")}`);
}

/**
 * Loads a configuration in parts (several shapes, then checks between them), gathering every problem of
 * every part, so that one ConfigError names them all at once instead of one per attempt.
 */
export class ConfigProblems {
  private readonly lines: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** Loads a shape; undefined (its problems noted) when it does not load. */
  load<S extends z.ZodRawShape>(shape: S): z.infer<z.ZodObject<S>> | undefined {
    try {
      return loadConfig(shape, this.env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.lines.push(...error.message.split("\n").slice(1));
      return undefined;
    }
  }

  /** Notes a problem with a variable: what it needs. */
  add(variable: string, problem: string): void {
    this.lines.push(`  ${variable}: ${problem}`);
  }

  /** The value `parse` makes of a variable's text, or undefined (the problem noted) when it throws or is absent. */
  parse<T>(
    variable: string,
    text: string | undefined,
    parse: (text: string) => T,
    needs: string,
  ): T | undefined {
    if (text === undefined) {
      this.add(variable, `required: ${needs} (got null)`);
      return undefined;
    }
    try {
      return parse(text);
    } catch (error) {
      this.add(variable, (error as Error).message);
      return undefined;
    }
  }

  /** Throws the ConfigError naming every problem noted, if there is any. */
  throwIfAny(): void {
    if (this.lines.length > 0) {
      throw new ConfigError(`bad configuration in the environment:\n${this.lines.join("\n")}`);
    }
  }
}

/** The cluster's classes from DC_FILES; a ConfigError naming DC_FILES when they do not load. */
export function loadClusterModel(paths: readonly string[]): DcFile {
  try {
    return loadDcFiles(paths);
  } catch (error) {
    throw new ConfigError(`DC_FILES: cannot load ${paths.join(", ")}: ${(error as Error).message}`);
  }
}
