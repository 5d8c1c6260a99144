/**
 * What rides on a link between clusters: msgpack maps tagged by `t` (shared objects' `slot` and
 * `refresh`, peer files' `file-*`, plugin messages' `plugin-msg`). Each part of the link end reads the
 * tags it owns and leaves the others.
 */
import { decodeEnvelope } from "@overworld/protocol";

/** A link message's fields, when it decodes to a map with a text tag `t`; else undefined. */
export function readTagged(bytes: Uint8Array): (Record<string, unknown> & { t: string }) | undefined {
  let message: unknown;
  try {
    message = decodeEnvelope(bytes);
  } catch {
    return undefined;
  }
  if (typeof message !== "object" || message === null) return undefined;
  const tagged = message as Record<string, unknown>;
  return typeof tagged.t === "string" ? (tagged as Record<string, unknown> & { t: string }) : undefined;
}
