import { resolve } from "node:path";
import { ensureNatsTrust, trustFiles } from "@overworld/service";
import { parseCommand } from "../command-args.ts";

const NATS_USAGE = `usage: pnpm overworld nats init DIR [--host HOST] [--port PORT] [--store DIR]

Makes the cluster's NATS trust in DIR, unless one is there (it is kept: credentials handed out stay good),
and writes the nats-server configuration for it:
  DIR/nats.conf           run nats-server -c DIR/nats.conf (operator mode, JetStream in --store)
  DIR/<role>.creds        each role's join credentials: give a service its role's file (NATS_CREDS)
  DIR/account.pub         the cluster's account (NATS_ACCOUNT_FILE of the message director)
  DIR/signing-key.nk      the key that mints every participant's credentials: the message director's
                          secret (NATS_SIGNING_KEY_FILE); whoever holds it can act as any service
  --host HOST   where nats-server listens (default 127.0.0.1; 0.0.0.0 in a container)
  --port PORT   its client port (default 4222)
  --store DIR   its JetStream directory (default DIR/jetstream)
`;

const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  store: { type: "string" },
} as const;

/** `pnpm overworld nats init DIR`: the cluster's NATS trust and server configuration. */
export async function runNatsCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS, NATS_USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [verb, dir] = positionals;
  if (verb !== "init" || dir === undefined) {
    process.stderr.write(NATS_USAGE);
    return 2;
  }
  const port = Number(values.port ?? "4222");
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`error: --port takes a port number from 1 to 65535, not '${values.port}'\n`);
    return 2;
  }
  const target = resolve(dir);
  await ensureNatsTrust(target, {
    host: values.host ?? "127.0.0.1",
    port,
    ...(values.store ? { storeDir: values.store } : {}),
  });
  process.stdout.write(`NATS trust in ${target}; run: nats-server -c ${trustFiles(target).serverConfig}\n`);
  return 0;
}
