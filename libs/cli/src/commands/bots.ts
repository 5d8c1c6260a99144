import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type BotOptions,
  type BotReport,
  DEFAULTS,
  defaultClusterVersion,
  FIRST_LOOPBACK_SOURCE,
  formatProgress,
  formatSummary,
  resolveOptions,
  runBots,
} from "@overworld/bots";
import { parseGrid } from "../../../../examples/demo/grid.ts";

/**
 * `pnpm overworld bots`: the bot load tester. N bots log in, walk the demo world, and the run ends with
 * a report of delivered updates, latency percentiles, ejections and losses. Exits 1 when a bot failed to
 * connect, was ejected or lost its connection; 130 when stopped with Ctrl-C (the report still comes).
 */

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;
const EXIT_INTERRUPTED = 130;
const { grid } = DEFAULTS;

const BOTS_USAGE = `usage: pnpm overworld bots --count N [options]

Logs in N bots against a running cluster (see \`pnpm overworld start\`), walks them around the demo world,
prints progress every second (stderr) and a report at the end. Latency is end to end: the sender's
cluster time in the walk step (setSmXYH) to the receiver's cluster time when it arrives, from HDR
histograms in microseconds, over the measured window only (after the ramp and warm-up).

  --count N          bots to run (required)
  --rate HZ          walk steps each bot sends per second (default ${DEFAULTS.rate})
  --duration S       seconds to measure once every bot walks (or failed) and the warm-up passed (default ${DEFAULTS.durationSeconds})
  --warmup S         seconds between the last bot starting and measuring (default ${DEFAULTS.warmupSeconds})
  --ramp N           bots started per second (default ${DEFAULTS.ramp})
  --uberdog URL      where bots register and log in (default ${DEFAULTS.uberdog})
  --dc FILES         the cluster's .dc files, comma-separated (default examples/demo/demo.dc)
  --version V        the cluster version to say hello with (default $CLUSTER_VERSION, else "dev", as start)
  --grid WxH[@S]     the world's map: zones across and down, and their size (default ${grid.width}x${grid.height}@${grid.cellSize})
  --speed U          walking speed, world units per second (default ${DEFAULTS.speed})
  --prefix P         usernames are P1..PN; accounts are registered if new (default ${DEFAULTS.prefix})
  --password W       the bots' password (default ${DEFAULTS.password})
  --update-hz N      transport updates per second per bot; sends wait up to 1/N s (default ${DEFAULTS.updateHz})
  --workers K        worker threads to spread the bots over, each running a contiguous share of them, so that
                     the bots use K cores instead of one (default ${DEFAULTS.workers}: all in this thread); the report
                     merges them: counters summed, latency histograms merged, CPU of the whole process
  --source-address IP  the local address of the first bot; each next bot the next one (${FIRST_LOOPBACK_SOURCE},
                     127.0.1.2, ...), for its login and its UDP socket alike; 'none' to bind none
                     (default ${FIRST_LOOPBACK_SOURCE} when --uberdog is on 127.x.x.x, else none)
  --resume S         a bot whose connection is lost logs in again, reconnects to a live agent and gets its
                     avatar back within S seconds, then walks on (default 0: it stays disconnected)
  --json FILE        also write the report as JSON to FILE; '-' writes it to stdout (the summary goes to stderr)
  -h, --help         show this help

Exit status: 0 when every bot walked and none was ejected or disconnected, 1 otherwise, 130 on Ctrl-C.
Each bot is a client address of its own, as players are, so runs of hundreds of bots stay within the
cluster's limits per address (logins, registrations, sessions, datagrams). On Linux all of 127.0.0.0/8 is
loopback; on macOS add aliases first (sudo ifconfig lo0 alias 127.0.1.1 up, ...).
`;

function parseBotsArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      count: { type: "string" },
      rate: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      ramp: { type: "string" },
      uberdog: { type: "string" },
      dc: { type: "string" },
      version: { type: "string" },
      grid: { type: "string" },
      speed: { type: "string" },
      prefix: { type: "string" },
      password: { type: "string" },
      "update-hz": { type: "string" },
      workers: { type: "string" },
      resume: { type: "string" },
      "source-address": { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}

