/** The chaos run's table: each fault, how often it was injected, its recovery times and the invariants. */

export const INVARIANTS = [
  "acked writes",
  "no ghosts",
  "no duplicates",
  "bots back",
  "services healthy",
  "players stayed",
] as const;
export type Invariant = (typeof INVARIANTS)[number];

/**
 * Whether the invariant is checked after this fault: every one is, but "players stayed" (no bot lost its
 * connection), which only a fault the cluster must hide from its players is held to: one NATS node of
 * several going away.
 */
export function checked(invariant: Invariant, fault: string): boolean {
  return invariant !== "players stayed" || fault === "nats-node";
}

export interface FaultRow {
  readonly fault: string;
  injected: number;
  /** Recovery time of each injection that recovered within the bound. */
  readonly recoveryMs: number[];
  /** Injections after which an invariant did not hold, by invariant. */
  readonly violated: Map<Invariant, number>;
}

const MS_PER_SECOND = 1000;

/** A Markdown table (readable as it is in a terminal, and pasted into bench/RESULTS.md). */
export function formatTable(rows: readonly FaultRow[], bots: number, boundMs: number): string {
  const header = [
    "fault",
    "injected",
    "recovered",
    "recovery median",
    "recovery max",
    ...INVARIANTS.map((invariant) => invariant),
  ];
  const lines = rows.map((row) => [
    kind(row.fault),
    String(row.injected),
    String(row.recoveryMs.length),
    seconds(median(row.recoveryMs)),
    seconds(row.recoveryMs.length === 0 ? undefined : Math.max(...row.recoveryMs)),
    ...INVARIANTS.map((invariant) => {
      const count = row.violated.get(invariant) ?? 0;
      if (row.injected === 0 || !checked(invariant, row.fault)) return "-";
      return count === 0 ? "held" : `VIOLATED ${count}×`;
    }),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [
    `${bots} bots; recovery: from the fault until every service is healthy, every bot walks again and every invariant holds (bound ${boundMs / MS_PER_SECOND} s)`,
    "",
    format(header),
    format(widths.map((width) => "-".repeat(width))),
    ...lines.map(format),
  ].join("\n");
}

function kind(fault: string): string {
  if (fault === "nats") return "NATS (kill -9, restart)";
  if (fault === "redis") return "Redis (kill -9, restart)";
  if (fault === "nats-node") return "NATS node (kill -9, restart)";
  return `${fault} (kill -9)`;
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "-" : `${(ms / MS_PER_SECOND).toFixed(1)} s`;
}
