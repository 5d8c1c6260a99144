/**
 * The admin REST API fuzzed from its own OpenAPI document (issue 9 item 6, the REST part): for every
 * admin route and method, fast-check makes path parameters, query strings and bodies, some built from the
 * route's schema (its fields with values of any type, some right), some anything at all, and sends them
 * with an admin key to uberdog on a real cluster. Every answer must be a success or a 4xx with a stable
 * error code and a reason: never a 5xx. A short run here; FUZZ_RUNS raises it.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { call, makeKey, openSchema } from "./admin-support.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);

interface Schema {
  readonly type?: string;
  readonly properties?: Record<string, Schema>;
  readonly enum?: readonly unknown[];
}
interface Parameter {
  readonly name: string;
  readonly in: "path" | "query";
  readonly schema: Schema;
}
interface Operation {
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { content: { "application/json": { schema: Schema } } };
  readonly responses?: Record<string, { content?: Record<string, unknown> }>;
}
type Document = { paths: Record<string, Record<string, Operation>> };

let services: PlayerCluster;
let token: string;
let document: Document;
let closeSchema: () => Promise<void>;

beforeAll(async () => {
  services = await startPlayerCluster("adminfuzz");
  const schema = await openSchema(services);
  closeSchema = () => schema.pool.end();
  token = await makeKey(schema.credentials, "admin", "fuzzer");
  document = (await (await fetch(`${services.baseUrl}/openapi.json`)).json()) as Document;
});

afterAll(async () => {
  await closeSchema?.();
  await services?.stop();
});

/** A value of the schema's type (sometimes a valid one), or of any other. */
function valueFor(schema: Schema): fc.Arbitrary<unknown> {
  const typed: fc.Arbitrary<unknown>[] = [];
  if (schema.enum) typed.push(fc.constantFrom(...schema.enum));
  if (schema.type === "integer" || schema.type === "number") {
    typed.push(fc.integer({ min: -3, max: 2 ** 33 }), fc.double(), fc.constantFrom(1, 2, 7100, 0xffff_ffff));
  }
  if (schema.type === "string")
    typed.push(fc.string({ maxLength: 40 }), fc.string({ minLength: 1000, maxLength: 1100 }));
  if (schema.type === "boolean") typed.push(fc.boolean());
  if (schema.type === "object") typed.push(objectFor(schema));
  return fc.oneof(...typed, fc.jsonValue({ maxDepth: 2 }));
}

/** An object with some of the schema's fields (and now and then one it does not know). */
function objectFor(schema: Schema): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([name, each]) => [name, valueFor(each)]),
  );
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })),
    )
    .map(([known, extra]) => ({ ...known, ...(extra ?? {}) }));
}

/** Text for a path or query parameter: the schema's kind of value, or any text. */
function textFor(schema: Schema): fc.Arbitrary<string> {
  return fc.oneof(
    valueFor(schema).map((value) => (typeof value === "string" ? value : JSON.stringify(value))),
    fc.string({ maxLength: 20 }),
  );
}

describe("the admin API, fuzzed from its OpenAPI document", () => {
  it("answers every generated request with a success or a 4xx naming the problem, never a 5xx", async () => {
    const routes = Object.entries(document.paths).filter(([path]) => path.startsWith("/v1/admin/"));
    expect(routes.length).toBeGreaterThan(15);
    for (const [path, methods] of routes) {
      for (const [method, operation] of Object.entries(methods)) {
        // a stream (the dashboard's live feed) answers until the caller hangs up: the browser test covers it
        if (operation.responses?.["200"]?.content?.["text/event-stream"]) continue;
        const parameters = operation.parameters ?? [];
        const pathParams = parameters.filter((parameter) => parameter.in === "path");
        const queryParams = parameters.filter((parameter) => parameter.in === "query");
        const bodySchema = operation.requestBody?.content["application/json"].schema;
        const request = fc.record({
          path: fc.record(Object.fromEntries(pathParams.map((each) => [each.name, textFor(each.schema)]))),
          query: fc.record(Object.fromEntries(queryParams.map((each) => [each.name, textFor(each.schema)])), {
            requiredKeys: [],
          }),
          body: bodySchema
            ? fc.oneof(objectFor(bodySchema), fc.jsonValue({ maxDepth: 2 }))
            : fc.constant(undefined),
        });
        await fc.assert(
          fc.asyncProperty(request, async ({ path: values, query, body }) => {
            const url = path.replace(/\{(\w+)\}/g, (_, name: string) =>
              encodeURIComponent(String(values[name])),
            );
            const answer = await call(services, method.toUpperCase(), url, {
              token,
              query: query as Record<string, string>,
              ...(body === undefined ? {} : { body }),
            });
            const what = `${method.toUpperCase()} ${url} ${JSON.stringify(query)} ${JSON.stringify(body)}`;
            expect(answer.status, `${what} -> ${JSON.stringify(answer.body)}`).toBeLessThan(500);
            if (answer.status >= 400) {
              expect(answer.body, what).toMatchObject({
                error: expect.any(String),
                reason: expect.any(String),
              });
            }
          }),
          { numRuns: RUNS },
        );
      }
    }
  }, 300_000);
});
