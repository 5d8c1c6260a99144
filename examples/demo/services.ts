/**
 * The demo world's uberdog service: a directory that says who is behind an avatar. It stands in the
 * world's zone 0 (doId: the world's + 2), which no zone runs, so uberdog answers its requests rather than
 * a zone: a player who sees zone 0 calls `client.request(directory, "whois", [avatarDoId])` and gets the
 * player's name, or the error `unknown_avatar`. `lookups` (how many whois it answered since uberdog
 * started) is for zone logic and operators (the admin API's POST /v1/objects/:doId/request), not clients:
 * a client calling it is ejected (118). An avatar that says "/whois N" has its zone ask the directory
 * (a zone calling a service object: plugin.ts) and says the answer.
 *
 * Uberdog loads it with SERVICES=examples/demo/services.ts (the CLI's `overworld start` and the compose
 * file do), and creates the directory at start if it is not there yet.
 */
import { defineServices, onServiceRequest, RequestError, serviceObject } from "@overworld/uberdog/services";
import { DEFAULT_WORLD_ID, directoryId } from "./plugin.ts";

export { directoryId };

import { demo } from "./schema.ts";

const { DistributedDirectory, DistributedAvatar } = demo;

/** The zone of the world where the directory stands: no zone-AI runs it. */
export const SERVICES_ZONE = 0;

/** The demo's services for the world `worldId` (DEMO_WORLD_ID, as the zone plugin). */
export function demoServices(worldId = Number(process.env.DEMO_WORLD_ID ?? DEFAULT_WORLD_ID)) {
  let lookups = 0;
  return defineServices({
    name: "demo-services",
    schema: demo,
    objects: [
      serviceObject(
        DistributedDirectory,
        { doId: directoryId(worldId), parent: worldId, zone: SERVICES_ZONE },
        { setName: ["the directory"] },
      ),
    ],
    requests: [
      onServiceRequest(DistributedDirectory, "whois", async (call, [avatar]): Promise<[string]> => {
        const object = await call.services.object(avatar).catch((error: unknown) => {
          if (error instanceof RequestError && error.code === "unknown_object") return undefined;
          throw error;
        });
        if (object === undefined || !isAvatar(object.dclass)) {
          throw new RequestError("unknown_avatar", `object ${avatar} is not an avatar in the world`);
        }
        lookups += 1;
        const [name] = object.fields.setName as [string];
        return [name];
      }),
      onServiceRequest(DistributedDirectory, "lookups", (): [number] => [lookups]),
    ],
  });
}

function isAvatar(dclass: { readonly name: string }): boolean {
  return dclass.name === DistributedAvatar.name;
}

export const services = demoServices();
export default services;
