/**
 * The bot workers: K worker threads (node:worker_threads), each running a contiguous share of the run's
 * bots (worker.ts), so that the load tester spreads over cores instead of being the bottleneck. The main
 * thread calls each worker's share as it would call one in its own thread (share.ts's `Share`; the
 * messages are worker-protocol.ts's). A worker that fails (an error it did not catch, a call that threw,
 * an exit nobody asked for) fails every call made of it, aborts the fleet's `failure` signal with an error
 * naming the worker, and the run stops (run.ts).
 */
import { Worker } from "node:worker_threads";
import type { SendTimes } from "./send-times.ts";
import type { Share, ShareOptions } from "./share.ts";
import type { ShareFinal, ShareProgress, ShareStarted, ShareWindow } from "./share-figures.ts";
import type { FromWorker, ShareCall, ToWorker, WorkerData } from "./worker-protocol.ts";

/** The worker's first module: it loads tsx, then the worker proper (see there). */
const ENTRY = new URL("./worker-entry.mjs", import.meta.url);
/** How long a worker may take to load (TypeScript compiled on the fly, on a busy machine). */
const READY_TIMEOUT_MS = 60_000;

/** A run's shares, and what stops the run when one of them fails. */
export interface Fleet {
  readonly shares: readonly Share[];
  /** Aborted, the error naming the worker as its reason, when a worker fails. */
  readonly failure: AbortSignal;
  /** Ends the shares' threads (their bots should be stopped first). */
  close(): Promise<void>;
}

/** Which bots share `share` (from 0) of `shares` runs: contiguous ranges whose sizes differ by one at most. */
export function shareRange(count: number, shares: number, share: number): { from: number; to: number } {
  return { from: Math.floor((share * count) / shares), to: Math.floor(((share + 1) * count) / shares) };
}

/** Starts `options.workers` workers and resolves once every one has loaded; rejects naming one that failed. */
export async function startWorkers(options: ShareOptions, sendTimes: SendTimes): Promise<Fleet> {
  const failed = new AbortController();
  const shares = Array.from(
    { length: options.workers },
    (_, index) =>
      new WorkerShare(
        {
          worker: index + 1,
          workers: options.workers,
          spec: { options, ...shareRange(options.count, options.workers, index) },
          sendTimes: sendTimes.buffer,
        },
        (error) => failed.abort(error),
      ),
  );
  const fleet: Fleet = {
    shares,
    failure: failed.signal,
    close: async () => {
      await Promise.all(shares.map((share) => share.close()));
    },
  };
  try {
    await Promise.all(shares.map((share) => share.ready));
  } catch (error) {
    await fleet.close();
    throw error;
  }
  return fleet;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One worker's share, called through messages. */
class WorkerShare implements Share {
  /** Resolves when the worker has loaded; rejects if it fails first. */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly name: string;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private loaded: Pending | undefined;
  private closing = false;

  constructor(
    data: WorkerData,
    private readonly onFailure: (error: Error) => void,
  ) {
    const { from, to } = data.spec;
    this.name = `bot worker ${data.worker} of ${data.workers} (bots ${from + 1} to ${to})`;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new Error(`it did not load within ${READY_TIMEOUT_MS / 1000} s`)),
        READY_TIMEOUT_MS,
      );
      this.loaded = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
    this.ready.catch(() => {}); // the caller awaits it; a failure after that must not go unhandled
    this.worker = new Worker(ENTRY, { workerData: data });
    this.worker.on("message", (message: FromWorker) => this.received(message));
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("messageerror", (error) => this.fail(error));
    this.worker.on("exit", (code) => {
      if (!this.closing) this.fail(new Error(`it exited (code ${code}) while the run went on`));
    });
  }

  ramp(startAtMs: number): Promise<ShareStarted> {
    return this.call("ramp", [startAtMs]);
  }

  abort(): void {
    if (this.failure === undefined && !this.closing) this.post({ type: "abort" });
  }

  progress(): Promise<ShareProgress> {
    return this.call("progress", []);
  }

  beginMeasure(): Promise<void> {
    return this.call("beginMeasure", []);
  }

  endMeasure(): Promise<ShareWindow> {
    return this.call("endMeasure", []);
  }

  stop(): Promise<ShareFinal> {
    return this.call("stop", []);
  }

  /** Terminates the worker (whatever its bots are doing: stop them first). */
  async close(): Promise<void> {
    this.closing = true;
    for (const pending of this.pending.values()) pending.reject(new Error(`${this.name} was closed`));
    this.pending.clear();
    await this.worker.terminate();
  }

  private call<M extends ShareCall>(
    method: M,
    args: Parameters<Share[M]>,
  ): Promise<Awaited<ReturnType<Share[M]>>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error(`${this.name} was closed: no ${method} after close`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.post({ type: "call", id, method, args } as ToWorker);
    });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private received(message: FromWorker): void {
    if (message.type === "ready") {
      this.loaded?.resolve(undefined);
      return;
    }
    const pending = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (message.type === "failed") {
      this.fail(new Error(`its ${message.method} threw: ${message.message}`));
      return;
    }
    pending?.resolve(message.value);
  }

  /** The worker failed: every call fails with an error naming it, and the run is told. */
  private fail(cause: Error): void {
    if (this.failure !== undefined || this.closing) return;
    const failure = new Error(`${this.name} failed: ${cause.message}`, { cause });
    this.failure = failure;
    this.loaded?.reject(failure);
    for (const pending of this.pending.values()) pending.reject(failure);
    this.pending.clear();
    this.onFailure(failure);
  }
}
