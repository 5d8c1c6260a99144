/**
 * The zone journal's record of a plugin version switch: an entry on the zone's channel, stored by
 * JetStream among the zone's inputs, so that every replay of the zone (after a failover) hands it from
 * the old code to the new at the same place: inputs before the entry run the old code, those after the
 * new. It is not a zone channel message (older replicas skip it as unreadable, as the journal keeps it).
 * Only the zone's own sender counts, and it names a version the replica has loaded (another is skipped,
 * the zone running on): whoever NATS lets publish on zone channels (the state server, zone AI,
 * operators) could otherwise only switch a zone between versions its replica already runs or ran.
 */
import { decodeEnvelope, encodeEnvelope } from "@overworld/protocol";
import { z } from "zod";

export const SWITCH_KIND = "plugin-switch";

const LABEL = /^[^@\s]+@[^@\s]+$/;

const switchEntrySchema = z.strictObject({
  kind: z.literal(SWITCH_KIND),
  /** The zone's own channel: only the replica running the zone writes its switches. */
  sender: z.number().int().nonnegative(),
  plugin: z.string().min(1).max(214),
  from: z.string().regex(LABEL).max(300),
  to: z.string().regex(LABEL).max(300),
  /** When the swap was asked for (ms): for the log. */
  at: z.number(),
});

export type SwitchEntry = z.infer<typeof switchEntrySchema>;

export function encodeSwitch(entry: Omit<SwitchEntry, "kind">): Uint8Array {
  return encodeEnvelope({ kind: SWITCH_KIND, ...entry } satisfies SwitchEntry);
}

/**
 * A journal entry read as a code switch of the zone whose channel is `channel`: undefined when it is not
 * one (or names another sender: only the zone's own switches count).
 */
export function readSwitch(data: Uint8Array, channel: number): SwitchEntry | undefined {
  let decoded: unknown;
  try {
    decoded = decodeEnvelope(data);
  } catch {
    return undefined;
  }
  const parsed = switchEntrySchema.safeParse(decoded);
  if (!parsed.success || parsed.data.sender !== channel) return undefined;
  return parsed.data;
}

/**
 * The zones of a swap in groups whose migrations (as their dry runs took, ms) fit `budgetMs` together,
 * each group switched a tick after the one before, so that no tick does them all at once. A zone whose
 * migration alone is over the budget is a group of its own. In the order given.
 */
export function switchGroups(costs: readonly (readonly [string, number])[], budgetMs: number): string[][] {
  const groups: string[][] = [];
  let group: string[] = [];
  let spent = 0;
  for (const [key, cost] of costs) {
    if (group.length > 0 && spent + cost > budgetMs) {
      groups.push(group);
      group = [];
      spent = 0;
    }
    group.push(key);
    spent += cost;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
