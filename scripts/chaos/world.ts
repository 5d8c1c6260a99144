/**
 * The demo world as the cluster holds it, against what should be: every object of the map
 * (`ss.query-zones` over all its zones) and every session of every client agent (`ca.sessions`), asked
 * as the ledger's tool participant.
 * - a ghost: an avatar whose owner is no live session (its player gone, it stayed);
 * - a duplicate: two avatars of one name (one account, two avatars), two sessions of one account, more
 *   than one boss, more NPCs in a zone than the world puts there.
 */
import { type DcFile, unpackField } from "../../libs/protocol/src/index.ts";
import type { Participant } from "../../libs/service/src/index.ts";

const WORLD_ID = 1000;
const GATHER_TIMEOUT_MS = 1500;

export interface WorldCheck {
  readonly ghosts: string[];
  readonly duplicates: string[];
  /** Avatars on the map, sessions held. */
  readonly avatars: number;
  readonly sessions: number;
}

export async function checkWorld(
  tool: Participant,
  dc: DcFile,
  zones: number,
  npcsPerZone: number,
  agents: number,
): Promise<WorldCheck> {
  const avatarClass = dc.class("DistributedAvatar")!;
  const bossClass = dc.class("DistributedBoss")!;
  const npcClass = dc.class("DistributedNpc")!;
  const nameField = avatarClass.field("setName")!;
  const answers = await tool.gather("ca", "sessions", {}, agents, GATHER_TIMEOUT_MS);
  if (answers.length < agents) throw new Error(`${answers.length} of ${agents} client agents answered`);
  const { objects } = await tool.request("ss", "query-zones", {
    parentId: WORLD_ID,
    zones: Array.from({ length: zones }, (_, index) => index + 1),
  });
  const ghosts: string[] = [];
  const duplicates: string[] = [];
  const sessions = new Set<number>();
  const accounts = new Map<string, number>();
  for (const answer of answers)
    for (const session of answer.sessions) {
      sessions.add(session.client);
      accounts.set(session.username, (accounts.get(session.username) ?? 0) + 1);
    }
  for (const [username, count] of accounts)
    if (count > 1) duplicates.push(`account ${username} holds ${count} sessions`);
  const names = new Map<string, number[]>();
  const bosses: number[] = [];
  const npcs = new Map<number, number>();
  let avatars = 0;
  for (const object of objects) {
    if (object.classId === avatarClass.id) {
      avatars++;
      if (object.owner === undefined || !sessions.has(object.owner))
        ghosts.push(
          `avatar ${object.doId} in zone ${object.zoneId}: owner ${object.owner ?? "none"} has no session`,
        );
      const bytes = object.fields.find(([id]) => id === nameField.id)?.[1];
      const name = bytes === undefined ? "?" : (unpackField(nameField, bytes) as [string])[0];
      names.set(name, [...(names.get(name) ?? []), object.doId]);
    } else if (object.classId === bossClass.id) {
      bosses.push(object.doId);
    } else if (object.classId === npcClass.id) {
      npcs.set(object.zoneId, (npcs.get(object.zoneId) ?? 0) + 1);
    }
  }
  for (const [name, doIds] of names)
    if (doIds.length > 1) duplicates.push(`${doIds.length} avatars named ${name}: ${doIds.join(", ")}`);
  if (bosses.length > 1) duplicates.push(`${bosses.length} bosses: ${bosses.join(", ")}`);
  for (const [zone, count] of npcs)
    if (count > npcsPerZone) duplicates.push(`${count} NPCs in zone ${zone} (the world puts ${npcsPerZone})`);
  return { ghosts, duplicates, avatars, sessions: sessions.size };
}
