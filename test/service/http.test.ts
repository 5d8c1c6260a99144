import { startOpsServer } from "@overworld/service";
import { afterEach, describe, expect, it } from "vitest";

describe("the operations endpoint", () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it("answers /healthz 200 when every check passes and 503 naming the one that fails", async () => {
    let redisUp = true;
    const server = await startOpsServer({
      service: "test",
      port: 0,
      checks: { nats: () => true, redis: () => redisUp },
    });
    servers.push(server);
    const healthy = await server.app.inject({ method: "GET", url: "/healthz" });
    expect(healthy.statusCode).toBe(200);
    expect(healthy.json()).toEqual({ service: "test", ok: true, checks: { nats: true, redis: true } });
    redisUp = false;
    const sick = await server.app.inject({ method: "GET", url: "/healthz" });
    expect(sick.statusCode).toBe(503);
    expect(sick.json().checks).toEqual({ nats: true, redis: false });
  });

  it("serves Prometheus metrics labelled with the service", async () => {
    const server = await startOpsServer({ service: "test-metrics", port: 0, checks: {} });
    servers.push(server);
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/text\/plain/);
    expect(await response.text()).toMatch(/process_cpu_user_seconds_total\{service="test-metrics"\}/);
  });
});
