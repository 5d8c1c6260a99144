/**
 * The cluster's NATS trust, in NATS's own decentralized model: an operator, a system account and one
 * account for the cluster, whose *signing key* issues every user. Nothing is configured per user on the
 * server: a user is a JWT signed with the signing key, and the server checks the signature and that the
 * connecting client holds the user's private key (it signs the server's nonce).
 *
 * - Each role has *join credentials* (`<role>.creds`): they allow only that role's join request to the
 *   message director and the answer to it. Hand each deployment the file of its role.
 * - The message director holds the signing key (`NATS_ACCOUNT`, `NATS_SIGNING_KEY[_FILE]`). When an
 *   instance joins, it mints the instance's own credentials: a user JWT for the key the instance made at
 *   start, with the permissions the catalogue gives its role and channel (see `permissionsFor`).
 *
 * `createNatsTrust()` makes a new trust (all keys fresh); `writeNatsTrust(dir, ...)` lays it out as files
 * with a nats-server configuration (`pnpm overworld nats init DIR`). Seeds are written with mode 0600
 * and never logged.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import {
  createAccount,
  createOperator,
  createUser,
  fromPublic,
  fromSeed,
  type KeyPair,
} from "@nats-io/nkeys";
import { joinPermissionsFor, type NatsPermissions, ROLES, type Role } from "@overworld/protocol";

export interface NatsTrust {
  readonly operatorJwt: string;
  readonly systemAccount: string;
  readonly systemAccountJwt: string;
  /** The cluster's account (public key, `A...`). */
  readonly account: string;
  readonly accountJwt: string;
  /** The account signing key's seed (`SA...`): whoever holds it can mint any user. The director's secret. */
  readonly signingKey: string;
  /** The join credentials of each role, in the `.creds` format. */
  readonly joinCredentials: Readonly<Record<Role, string>>;
}

/** What a minted user may use: no limits but those of the account. */
const UNLIMITED = { subs: -1, data: -1, payload: -1 };

/** A fresh trust: operator, system account, cluster account with JetStream and a signing key, join credentials. */
export async function createNatsTrust(): Promise<NatsTrust> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const signer = createAccount();
  const operatorJwt = await encodeOperator("overworld", operator, {
    system_account: system.getPublicKey(),
  });
  const systemAccountJwt = await encodeAccount("SYS", system, {}, { signer: operator });
  const accountJwt = await encodeAccount(
    "overworld",
    account,
    {
      signing_keys: [signer.getPublicKey()],
      limits: {
        ...UNLIMITED,
        conn: -1,
        leaf: -1,
        imports: -1,
        exports: -1,
        wildcards: true,
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
      },
    },
    { signer: operator },
  );
  const signingKey = decode(signer.getSeed());
  const joinCredentials = {} as Record<Role, string>;
  for (const role of ROLES) {
    if (role === "message-director") continue; // the director mints its own from the signing key
    const user = createUser();
    const jwt = await mint(
      signingKey,
      account.getPublicKey(),
      user,
      `${role} (join)`,
      joinPermissionsFor(role),
    );
    joinCredentials[role] = decode(fmtCreds(jwt, user));
  }
  return {
    operatorJwt,
    systemAccount: system.getPublicKey(),
    systemAccountJwt,
    account: account.getPublicKey(),
    accountJwt,
    signingKey,
    joinCredentials,
  };
}

/** Signs a user JWT for `user` (a key pair, or its public key) with the account signing key. */
export async function mint(
  signingKey: string,
  account: string,
  user: KeyPair | string,
  name: string,
  permissions: NatsPermissions,
): Promise<string> {
  const signer = fromSeed(new TextEncoder().encode(signingKey));
  return encodeUser(name, user, account, { ...permissions, ...UNLIMITED }, { signer });
}

export interface NatsServerOptions {
  readonly host: string;
  readonly port: number;
  /** Where JetStream keeps its streams. */
  readonly storeDir: string;
  /** The HTTP monitoring port (none when absent). */
  readonly monitorPort?: number;
  /** This server as a node of a NATS cluster (JetStream clustered: streams can have replicas). */
  readonly cluster?: NatsClusterNode;
}

