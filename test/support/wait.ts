/**
 * Waiting for what a cluster does in the background: poll until it is so, or fail naming what never
 * happened ("timed out waiting for <what>").
 */

/** How long a wait gives up after, unless told: a wait that succeeds returns as soon as it may. */
const DEFAULT_WAIT_MS = 5000;
/** How often a condition on local state is checked: cheap, so often. */
const CONDITION_POLL_MS = 10;
/** How often a probe that may ask a service is repeated: less often, so it adds little load. */
const PROBE_POLL_MS = 25;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves with the first value `probe` gives that is neither `undefined` nor `false` (so a probe may
 * return a boolean, or the thing it looked for once it is there).
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
  pollMs = PROBE_POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Resolves once `condition` holds. */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<void> {
  await waitFor(condition, what, timeoutMs, CONDITION_POLL_MS);
}
