/**
 * A bot worker thread (started by workers.ts through worker-entry.mjs, which loads TypeScript): runs its
 * share of the run's bots and answers the main thread's calls (worker-protocol.ts). It loads the .dc
 * files itself, says `ready`, and from then on only answers. An error it does not catch ends it; the main
 * thread reports that error as this worker's and stops the run.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { SendTimes } from "./send-times.ts";
import { BotShare, loadWalkingClasses } from "./share.ts";
import type { FromWorker, ToWorker, WorkerData } from "./worker-protocol.ts";

if (isMainThread || parentPort === null) {
  throw new Error(
    "libs/bots/src/worker.ts is a bot worker's entry: runBots({ workers }) starts it in a worker thread",
  );
}
const port = parentPort;
const { spec, sendTimes } = workerData as WorkerData;
const share = new BotShare(
  spec,
  loadWalkingClasses(spec.options.dcFiles),
  new SendTimes(sendTimes, spec.options.count),
);

port.on("message", (message: ToWorker) => {
  if (message.type === "abort") {
    share.abort();
    return;
  }
  answer(message).then(
    (reply) => post(reply),
    (error: unknown) =>
      post({
        type: "failed",
        id: message.id,
        method: message.method,
        message: (error as Error).message ?? String(error),
      }),
  );
});
post({ type: "ready" });

function post(message: FromWorker): void {
  port.postMessage(message);
}

/** Runs one call on the share. */
async function answer(call: Extract<ToWorker, { type: "call" }>): Promise<FromWorker> {
  const { id } = call;
  switch (call.method) {
    case "ramp":
      return { type: "answer", id, method: call.method, value: await share.ramp(...call.args) };
    case "progress":
      return { type: "answer", id, method: call.method, value: await share.progress() };
    case "beginMeasure":
      return { type: "answer", id, method: call.method, value: await share.beginMeasure() };
    case "endMeasure":
      return { type: "answer", id, method: call.method, value: await share.endMeasure() };
    case "stop":
      return { type: "answer", id, method: call.method, value: await share.stop() };
  }
}
