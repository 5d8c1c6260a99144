/** The dashboard feed's parts on their own: reading /metrics text, METRICS_URLS, positions from field values. */
import { describe, expect, it } from "vitest";
import { parseMetricsSources, sumMetrics } from "../../services/uberdog/src/cluster-stats.ts";
import { loadUberdogConfig } from "../../services/uberdog/src/config.ts";
import { pointOf } from "../../services/uberdog/src/live-map.ts";

describe("the dashboard feed's parts", () => {
  it("sums every series of each metric of a Prometheus text exposition", () => {
    const text = [
      "# HELP ow_ss_deliveries_total Messages published",
      "# TYPE ow_ss_deliveries_total counter",
      "ow_ss_deliveries_total 120",
      'ow_ss_requests_total{op="get"} 3',
      'ow_ss_requests_total{op="set",x="a b"} 4.5',
      "ow_broken_line",
      "ow_not_a_number NaN",
    ].join("\n");
    const sums = sumMetrics(text);
    expect(sums.get("ow_ss_deliveries_total")).toBe(120);
    expect(sums.get("ow_ss_requests_total")).toBe(7.5);
    expect(sums.has("ow_broken_line")).toBe(false);
    expect(sums.has("ow_not_a_number")).toBe(false);
  });

  it("reads METRICS_URLS as name=url or bare URLs, and refuses what is no http URL", () => {
    expect(
      parseMetricsSources("state-server-1=http://127.0.0.1:7101/metrics, http://10.0.0.2:9000/metrics"),
    ).toEqual([
      { name: "state-server-1", url: "http://127.0.0.1:7101/metrics" },
      { name: "10.0.0.2:9000", url: "http://10.0.0.2:9000/metrics" },
    ]);
    expect(parseMetricsSources("")).toEqual([]);
    expect(() => parseMetricsSources("ftp://example.org/metrics")).toThrow(/http/);
    expect(() => parseMetricsSources("not a url")).toThrow();
    expect(() =>
      loadUberdogConfig({
        CLIENT_AGENT_ADDRESSES: "127.0.0.1:40000",
        NETCODE_PRIVATE_KEY: "00".repeat(32),
        METRICS_URLS: "ss=ftp://example.org",
      }),
    ).toThrow(/METRICS_URLS/);
  });

  it("places an object by the first two numbers of a position field's value", () => {
    expect(pointOf([1.5, 2.5])).toEqual([1.5, 2.5]);
    expect(pointOf([3, 4, 90, 123456])).toEqual([3, 4]); // setSmXYH(x, y, h, t)
    expect(pointOf([[5, 6], [0]])).toEqual([5, 6]); // a molecular field: setXYH = setXY, setH
    expect(pointOf({ x: 7, y: 8 })).toEqual([7, 8]);
    expect(pointOf([1])).toBeUndefined();
    expect(pointOf(["a", "b"])).toBeUndefined();
  });
});
