/**
 * Zone channels: each zone of the zone graph that game logic runs has a channel of its own (from
 * ZONE_CHANNEL_BASE up), the same for every replica and for ever, so that an object's AI can be its
 * zone rather than a replica: a zone moves between replicas without touching its objects, and whatever is
 * sent to it is journaled under one subject. The registry lives in Redis; the first replica to ask for a
 * zone's channel allocates it.
 */
import { MAX_ID, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { LuaScript, type Redis } from "@overworld/service";
import { zoneKey } from "./placement.ts";

const CHANNEL_OF = new LuaScript(
  "zone-channel-of",
  `
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then return tonumber(known) end
local channel = tonumber(ARGV[2]) + redis.call('INCR', KEYS[2]) - 1
redis.call('HSET', KEYS[1], ARGV[1], channel)
return channel
`,
);

export class ZoneChannels {
  private readonly known = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** The zone's channel, allocated on first use. */
  async channelOf(parent: number, zone: number): Promise<number> {
    const key = zoneKey(parent, zone);
    const cached = this.known.get(key);
    if (cached !== undefined) return cached;
    const channel = Number(
      await CHANNEL_OF.run(
        this.redis,
        [`${this.prefix}zone-channels`, `${this.prefix}zone-channel-count`],
        [key, ZONE_CHANNEL_BASE],
      ),
    );
    if (!(channel >= ZONE_CHANNEL_BASE && channel <= MAX_ID)) {
      throw new Error(`zone channels are used up (${key} would get ${channel})`);
    }
    this.known.set(key, channel);
    return channel;
  }

  /** Forgets the channels of zones that are gone for good (a closed instance's); their numbers are not reused. */
  async forget(parent: number, zones: readonly number[]): Promise<void> {
    if (zones.length === 0) return;
    const keys = zones.map((zone) => zoneKey(parent, zone));
    await this.redis.hdel(`${this.prefix}zone-channels`, ...keys);
    for (const key of keys) this.known.delete(key);
  }

  /** The channel of a zone already asked for (synchronous, for zone logic); throws if never asked. */
  cached(parent: number, zone: number): number {
    const channel = this.known.get(zoneKey(parent, zone));
    if (channel === undefined) throw new Error(`zone ${zoneKey(parent, zone)} has no known channel yet`);
    return channel;
  }
}
