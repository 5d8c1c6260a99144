/**
 * The Kubernetes manifests (deploy/kubernetes): every object valid against Kubernetes' own schemas
 * (kubernetes-models, through @kubernetes-models/validate), every reference between them resolving (a
 * config key, a secret's item, a Service's selector and target port), every service probed on its ops
 * port; then each Deployment's command started here as Kubernetes would start it, with its environment
 * (only what names the cluster's machines is replaced: NATS, Redis and Postgres are the suite's, the
 * secrets' files are local ones, ports are free ones, keys live under a namespace of this test), until
 * its startup, readiness and liveness probes answer 200.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { freeTcpPort, freeUdpPort } from "../../libs/cli/src/cluster-processes.ts";
import { journalStream, snapshotBucket } from "../../services/zone-ai/src/journal.ts";
import { deleteStreams, dropRedisKeys, dropSchema } from "../support/cleanup.ts";
import { DATABASE_URL, NATS_TRUST, NATS_URL, REDIS_URL } from "../support/services.ts";
import { waitFor } from "../support/wait.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIR = join(ROOT, "deploy/kubernetes");
/** The secrets README.md tells the operator to make, with the keys it names. */
const KEYS_SECRET = ["netcode-private-key", "main.seed", "admin.token", "cluster.seed"];
const START_MS = 120_000;

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects, checked against their schemas below
type K8s = any;

function manifests(): K8s[] {
  const kustomization = parseAllDocuments(readFileSync(join(DIR, "kustomization.yaml"), "utf8"))[0]!.toJS();
  return (kustomization.resources as string[]).flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), "utf8")).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
      return document.toJS();
    }),
  );
}

/** Validates an object with its kubernetes-models class (`apps/v1` Deployment: kubernetes-models/apps/v1/Deployment). */
async function validate(object: K8s): Promise<void> {
  const [group, version] = object.apiVersion.includes("/")
    ? object.apiVersion.split("/")
    : ["", object.apiVersion];
  const module = await import(`kubernetes-models/${group ? `${group}/` : ""}${version}/${object.kind}`);
  new module[object.kind](object).validate();
}

const objects = manifests();
const byKind = (kind: string) => objects.filter((object) => object.kind === kind);
const configMap = byKind("ConfigMap").find((map) => map.metadata.name === "overworld")!;
const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
const deployments = byKind("Deployment");
const trustFiles = readdirSync(NATS_TRUST);

