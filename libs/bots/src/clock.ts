/**
 * The run's one clock, and waiting on it. A run's threads (the main thread and its bot workers) time the
 * ramp, the phases and same-process latency on the process clock: the machine's monotonic clock in
 * milliseconds, which reads the same in every thread of the process.
 *
 * Why not `performance.now()` alone: it counts from its own thread's start, so a worker's reading and the
 * main thread's do not compare. Why not `performance.timeOrigin + performance.now()`: each thread's
 * timeOrigin is the wall clock read (to the microsecond) when that thread started, so two threads'
 * readings differ by however much the wall clock was stepped or slewed between their starts. Node's
 * `performance.now()` is the process's monotonic clock (`process.hrtime`) minus the thread's start on it,
 * so each thread measures that start once and adds it back: a reading costs one `performance.now()` and
 * an addition, and readings from different threads compare to within a microsecond.
 */

const NANOSECONDS_PER_MS = 1e6;

/** Where this thread's `performance.now()` begins on the process's monotonic clock (ms). */
const THREAD_START_MS = Number(process.hrtime.bigint()) / NANOSECONDS_PER_MS - performance.now();

/** Milliseconds on the process's monotonic clock: comparable between all threads of this process. */
export function processClockMs(): number {
  return performance.now() + THREAD_START_MS;
}

/** Sleeps until the process clock reaches `at`, or less if the signal aborts first. */
export function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = at - processClockMs();
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener("abort", wake);
  });
}

/** Waits for `promise`, or less if the signal aborts first. */
export function untilAborted(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal?.removeEventListener("abort", done);
      resolve();
    };
    signal?.addEventListener("abort", done);
    promise.then(done, done);
  });
}
