/**
 * What the main thread and a bot worker (worker.ts) say to each other. The main thread calls the worker's
 * share (share.ts) method by method, each call with an id that its answer carries back; the worker says
 * `ready` once it has loaded, and nothing else unasked. A worker's crash is no message: the Worker's
 * `error` and `exit` events tell the main thread (workers.ts).
 */
import type { Share, ShareSpec } from "./share.ts";

/** What a worker is started with (its `workerData`). */
export interface WorkerData {
  /** Which worker it is, from 1, and of how many: for error messages. */
  readonly worker: number;
  readonly workers: number;
  readonly spec: ShareSpec;
  /** The run's send times (send-times.ts), shared by all its threads. */
  readonly sendTimes: SharedArrayBuffer;
}

/** The share's methods that answer (all but `abort`, a message of its own). */
export type ShareCall = Exclude<keyof Share, "abort">;

/** Main thread to worker: a call of one of the share's methods, or the abort. */
export type ToWorker =
  | {
      [M in ShareCall]: {
        readonly type: "call";
        readonly id: number;
        readonly method: M;
        readonly args: Parameters<Share[M]>;
      };
    }[ShareCall]
  | { readonly type: "abort" };

/** Worker to main thread: loaded; a call's answer; a call that threw. */
export type FromWorker =
  | { readonly type: "ready" }
  | {
      [M in ShareCall]: {
        readonly type: "answer";
        readonly id: number;
        readonly method: M;
        readonly value: Awaited<ReturnType<Share[M]>>;
      };
    }[ShareCall]
  | { readonly type: "failed"; readonly id: number; readonly method: ShareCall; readonly message: string };
