/**
 * The tests' ways onto the suite's NATS with credentials: the environment a service of a role runs with
 * (its join credentials; the director's signing key), a connection with the credentials of one identity
 * as the catalogue gives them (to play a participant, or an attacker holding one role's credentials),
 * and an operator's connection that may publish and subscribe anywhere (the harness's view of the bus).
 */
import { readFileSync } from "node:fs";
import {
  EVENT_STREAM,
  type Identity,
  type NatsPermissions,
  permissionsFor,
  type Role,
  streamsOf,
} from "@overworld/protocol";
import {
  connectMinted,
  EVERYWHERE,
  type NatsConnection,
  serviceNatsEnv,
  trustFiles,
} from "@overworld/service";
import { NATS_TRUST, NATS_URL } from "./services.ts";

/** The environment of a service of `role` on the suite's NATS. */
export function natsEnv(role: Role): Record<string, string> {
  return serviceNatsEnv(NATS_TRUST, NATS_URL, role);
}

/** The join credentials of a role (the content of its `.creds` file). */
export function joinCredentials(role: Role): string {
  return readFileSync(trustFiles(NATS_TRUST).credentials(role), "utf8");
}

/** A connection with exactly these permissions (its inbox allowed besides). */
export function connectWith(permissions: NatsPermissions, name: string): Promise<NatsConnection> {
  return connectMinted(NATS_TRUST, NATS_URL, name, permissions);
}

/** A connection with the credentials the director would give `identity` in the cluster under `root`. */
export function connectAs(
  identity: Identity,
  root: string,
  eventStream = EVENT_STREAM,
): Promise<NatsConnection> {
  const permissions = permissionsFor(identity.role, {
    root,
    streams: streamsOf(root, eventStream),
    key: "",
    channel: identity.channel,
  });
  return connectWith(permissions, `${identity.role}#${identity.channel} (test)`);
}

/** A connection that may publish and subscribe on every subject: the harness's view of the bus. */
export function connectOperator(name = "test operator"): Promise<NatsConnection> {
  return connectWith(EVERYWHERE, name);
}