/** `pnpm` runs scripts from the repository root; paths are taken relative to where the user typed them. */
function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export async function runBotsCommand(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parseBotsArgs>;
  let options: BotOptions;
  try {
    values = parseBotsArgs(argv);
    if (values.help) {
      process.stdout.write(BOTS_USAGE);
      return 0;
    }
    options = botOptions(values);
    resolveOptions(options); // the same checks runBots makes, so a bad number is a usage error
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${BOTS_USAGE}`);
    return EXIT_USAGE;
  }

  const missing = options.dcFiles?.find((path) => !existsSync(path));
  if (missing !== undefined) {
    process.stderr.write(`error: cannot read ${missing}: no such file\n`);
    return EXIT_FAILED;
  }

  const abort = new AbortController();
  const interrupt = () => {
    if (abort.signal.aborted) process.exit(EXIT_INTERRUPTED); // a second Ctrl-C: leave at once
    process.stderr.write("\nstopping the bots (Ctrl-C again to quit at once)\n");
    abort.abort();
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  process.stderr.write(
    `${options.count} bots against ${options.uberdog ?? DEFAULTS.uberdog} (version ${options.version}), ` +
      `${options.rate ?? DEFAULTS.rate} steps/s each` +
      `${(options.workers ?? DEFAULTS.workers) > 1 ? `, over ${options.workers} worker threads` : ""}\n`,
  );
  let report: BotReport;
  try {
    report = await runBots({
      ...options,
      signal: abort.signal,
      onProgress: (progress) => process.stderr.write(`${formatProgress(progress)}\n`),
    });
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }

  const json = `${JSON.stringify(report, null, 2)}\n`;
  const summary = formatSummary(report);
  if (values.json === "-") {
    process.stdout.write(json);
    process.stderr.write(`\n${summary}`);
  } else {
    if (values.json !== undefined) writeFileSync(userPath(values.json), json);
    process.stdout.write(`\n${summary}`);
  }
  if (report.aborted) return EXIT_INTERRUPTED;
  return report.ok ? 0 : EXIT_FAILED;
}

/** The options from the command line; throws naming the option that is wrong. */
function botOptions(values: ReturnType<typeof parseBotsArgs>): BotOptions {
  if (values.count === undefined) throw new Error("--count is required");
  return {
    count: number("--count", values.count),
    rate: optionalNumber("--rate", values.rate),
    durationSeconds: optionalNumber("--duration", values.duration),
    warmupSeconds: optionalNumber("--warmup", values.warmup),
    ramp: optionalNumber("--ramp", values.ramp),
    uberdog: values.uberdog === undefined ? undefined : url(values.uberdog),
    dcFiles: values.dc?.split(",").map((path) => userPath(path.trim())),
    version: values.version ?? defaultClusterVersion(),
    grid: values.grid === undefined ? undefined : parseGrid(values.grid),
    speed: optionalNumber("--speed", values.speed),
    prefix: values.prefix,
    password: values.password,
    updateHz: optionalNumber("--update-hz", values["update-hz"]),
    workers: optionalNumber("--workers", values.workers),
    resumeSeconds: optionalNumber("--resume", values.resume),
    ...sourceAddress(values["source-address"]),
  };
}

/** `--source-address`: absent keeps the default, `none` binds none. */
function sourceAddress(text: string | undefined): Pick<BotOptions, "sourceAddress"> {
  if (text === undefined) return {};
  return { sourceAddress: text === "none" ? null : text };
}

function number(option: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value))
    throw new Error(`${option} takes a number, not '${text}'`);
  return value;
}

function optionalNumber(option: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : number(option, text);
}

function url(text: string): string {
  try {
    return new URL(text).toString();
  } catch {
    throw new Error(`--uberdog takes a URL such as http://127.0.0.1:8000, not '${text}'`);
  }
}
