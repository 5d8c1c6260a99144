/**
 * How a player benchmark runs: its cluster is started, the work done, and the cluster stopped and its
 * names removed whatever happens: on success, on failure, on Ctrl-C (SIGINT/SIGTERM) and when the run
 * passes its time limit.
 */
import type { LocalCluster } from "../../libs/cli/src/local-cluster.ts";

export function runBenchmark(
  name: string,
  cluster: LocalCluster,
  timeLimitMs: number,
  work: () => Promise<void>,
): void {
  let stopping = false;
  const finish = (code: number) => {
    stopping = true;
    // the services' log lines are kept for a run that went wrong
    cluster.stop(code !== 0).finally(() => {
      if (code !== 0) process.stderr.write(`${name}: the services' log lines are in ${cluster.logPath}\n`);
      process.exit(code);
    });
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`\n${name}: time limit of ${Math.round(timeLimitMs / 1000)} s reached; stopping\n`);
    finish(1);
  }, timeLimitMs);
  // `on`, not `once`: tsx relays a signal a second time, and the repeat must not cut the clean-up short
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      process.stderr.write(`\n${name}: ${signal}; stopping the cluster and cleaning up\n`);
      finish(130);
    });
  }
  cluster
    .start()
    .then(work)
    .then(
      () => 0,
      (error: unknown) => {
        process.stderr.write(`\n${name} failed: ${(error as Error).stack ?? String(error)}\n`);
        return 1;
      },
    )
    .then((code) => {
      clearTimeout(watchdog);
      if (!stopping) finish(code);
    });
}
