/** The two AEADs netcode uses (libsodium's), against published test vectors. */
import { describe, expect, it } from "vitest";
import {
  openChaCha20Poly1305,
  openXChaCha20Poly1305,
  sealChaCha20Poly1305,
  sealXChaCha20Poly1305,
  sequenceNonce,
} from "../../libs/protocol/src/transport/netcode/crypto.ts";

const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const counting = (first: number, length: number) => Uint8Array.from({ length }, (_, i) => first + i);

/** The plaintext shared by RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha §A.3.1. */
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const AAD = hex("50515253c0c1c2c3c4c5c6c7");

describe("XChaCha20-Poly1305", () => {
  const key = counting(0x80, 32);
  const nonce = counting(0x40, 24);
  const ciphertext =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
    "21f9664c97637da9768812f615c68b13b52e";
  const tag = "c0875924c1c7987947deafd8780acf49";

  it("seals the draft-irtf-cfrg-xchacha §A.3.1 vector, tag appended", () => {
    expect(toHex(sealXChaCha20Poly1305(key, nonce, SUNSCREEN, AAD))).toBe(ciphertext + tag);
  });

  it("opens it, and refuses a flipped bit, another nonce or other additional data", () => {
    const sealed = hex(ciphertext + tag);
    expect(openXChaCha20Poly1305(key, nonce, sealed, AAD)).toEqual(SUNSCREEN);
    const flipped = sealed.slice();
    flipped[5]! ^= 0x01;
    expect(openXChaCha20Poly1305(key, nonce, flipped, AAD)).toBeNull();
    const otherNonce = nonce.slice();
    otherNonce[23]! ^= 0x01;
    expect(openXChaCha20Poly1305(key, otherNonce, sealed, AAD)).toBeNull();
    expect(openXChaCha20Poly1305(key, nonce, sealed, AAD.subarray(1))).toBeNull();
  });
});

describe("ChaCha20-Poly1305 (IETF)", () => {
  it("seals the RFC 8439 §2.8.2 vector, tag appended", () => {
    const sealed = sealChaCha20Poly1305(counting(0x80, 32), hex("070000004041424344454647"), SUNSCREEN, AAD);
    expect(toHex(sealed.subarray(SUNSCREEN.length))).toBe("1ae10b594f09e26a7e902ecbd0600691");
    expect(toHex(sealed.subarray(0, 16))).toBe("d31a8d34648e60db7b86afbc53ef7ec2");
  });

  it("opens an empty message and refuses anything shorter than a tag", () => {
    const key = counting(1, 32);
    const nonce = sequenceNonce(7n);
    const sealed = sealChaCha20Poly1305(key, nonce, new Uint8Array(0), AAD);
    expect(sealed.length).toBe(16);
    expect(openChaCha20Poly1305(key, nonce, sealed, AAD)).toEqual(new Uint8Array(0));
    expect(openChaCha20Poly1305(key, nonce, sealed.subarray(1), AAD)).toBeNull();
  });
});

describe("sequenceNonce", () => {
  it("is four zero bytes, then the sequence as a little-endian uint64", () => {
    expect(toHex(sequenceNonce(0x0102030405060708n))).toBe("00000000" + "0807060504030201");
    expect(toHex(sequenceNonce(1000n))).toBe("00000000" + "e803000000000000");
  });
});
