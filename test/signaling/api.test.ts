/**
 * Main's HTTP API on the real Postgres: signed registrations (a forged or stale signature, a taken name,
 * a revoked key are refused with a reason), the operator's directory and policy, and link tokens: minted
 * only for pairs the operator allows, only to the dialing side, sealed for the dialer, and openable only
 * by the accepting cluster's link end.
 */

import { LINK_PROTOCOL_ID, MainError, pairKeys, readLinkUserData, signBody } from "@overworld/federation";
import { netcode } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterOf, dropMain, schemaFor, startMain, type TestMain } from "./support.ts";

let main: TestMain;

beforeAll(async () => {
  main = await startMain(schemaFor("api"));
});

afterAll(async () => {
  await dropMain(main);
});

const LINK_TOKENS = "/v1/links/token";

async function post(path: string, body: unknown) {
  const response = await fetch(new URL(path, main.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; reason?: string } };
}

async function refusal(promise: Promise<unknown>): Promise<MainError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(MainError);
  return error as MainError;
}

describe("registration", () => {
  it("registers a cluster under its name and key, and updates it when it registers again", async () => {
    const eu = clusterOf(main, "reg-eu");
    expect(await eu.client.register({ plugins: ["demo-world@1"] })).toMatchObject({ created: true });
    expect(await eu.client.register({ plugins: ["demo-world@2"] })).toMatchObject({ created: false });
    const listed = await main.operator("GET", "/v1/clusters/reg-eu");
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({
      name: "reg-eu",
      key: eu.publicKey,
      plugins: ["demo-world@2"],
      revoked: false,
    });
  });

  it("refuses a registration signed by another key, naming the signature", async () => {
    const owner = clusterOf(main, "reg-forged");
    const forger = clusterOf(main, "reg-forged");
    // the body names the owner's key, the signature is the forger's
    const body = signBody(forger.key, "register", { name: "reg-forged", key: owner.publicKey, plugins: [] });
    const answer = await post("/v1/clusters", body);
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe("bad_signature");
    expect((await main.operator("GET", "/v1/clusters/reg-forged")).status).toBe(404);
  });

  it("refuses a signature made too long ago, and one whose body was changed after signing", async () => {
    const old = clusterOf(main, "reg-old");
    const stale = signBody(
      old.key,
      "register",
      { name: "reg-old", key: old.publicKey, plugins: [] },
      Date.now() - 120_000,
    );
    expect((await post("/v1/clusters", stale)).body.error).toBe("stale_signature");
    const signed = signBody(old.key, "register", { name: "reg-old", key: old.publicKey, plugins: [] });
    const tampered = { ...signed, plugins: ["evil@1"] };
    expect((await post("/v1/clusters", tampered)).body.error).toBe("bad_signature");
  });

  it("refuses a name held by another key, and a key already holding another name", async () => {
    const first = clusterOf(main, "reg-taken");
    await first.client.register({ plugins: [] });
    const second = clusterOf(main, "reg-taken");
    const taken = await refusal(second.client.register({ plugins: [] }));
    expect([taken.status, taken.code]).toEqual([409, "name_taken"]);
    const sameKey = clusterOf(main, "reg-other-name", first.seed);
    const keyTaken = await refusal(sameKey.client.register({ plugins: [] }));
    expect([keyTaken.status, keyTaken.code]).toEqual([409, "key_taken"]);
  });

  it("answers a malformed body with 400 naming the field", async () => {
    const answer = await post("/v1/clusters", {
      name: "Bad Name!",
      key: "x",
      plugins: [],
      at: 1,
      signature: "y",
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe("invalid_request");
  });
});

describe("the operator's routes", () => {
  it("need the operator's token", async () => {
    const response = await fetch(new URL("/v1/clusters", main.url));
    expect(response.status).toBe(401);
    const wrong = await fetch(new URL("/v1/policy", main.url), { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
  });

  it("publish an OpenAPI document with every route", async () => {
    const spec = (await (await fetch(new URL("/openapi.json", main.url))).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        "/v1/clusters",
        "/v1/links/token",
        "/v1/policy/{a}/{b}",
        "/v1/clusters/{name}/revoke",
      ]),
    );
  });
});

describe("link tokens", () => {
  it("are minted only for pairs the operator allows, and only to the dialing side", async () => {
    const a = clusterOf(main, "tok-a");
    const b = clusterOf(main, "tok-b");
    await a.client.register({ plugins: [] });
    await b.client.register({ plugins: [] });
    const notAllowed = await refusal(a.client.linkToken("tok-b"));
    expect([notAllowed.status, notAllowed.code]).toEqual([403, "not_allowed"]);

    expect((await main.operator("PUT", "/v1/policy/tok-b/tok-a")).status).toBe(204);
    expect((await main.operator("GET", "/v1/policy")).body.links).toContainEqual(
      expect.objectContaining({ a: "tok-a", b: "tok-b" }),
    );
    const wrongWay = await refusal(b.client.linkToken("tok-a"));
    expect(wrongWay.code).toBe("not_dialer");

    const answer = await a.client.linkToken("tok-b");
    expect(answer.peerKey).toBe(b.publicKey);
    // the dialer reads its token...
    const read = netcode.readConnectToken(answer.token);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.protocolId).toBe(LINK_PROTOCOL_ID);
    // ...but only the acceptor opens its private part, with the key it shares with main
    const opening = {
      sealedPrivate: read.value.sealedPrivate,
      nonce: read.value.nonce,
      protocolId: read.value.protocolId,
      expireTimestamp: read.value.expireTimestamp,
    };
    const byAcceptor = netcode.openPrivateToken({
      ...opening,
      privateKey: pairKeys(b.key, main.key.publicKey).token,
    });
    expect(byAcceptor.ok).toBe(true);
    if (!byAcceptor.ok) return;
    expect(readLinkUserData(byAcceptor.value.userData)).toMatchObject({ dialer: "tok-a", acceptor: "tok-b" });
    const byDialer = netcode.openPrivateToken({
      ...opening,
      privateKey: pairKeys(a.key, main.key.publicKey).token,
    });
    expect(byDialer).toEqual({ ok: false, reason: "token_decrypt_failed" });

    expect((await main.operator("DELETE", "/v1/policy/tok-a/tok-b")).status).toBe(204);
    expect((await refusal(a.client.linkToken("tok-b"))).code).toBe("not_allowed");
  });

  it("are refused to a request signed by another key", async () => {
    const a = clusterOf(main, "tok-c");
    await a.client.register({ plugins: [] });
    await clusterOf(main, "tok-d").client.register({ plugins: [] });
    await main.operator("PUT", "/v1/policy/tok-c/tok-d");
    const impostor = clusterOf(main, "tok-c"); // same name, another key
    const refused = await refusal(impostor.client.linkToken("tok-d"));
    expect([refused.status, refused.code]).toEqual([401, "bad_signature"]);
  });

  it("are refused to a request sent again: an observer replaying it within its window gets no token", async () => {
    const a = clusterOf(main, "tok-e");
    await a.client.register({ plugins: [] });
    await clusterOf(main, "tok-f").client.register({ plugins: [] });
    await main.operator("PUT", "/v1/policy/tok-e/tok-f");
    const request = signBody(a.key, "link-token", { cluster: "tok-e", peer: "tok-f" });
    const first = await post(LINK_TOKENS, request);
    expect(first.status).toBe(200);
    const replayed = await post(LINK_TOKENS, request);
    expect([replayed.status, replayed.body.error]).toEqual([401, "replayed_signature"]);
    // signed anew, the same request is taken
    expect((await a.client.linkToken("tok-f")).token.length).toBeGreaterThan(0);
  });
});

describe("revoking a key", () => {
  it("stops the cluster asking for tokens and registering again, under its name or another", async () => {
    const bad = clusterOf(main, "rev-bad");
    const good = clusterOf(main, "rev-good");
    await bad.client.register({ plugins: [] });
    await good.client.register({ plugins: [] });
    await main.operator("PUT", "/v1/policy/rev-bad/rev-good");
    await bad.client.linkToken("rev-good");

    const revoked = await main.operator("POST", "/v1/clusters/rev-bad/revoke", { reason: "leaked key" });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ revoked: true, revokedReason: "leaked key" });
    expect((await refusal(bad.client.linkToken("rev-good"))).code).toBe("revoked");
    expect((await refusal(bad.client.register({ plugins: [] }))).code).toBe("revoked");
    const renamed = clusterOf(main, "rev-bad-2", bad.seed);
    expect((await refusal(renamed.client.register({ plugins: [] }))).code).toBe("revoked");
    // and its peer can no longer get a token to it either
    await main.operator("PUT", "/v1/policy/rev-bad/rev-good");
    expect((await refusal(good.client.linkToken("rev-bad"))).code).toBe("not_found");
  });
});
