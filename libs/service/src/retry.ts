/** How long a service keeps trying to reach NATS, Redis or Postgres at start (CONNECT_TIMEOUT_MS). */
export function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.CONNECT_TIMEOUT_MS ?? 30_000);
  return Number.isFinite(value) && value >= 0 ? value : 30_000;
}

/** A failure that waiting will not mend (refused credentials, say): `untilReachable` gives up at once. */
export class Permanent extends Error {}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 2_000;

/**
 * Runs `attempt` until it succeeds or the connect timeout passes, waiting a little longer after each
 * failure and saying on stderr what it is waiting for, so a service started alongside its
 * dependencies (docker compose) waits for them instead of dying. The last error is thrown.
 */
export async function untilReachable<T>(
  what: string,
  attempt: () => Promise<T>,
  timeoutMs = connectTimeoutMs(),
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = FIRST_DELAY_MS;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof Permanent || Date.now() + delay > deadline) throw error;
      process.stderr.write(`waiting for ${what} (attempt ${tries}): ${(error as Error).message}\n`);
      await new Promise((wake) => setTimeout(wake, delay));
      delay = Math.min(MAX_DELAY_MS, delay * 2);
    }
  }
}
