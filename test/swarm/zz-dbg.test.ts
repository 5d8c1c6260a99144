import { it } from "vitest";
import { netSwarm } from "./net-support.ts";
it("dbg", async () => {
  const swarm = await netSwarm(3 * 1024 * 1024, 64 * 1024);
  const full = await swarm.join("full", { holds: "all", ledbat: false });
  await new Promise((r) => setTimeout(r, 200));
  const others = await Promise.all(["l1", "l2", "l3"].map((id) => swarm.join(id, { deadAfterMs: 1000 })));
  await new Promise<void>((resolve) => { const c = setInterval(() => { if (others.some((n) => (n.download!.sources().get("full") ?? 0) > 0)) { clearInterval(c); resolve(); } }, 5); });
  await full.close(); swarm.players.delete("full"); swarm.cluster.leave("full");
  const t0 = performance.now();
  const timer = setInterval(() => {
    console.log(Math.round(performance.now()-t0), others.map(n => { const p = n.download!.progress(); return `${p.chunksDone}/${p.peers} [${n.download!.peers().join(",")}] out=${n.download!.pipeline.total}`; }).join(" | "), "seed", swarm.cluster.seed.sent.pieces);
  }, 1000);
  await Promise.race([Promise.all(others.map((n) => n.done)), new Promise(r => setTimeout(r, 12000))]);
  clearInterval(timer);
  await swarm.close();
}, 60000);
