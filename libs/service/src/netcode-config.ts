import { netcode } from "@overworld/protocol";
import { z } from "zod";
import { DEFAULT_NETCODE_PROTOCOL_ID } from "./login-user-data.ts";

const PRIVATE_KEY_HEX_DIGITS = netcode.KEY_BYTES * 2;

/**
 * The variables uberdog and the client agents share to seal and open connect tokens. The private
 * key is only declared here; read it with `readNetcodePrivateKey`, so its value never appears in an
 * error message.
 */
export const netcodeConfig = {
  NETCODE_PROTOCOL_ID: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return DEFAULT_NETCODE_PROTOCOL_ID;
      const problem = protocolIdProblem(text);
      if (problem === undefined) return BigInt(text);
      context.addIssue({ code: "custom", message: problem, input: text });
      return z.NEVER;
    }),
  NETCODE_PRIVATE_KEY: z.string().optional(),
};

/** An optional `ip:port` variable (IPv4, or IPv6 in brackets), parsed; the error says what it expected. */
export const optionalAddress = z
  .string()
  .optional()
  .transform((text, context) => {
    if (text === undefined) return undefined;
    try {
      return netcode.parseAddress(text);
    } catch (error) {
      context.addIssue({
        code: "custom",
        message: `expected ip:port: ${(error as Error).message}`,
        input: text,
      });
      return z.NEVER;
    }
  });

function protocolIdProblem(text: string): string | undefined {
  if (!/^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(text)) {
    return "expected 0x and 1-16 hex digits, or a decimal number";
  }
  return BigInt(text) > netcode.UINT64_MAX ? "must fit in 64 bits" : undefined;
}

/** NETCODE_PRIVATE_KEY's bytes, or what is wrong with it (never its value). */
export function readNetcodePrivateKey(text: string | undefined): Uint8Array | string {
  const help = `${netcode.KEY_BYTES} bytes as ${PRIVATE_KEY_HEX_DIGITS} hex digits (make one with: openssl rand -hex 32)`;
  if (text === undefined || text === "") return `required: ${help}`;
  const trimmed = text.trim();
  if (!/^[0-9a-fA-F]*$/.test(trimmed)) return `expected ${help}; it holds something other than hex digits`;
  if (trimmed.length !== PRIVATE_KEY_HEX_DIGITS) return `expected ${help}; it has ${trimmed.length} digits`;
  return Uint8Array.from(Buffer.from(trimmed, "hex"));
}