export interface NatsClusterNode {
  /** The cluster's name, the same on every node. */
  readonly name: string;
  /** This node's name, unique in the cluster (JetStream's peers are named by it). */
  readonly serverName: string;
  /** The port this node takes routes from the others on. */
  readonly port: number;
  /** Every node's route port, this one's included (a node ignores the route to itself). */
  readonly routes: readonly number[];
}

/** A nats-server configuration that trusts exactly this operator and knows the two accounts. */
export function natsServerConfig(trust: NatsTrust, options: NatsServerOptions): string {
  return [
    "# Overworld's NATS: operator mode; every user is a JWT signed by the cluster account's signing key.",
    `host: ${JSON.stringify(options.host)}`,
    `port: ${options.port}`,
    // a connection's CONNECT carries its JWT, whose permissions list every subject of its role
    "max_control_line: 32768",
    ...(options.monitorPort === undefined ? [] : [`http_port: ${options.monitorPort}`]),
    ...(options.cluster === undefined ? [] : clusterBlock(options.host, options.cluster)),
    `jetstream: { store_dir: ${JSON.stringify(options.storeDir)} }`,
    `operator: ${JSON.stringify(trust.operatorJwt)}`,
    `system_account: ${trust.systemAccount}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${trust.systemAccount}: ${JSON.stringify(trust.systemAccountJwt)}`,
    `  ${trust.account}: ${JSON.stringify(trust.accountJwt)}`,
    "}",
    "",
  ].join("\n");
}

function clusterBlock(host: string, node: NatsClusterNode): string[] {
  return [
    `server_name: ${JSON.stringify(node.serverName)}`,
    "cluster: {",
    `  name: ${JSON.stringify(node.name)}`,
    `  host: ${JSON.stringify(host)}`,
    `  port: ${node.port}`,
    `  routes: [${node.routes.map((port) => JSON.stringify(`nats-route://${host}:${port}`)).join(", ")}]`,
    "}",
  ];
}

/** The files of a trust directory. */
export function trustFiles(dir: string) {
  return {
    trust: join(dir, "trust.json"),
    serverConfig: join(dir, "nats.conf"),
    account: join(dir, "account.pub"),
    signingKey: join(dir, "signing-key.nk"),
    credentials: (role: Role) => join(dir, `${role}.creds`),
  };
}

/**
 * Writes a trust as files: `trust.json` (everything, to read it back), `nats.conf` for nats-server,
 * `account.pub`, `signing-key.nk` (the director's secret) and `<role>.creds` for each joining role.
 * Secrets are readable by the owner only.
 */
export function writeNatsTrust(dir: string, trust: NatsTrust, server: NatsServerOptions): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = trustFiles(dir);
  const secret = (path: string, text: string) => {
    writeFileSync(path, text, { mode: 0o600 });
    chmodSync(path, 0o600);
  };
  secret(files.trust, `${JSON.stringify(trust, null, 2)}\n`);
  writeFileSync(files.serverConfig, natsServerConfig(trust, server));
  writeFileSync(files.account, `${trust.account}\n`);
  secret(files.signingKey, `${trust.signingKey}\n`);
  for (const [role, creds] of Object.entries(trust.joinCredentials)) {
    secret(files.credentials(role as Role), creds);
  }
}

/** Reads a trust written by `writeNatsTrust`, or undefined when the directory holds none. */
export function readNatsTrust(dir: string): NatsTrust | undefined {
  const path = trustFiles(dir).trust;
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as NatsTrust;
}

/** Whether `signature` is the Ed25519 signature of `data` by the nkey whose public key is `key`. */
export function verifySignature(key: string, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return fromPublic(key).verify(data, signature);
  } catch {
    return false; // not a public key
  }
}

/** The account a signing key seed belongs to must be named beside it; this checks the seed is one. */
export function isAccountSeed(seed: string): boolean {
  try {
    return seed.startsWith("SA") && fromSeed(new TextEncoder().encode(seed)).getPublicKey().startsWith("A");
  } catch {
    return false;
  }
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
