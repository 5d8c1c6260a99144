/**
 * The zone-AI ops server's script routes, so that players (and their tools) can read the scripts their
 * world runs: `GET /scripts` lists each one's name, language, sha256 and size; `GET /scripts/:name` is
 * its source as published (the `x-script-sha256` header carries its hash), 404 naming the known ones.
 */
import type { OpsApp } from "@overworld/service";
import { publishedScripts } from "./published.ts";

export { scriptMetrics } from "./published.ts";

export function scriptRoutes(app: OpsApp): void {
  app.get("/scripts", async () => ({
    scripts: publishedScripts().map(({ name, language, hash, source }) => ({
      name,
      language,
      sha256: hash,
      bytes: Buffer.byteLength(source),
    })),
  }));
  app.get<{ Params: { name: string } }>("/scripts/:name", async (request, reply) => {
    const scripts = publishedScripts();
    const found = scripts.find((script) => script.name === request.params.name);
    if (found === undefined) {
      return reply.code(404).send({
        error: `no script ${JSON.stringify(request.params.name)} runs here; these do: ${scripts.map((s) => s.name).join(", ") || "none"}`,
      });
    }
    return reply
      .header("content-type", `text/${found.language === "ts" ? "typescript" : "javascript"}; charset=utf-8`)
      .header("x-script-sha256", found.hash)
      .send(found.source);
  });
}