describe("the Kubernetes manifests", () => {
  it("are valid against Kubernetes' schemas, and a broken one is not", async () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const object of objects) await validate(object);

    const broken = structuredClone(deployments.find((d) => d.metadata.name === "zone-ai"));
    broken.spec.replicas = "three";
    await expect(validate(broken)).rejects.toThrow(/replicas must be integer/);
    delete broken.spec.replicas;
    delete broken.spec.template.spec.containers[0].name;
    await expect(validate(broken)).rejects.toThrow(/containers\/0 must have required property name/);
  });

  it("refer only to what exists: config keys, secret items, selectors and ports", () => {
    for (const workload of workloads) {
      const pod = workload.spec.template;
      for (const [label, value] of Object.entries(workload.spec.selector.matchLabels)) {
        expect(pod.metadata.labels[label], `${workload.metadata.name}: label ${label}`).toBe(value);
      }
      for (const container of pod.spec.containers) {
        for (const variable of container.env ?? []) {
          const configKey = variable.valueFrom?.configMapKeyRef;
          if (configKey) expect(configMap.data, `${variable.name}`).toHaveProperty([configKey.key]);
          const secretKey = variable.valueFrom?.secretKeyRef;
          if (secretKey) {
            expect(secretKey.name).toBe("overworld-keys");
            expect(KEYS_SECRET).toContain(secretKey.key);
          }
        }
        for (const from of container.envFrom ?? []) expect(from.configMapRef.name).toBe("overworld");
      }
      for (const volume of pod.spec.volumes ?? []) {
        for (const item of volume.secret?.items ?? []) {
          if (volume.secret.secretName === "overworld-nats-trust") expect(trustFiles).toContain(item.key);
          else expect(KEYS_SECRET).toContain(item.key);
        }
      }
    }
    for (const service of byKind("Service")) {
      const pods = workloads.filter((workload) =>
        Object.entries(service.spec.selector).every(
          ([key, value]) => workload.spec.template.metadata.labels[key] === value,
        ),
      );
      expect(pods, `pods of Service ${service.metadata.name}`).toHaveLength(1);
      const ports = pods[0].spec.template.spec.containers.flatMap((c: K8s) => c.ports ?? []);
      for (const port of service.spec.ports) {
        const target = ports.find(
          (p: K8s) => p.name === port.targetPort && (p.protocol ?? "TCP") === (port.protocol ?? "TCP"),
        );
        expect(target, `Service ${service.metadata.name} port ${port.name}`).toBeDefined();
      }
    }
  });

  it("probe every service on its ops port, and scale the zone AI", () => {
    for (const deployment of deployments) {
      const [container] = deployment.spec.template.spec.containers;
      const http = container.ports.find((port: K8s) => port.name === "http");
      expect(http?.containerPort, deployment.metadata.name).toBe(Number(configMap.data.HTTP_PORT));
      expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.livenessProbe.httpGet).toEqual({ path: "/livez", port: "http" });
      expect(container.resources.requests.cpu, deployment.metadata.name).toBeDefined();
    }
    const zoneAi = deployments.find((d) => d.metadata.name === "zone-ai");
    expect(zoneAi.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(byKind("PodDisruptionBudget").map((budget) => budget.metadata.name)).toContain("zone-ai");
  });

  describe("each Deployment's command, started here with its environment", () => {
    const tag = `k8s${process.pid}${Date.now().toString(36)}`;
    const secrets = mkdtempSync(join(tmpdir(), "ow-k8s-secrets-"));
    const children: ChildProcess[] = [];
    afterAll(async () => {
      for (const child of children) child.kill("SIGKILL");
      rmSync(secrets, { recursive: true, force: true });
      await dropRedisKeys(`owt:${tag}:`);
      for (const schema of [`ca_${tag}`, `ub_${tag}`, `sig_${tag}`]) await dropSchema(schema);
      await deleteStreams([`OWT_${tag.toUpperCase()}`, journalStream(tag), `KV_${snapshotBucket(tag)}`]);
    });

    it(
      "starts every one, and its probes answer 200",
      async () => {
        writeFileSync(join(secrets, "main.seed"), randomBytes(32).toString("hex"));
        writeFileSync(join(secrets, "admin.token"), randomBytes(24).toString("hex"));
        writeFileSync(join(secrets, "cluster.seed"), randomBytes(32).toString("hex"));
        const localSecrets: Record<string, string> = {
          "netcode-private-key": randomBytes(32).toString("hex"),
        };
        /** This test's namespace in the shared NATS, Redis and Postgres (the manifests leave the defaults). */
        const isolation: Record<string, Record<string, string>> = {
          "message-director": { DB_SCHEMA: `ca_${tag}`, REDIS_PREFIX: `owt:${tag}:md:` },
          "state-server": { DB_SCHEMA: `ca_${tag}`, REDIS_PREFIX: `owt:${tag}:` },
          uberdog: { DB_SCHEMA: `ub_${tag}`, REDIS_PREFIX: `owt:${tag}:` },
          signaling: { DB_SCHEMA: `sig_${tag}` },
        };
        const ports = new Map<string, number>();
        const portOf = async (name: string) => {
          if (!ports.has(name)) ports.set(name, await freeTcpPort());
          return ports.get(name)!;
        };
        // Kubernetes starts them all at once, in no order: here the dependents go first, so each one
        // must wait for what it needs instead of exiting
        const order = [
          "link",
          "zone-ai",
          "client-agent",
          "uberdog",
          "state-server",
          "message-director",
          "signaling",
        ];
        expect([...deployments.map((d) => d.metadata.name)].sort()).toEqual([...order].sort());

        const started: { name: string; port: number; probes: K8s[]; errors: () => string }[] = [];
        for (const name of order) {
          const deployment = deployments.find((d) => d.metadata.name === name);
          const [container] = deployment.spec.template.spec.containers;
          const env: Record<string, string> = { ...configMap.data };
          for (const variable of container.env ?? []) {
            const from = variable.valueFrom;
            env[variable.name] =
              variable.value ??
              (from.configMapKeyRef
                ? configMap.data[from.configMapKeyRef.key]
                : localSecrets[from.secretKeyRef.key]);
          }
          const http = await portOf(`${name}:http`);
          const local: Record<string, string> = {
            NATS_URL,
            REDIS_URL,
            DATABASE_URL,
            SUBJECT_ROOT: tag,
            EVENT_STREAM: `OWT_${tag.toUpperCase()}`,
            HTTP_HOST: "127.0.0.1",
            HTTP_PORT: String(http),
            LOG_LEVEL: "warn",
            ...isolation[name],
          };
          for (const [key, value] of Object.entries(env)) {
            if (value.startsWith("/trust/")) local[key] = join(NATS_TRUST, value.slice("/trust/".length));
            if (value.startsWith("/secrets/")) local[key] = join(secrets, value.slice("/secrets/".length));
          }
          if (name === "client-agent") {
            const udp = await freeUdpPort();
            Object.assign(local, {
              UDP_PORT: String(udp),
              WS_PORT: String(udp),
              PUBLIC_ADDRESS: `127.0.0.1:${udp}`,
            });
          }
          if (name === "uberdog") local.CLIENT_AGENT_ADDRESSES = "127.0.0.1:40000";
          if (name === "signaling") {
            Object.assign(local, {
              UDP_PORT: String(await freeUdpPort()),
              RELAY_PORT: String(await freeUdpPort()),
            });
          }
          if (name === "link") {
            Object.assign(local, {
              LINK_UDP_PORT: String(await freeUdpPort()),
              SIGNALING_URL: `http://127.0.0.1:${await portOf("signaling:http")}`,
              CLUSTER_NAME: tag,
            });
          }
          // the image's entry point (Dockerfile: node --import tsx) with the container's arguments, in /app
          const child = spawn(process.execPath, ["--import", "tsx", ...container.args], {
            cwd: ROOT,
            env: { PATH: process.env.PATH, ...env, ...local },
            stdio: ["ignore", "ignore", "pipe"],
          });
          let errors = "";
          child.stderr!.on("data", (chunk: Buffer) => {
            errors = (errors + chunk.toString()).slice(-4000);
          });
          child.once("exit", (code) => {
            if (code !== null && code !== 0) errors += `\n(${name} exited with ${code})`;
          });
          children.push(child);
          started.push({
            name,
            port: http,
            probes: [container.startupProbe, container.readinessProbe, container.livenessProbe],
            errors: () => errors,
          });
        }

        for (const service of started) {
          for (const probe of service.probes) {
            // on a time-out, what the service said on stderr is the reason
            const reason = () => service.errors().trim() || "nothing on stderr";
            const url = `http://127.0.0.1:${service.port}${probe.httpGet.path}`;
            await waitFor(
              async () => (await fetch(url).catch(() => undefined))?.status === 200,
              `${service.name}: ${probe.httpGet.path} 200`,
              START_MS,
              250,
            ).catch((error: Error) => {
              throw new Error(`${error.message}; ${service.name} said: ${reason()}`);
            });
          }
        }
      },
      4 * START_MS,
    );
  });
});
