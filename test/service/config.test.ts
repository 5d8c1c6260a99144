import { ConfigError, commonConfig, loadConfig } from "@overworld/service";
import { describe, expect, it } from "vitest";

describe("configuration from the environment", () => {
  it("takes defaults for what is not set", () => {
    const config = loadConfig(commonConfig, {});
    expect(config.NATS_URL).toBe("nats://127.0.0.1:4222");
    expect(config.HTTP_PORT).toBe(0);
  });

  it("names every bad variable and what it got", () => {
    const load = () => loadConfig(commonConfig, { HTTP_PORT: "80a", LOG_LEVEL: "loud" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/HTTP_PORT: .*\(got "80a"\)/);
    expect(load).toThrow(/LOG_LEVEL: .*\(got "loud"\)/);
  });
});
