/** Main's and the link end's configuration: a bad environment is refused naming each bad variable. */
import { ConfigError } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { loadLinkConfig } from "../../services/link/src/main.ts";
import { loadSignalingConfig } from "../../services/signaling/src/main.ts";

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("main's configuration", () => {
  it("names the missing key and token files, and a half-given parent", () => {
    const message = refusal(() =>
      loadSignalingConfig({ PARENT_URL: "http://127.0.0.1:9000", UDP_PORT: "99999" }),
    );
    expect(message).toContain("MAIN_KEY_FILE");
    expect(message).toContain("ADMIN_TOKEN_FILE");
    expect(message).toContain("UDP_PORT");
    expect(message).toContain("PARENT_KEY");
  });
});

describe("the link end's configuration", () => {
  it("names a bad cluster name, a missing key file and what shared zones need", () => {
    const message = refusal(() =>
      loadLinkConfig({
        CLUSTER_NAME: "Not A Name",
        SIGNALING_URL: "http://127.0.0.1:9000",
        SHARED_ZONES: "1000:37,oops",
      }),
    );
    expect(message).toContain("CLUSTER_NAME");
    expect(message).toContain("CLUSTER_KEY_FILE");
    expect(message).toContain('SHARED_ZONES: "oops" is not parent:zone');
  });
});
