/** The key a client address is limited under, the same for uberdog's logins and the client agent's sessions. */
import { netcode } from "@overworld/protocol";
import { addressKey } from "@overworld/service";
import { describe, expect, it } from "vitest";

describe("addressKey", () => {
  it("keys IPv4 addresses one by one and IPv6 addresses by their /64, whatever the port", () => {
    expect(addressKey("10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("2001:db8:1:2::1")).toBe("20010db800010002/64");
    expect(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("20010db800010002/64");
    expect(addressKey("2001:db8:1:3::1")).toBe("20010db800010003/64");
    expect(addressKey("not an address")).toBe("not an address");
  });

  it("gives a socket's address with its port the key of its IP text", () => {
    for (const [withPort, ip] of [
      ["10.1.2.3:40000", "10.1.2.3"],
      ["10.1.2.3:1", "10.1.2.3"],
      ["[::ffff:10.1.2.3]:5", "::ffff:10.1.2.3"],
      ["[2001:db8:1:2::1]:40000", "2001:db8:1:2::1"],
      ["[2001:db8:1:2:ab::9]:7", "2001:db8:1:2::1"],
    ] as const) {
      expect(addressKey(netcode.parseAddress(withPort)), withPort).toBe(addressKey(ip));
    }
  });
});
