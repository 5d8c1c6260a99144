/**
 * Where the tests find the real NATS, Redis and Postgres: the environment, else the local ones. NATS is
 * the suite's own, with credentials (test/support/global-nats.ts); OW_TEST_NATS_TRUST names its trust.
 */
export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
export const NATS_TRUST = process.env.OW_TEST_NATS_TRUST ?? "";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
