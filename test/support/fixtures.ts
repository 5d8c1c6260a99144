import { fileURLToPath } from "node:url";

/** The shared `.dc` fixtures: Astron's test file and a full game's (otp.dc then toon.dc). */
const folder =
  process.env.OVERWORLD_DC_FIXTURES ??
  fileURLToPath(new URL("../../../shared/fixtures/dc/", import.meta.url));

export const DC_FIXTURES = {
  astronTest: `${folder}/astron-test.dc`,
  otp: `${folder}/otp.dc`,
  toon: `${folder}/toon.dc`,
} as const;
