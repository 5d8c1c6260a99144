/**
 * Main-main: a main registered with a parent main, so that mains form a tree and a cluster can link to a
 * cluster under another main.
 *
 * A child main registers with its parent as a `main` under its own key (signed, as a cluster does), then
 * every `SYNC_MS` tells it its clusters (names, keys, live link ends and their observed addresses). The
 * parent's operator sets which clusters may link across mains; the parent answers each sync with the
 * remote peers of the child's clusters (their keys and observed addresses), which the child assigns to its
 * link ends as it does local peers. A link token to a remote peer is minted by the peer's own main (only
 * it holds the key the peer's link end opens tokens with): the child asks its parent, the parent asks the
 * peer's main, and the token comes back sealed hop by hop (peer's main -> parent -> child -> dialer), each
 * hop with the key the two ends of it share. A cross-main link that cannot punch goes through the parent's
 * relay: the parent gives each side a ticket there with the remote peer.
 */
import {
  decodeKey,
  encodeKey,
  MainError,
  openBox,
  type PairKeys,
  pairKeys,
  type SigningKey,
  signBody,
  tokenSealContext,
} from "@overworld/federation";
import type { Logger } from "@overworld/service";
import type { Directory } from "./directory.ts";

export const SYNC_MS = 1000;
const REQUEST_TIMEOUT_MS = 5000;

/** A peer under another main that a cluster of this main may link with. */
export interface RemotePeer {
  readonly cluster: string;
  readonly peer: string;
  readonly key: string;
  /** Its link end's observed address, "" while none is live. */
  readonly address: string;
  /** The parent's relay and a ticket there for this cluster's side: a relayed link across mains goes there. */
  readonly relay?: string;
  readonly ticket?: string;
}

export interface ParentOptions {
  readonly url: string;
  /** The parent's public key (base64), which this main trusts. */
  readonly key: string;
  readonly self: { readonly name: string; readonly key: SigningKey; readonly url: string };
  readonly directory: Directory;
  readonly log: Logger;
}

export async function postJson<T>(url: string, path: string, body: unknown): Promise<T> {
  const response = await fetch(new URL(path, url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const answer = (await response.json()) as T & { error?: string; reason?: string };
  if (!response.ok)
    throw new MainError(
      response.status,
      answer.error ?? "unknown",
      answer.reason ?? `HTTP ${response.status}`,
    );
  return answer;
}

export class ParentLink {
  private remote = new Map<string, RemotePeer[]>();
  private timer: NodeJS.Timeout | undefined;
  private registered = false;
  readonly keys: PairKeys;
  readonly parentKey: Uint8Array;

  constructor(private readonly options: ParentOptions) {
    const parentKey = decodeKey(options.key);
    if (parentKey === null) throw new Error("PARENT_KEY is not an Ed25519 public key");
    this.parentKey = parentKey;
    this.keys = pairKeys(options.self.key, parentKey);
  }

  start(): void {
    const tick = () => {
      this.sync().catch((error: unknown) =>
        this.options.log.warn(
          { err: (error as Error).message, parent: this.options.url },
          "sync with the parent main failed",
        ),
      );
    };
    tick();
    this.timer = setInterval(tick, SYNC_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The remote peers a cluster of this main may link with, as the parent last said. */
  peersOf(cluster: string): readonly RemotePeer[] {
    return this.remote.get(cluster) ?? [];
  }

  remotePeer(cluster: string, peer: string): RemotePeer | undefined {
    return this.peersOf(cluster).find((remote) => remote.peer === peer);
  }

  private async sync(): Promise<void> {
    const { self, directory } = this.options;
    if (!this.registered) {
      await postJson(
        this.options.url,
        "/v1/clusters",
        signBody(self.key, "register", {
          name: self.name,
          key: encodeKey(self.key.publicKey),
          kind: "main",
          plugins: [],
        }),
      );
      this.registered = true;
      this.options.log.info({ parent: this.options.url }, "registered with the parent main");
    }
    const clusters = (await directory.list()).filter(
      (cluster) => cluster.kind === "cluster" && cluster.revokedAt === null,
    );
    const instances = await directory.instances(clusters.map((cluster) => cluster.name));
    const body = signBody(self.key, "main-sync", {
      main: self.name,
      url: self.url,
      clusters: clusters.map((cluster) => ({
        name: cluster.name,
        key: cluster.publicKey,
        instances: instances
          .filter((instance) => instance.cluster === cluster.name)
          .map((instance) => ({
            instance: instance.instance,
            observed: instance.observed,
            live: instance.live,
          })),
      })),
    });
    const answer = await postJson<{ peers: RemotePeer[] }>(this.options.url, "/v1/mains/sync", body);
    const remote = new Map<string, RemotePeer[]>();
    for (const peer of answer.peers) remote.set(peer.cluster, [...(remote.get(peer.cluster) ?? []), peer]);
    this.remote = remote;
  }

  /** A link token for `dialer` (of this main) to a remote `acceptor`, opened: minted by the acceptor's main. */
  async remoteToken(dialer: string, dialerKey: string, acceptor: string): Promise<Uint8Array> {
    const body = signBody(this.options.self.key, "main-token", {
      main: this.options.self.name,
      dialer,
      dialerKey,
      acceptor,
    });
    const answer = await postJson<{ sealed: string }>(this.options.url, "/v1/mains/token", body);
    const token = openBox(
      this.keys.seal,
      Buffer.from(answer.sealed, "base64"),
      tokenSealContext(dialer, acceptor),
    );
    if (token === null) throw new MainError(502, "bad_seal", "the parent's token did not open");
    return token;
  }
}
