/**
 * The admin API under /v1/admin, one encapsulated fastify plugin: authentication, rights and the audit
 * row of every call (access.ts) wrap the cluster's routes (world.ts) and the players' (players.ts).
 *
 * Bodies are validated strictly (no coercion: 123 is not a reason); query strings and path parameters
 * are text by nature, so numbers and booleans in them are coerced before they are checked.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { access, guard } from "./access.ts";
import type { AdminDeps } from "./context.ts";
import { live } from "./live.ts";
import { players } from "./players.ts";
import { world } from "./world.ts";

export type { AdminDeps } from "./context.ts";

function ajv(coerceTypes: boolean): Ajv {
  const instance = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats.default(instance);
  return instance;
}

export const adminApi: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  const strict = ajv(false);
  const coercing = ajv(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? strict : coercing).compile(schema as object),
  );
  guard(app, deps);
  await app.register(access, { deps });
  await app.register(world, { deps });
  await app.register(players, { deps });
  if (deps.live) await app.register(live, { deps, live: deps.live });
};
