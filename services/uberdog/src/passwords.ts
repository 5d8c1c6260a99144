/**
 * Password hashing with scrypt, a memory-hard function (Node's `crypto.scrypt`, run on libuv's thread
 * pool, so at most that many hashes use memory at once).
 *
 * Parameters: N = 2^logN (CPU and memory cost), r (block size), p (parallelism). The defaults, N = 2^15,
 * r = 8, p = 1, take 128 * N * r = 32 MiB and some 50-100 ms per hash on a current core. OWASP's password
 * storage advice asks for at least N = 2^17 with r = 8, p = 1 (128 MiB): raise SCRYPT_LOG_N to 17 where
 * memory allows. Every stored hash carries its own parameters and salt, so raising them needs no
 * migration: old hashes still verify, and are rehashed with the new parameters at their next login.
 *
 * Stored form (the PHC string format): `$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, salt (16 random bytes) and
 * hash (32 bytes) in unpadded base64. Passwords are NFKC-normalised before hashing, so the same password
 * typed on different keyboards gives the same bytes. Hashes are compared in constant time.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

export interface ScryptParameters {
  /** log2 of N, the cost parameter. */
  readonly logN: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParameters = { logN: 15, r: 8, p: 1 };

const ALGORITHM = "scrypt";
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Bounds for parameters, both configured and read back from the database (a corrupt row must not ask for gigabytes). */
const LOG_N_RANGE = { min: 10, max: 20 } as const;
const R_RANGE = { min: 1, max: 32 } as const;
const P_RANGE = { min: 1, max: 16 } as const;
const MAX_MEMORY_BYTES = 1024 * 1024 * 1024;
/** scrypt needs 128 * N * r bytes and a little more; Node refuses to exceed `maxmem`. */
const MEMORY_SLACK_BYTES = 1024 * 1024;

/** What is wrong with a set of parameters, or undefined when they are usable. */
export function scryptParameterProblem(parameters: ScryptParameters): string | undefined {
  const { logN, r, p } = parameters;
  if (!inRange(logN, LOG_N_RANGE))
    return `log2 N must be ${LOG_N_RANGE.min} to ${LOG_N_RANGE.max}, got ${logN}`;
  if (!inRange(r, R_RANGE)) return `r must be ${R_RANGE.min} to ${R_RANGE.max}, got ${r}`;
  if (!inRange(p, P_RANGE)) return `p must be ${P_RANGE.min} to ${P_RANGE.max}, got ${p}`;
  if (memoryOf(parameters) > MAX_MEMORY_BYTES) {
    return `128 * 2^${logN} * ${r} bytes is over the 1 GiB a hash may take`;
  }
  return undefined;
}

/** A stored hash that cannot be read: a corrupt row or an algorithm this build does not know. */
export class UnreadableHash extends Error {
  override readonly name = "UnreadableHash";
}

interface StoredHash {
  readonly parameters: ScryptParameters;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export class PasswordHasher {
  /** A hash of a random password, verified against when the account does not exist (same time spent). */
  private decoy: Promise<string> | undefined;

  constructor(readonly parameters: ScryptParameters = DEFAULT_SCRYPT) {
    const problem = scryptParameterProblem(parameters);
    if (problem) throw new RangeError(`scrypt parameters: ${problem}`);
  }

  /** Hashes a password with fresh salt and the current parameters, into its stored form. */
  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const hash = await derive(password, salt, this.parameters);
    return format({ parameters: this.parameters, salt, hash });
  }

  /** True when the password matches the stored hash. Throws UnreadableHash when the stored form is bad. */
  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parse(stored);
    const candidate = await derive(password, parsed.salt, parsed.parameters, parsed.hash.length);
    return timingSafeEqual(candidate, parsed.hash);
  }

  /** Spends the time of one verification, for logins naming no account (no user enumeration by timing). */
  async verifyNothing(password: string): Promise<false> {
    this.decoy ??= this.hash(randomBytes(SALT_BYTES).toString("base64"));
    await this.verify(password, await this.decoy);
    return false;
  }

  /** True when a stored hash was made with other parameters than the current ones (rehash at login). */
  needsRehash(stored: string): boolean {
    const { parameters } = parse(stored);
    return (
      parameters.logN !== this.parameters.logN ||
      parameters.r !== this.parameters.r ||
      parameters.p !== this.parameters.p
    );
  }
}

function derive(
  password: string,
  salt: Buffer,
  parameters: ScryptParameters,
  length = HASH_BYTES,
): Promise<Buffer> {
  const input = Buffer.from(password.normalize("NFKC"), "utf8");
  const options = {
    N: 2 ** parameters.logN,
    r: parameters.r,
    p: parameters.p,
    maxmem: memoryOf(parameters) + MEMORY_SLACK_BYTES,
  };
  return new Promise((resolve, reject) => {
    scrypt(input, salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function memoryOf(parameters: ScryptParameters): number {
  return 128 * 2 ** parameters.logN * parameters.r;
}

function format(stored: StoredHash): string {
  const { logN, r, p } = stored.parameters;
  return `$${ALGORITHM}$ln=${logN},r=${r},p=${p}$${base64(stored.salt)}$${base64(stored.hash)}`;
}

const STORED_FORM = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
const MIN_STORED_BYTES = 16;
const MAX_STORED_BYTES = 64;

function parse(stored: string): StoredHash {
  const match = STORED_FORM.exec(stored);
  if (!match)
    throw new UnreadableHash("the stored password hash is not in the $scrypt$ln=..,r=..,p=..$salt$hash form");
  const parameters = { logN: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const problem = scryptParameterProblem(parameters);
  if (problem) throw new UnreadableHash(`the stored password hash has unusable parameters: ${problem}`);
  const salt = Buffer.from(match[4]!, "base64");
  const hash = Buffer.from(match[5]!, "base64");
  for (const [what, bytes] of [
    ["salt", salt],
    ["hash", hash],
  ] as const) {
    if (bytes.length < MIN_STORED_BYTES || bytes.length > MAX_STORED_BYTES) {
      throw new UnreadableHash(
        `the stored password ${what} has ${bytes.length} bytes; expected ${MIN_STORED_BYTES} to ${MAX_STORED_BYTES}`,
      );
    }
  }
  return { parameters, salt, hash };
}

function base64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}

function inRange(value: number, range: { readonly min: number; readonly max: number }): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}
