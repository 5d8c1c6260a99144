import { isEntryPoint, runService } from "@overworld/service";
import { loadUberdogConfig } from "./config.ts";
import { startUberdog } from "./server.ts";

export { type AccountStore, PostgresAccounts } from "./accounts.ts";
export { buildApp, type RateLimits, type UberdogDeps } from "./app.ts";
export { loadUberdogConfig, parseAddressList, type UberdogConfig, uberdogConfigShape } from "./config.ts";
export { type ApiKey, Credentials, type KeyRole } from "./credentials.ts";
export { MAINTENANCE_EJECT_CODE } from "./maintenance.ts";
export { migrate } from "./migrations.ts";
export { grantRole, makeApiKey } from "./operator-tools.ts";
export { DEFAULT_SCRYPT, PasswordHasher, type ScryptParameters, UnreadableHash } from "./passwords.ts";
export { type BackoffRule, LoginBackoff } from "./rate-limit.ts";
export { STORED_ROLES, type StoredRole } from "./roles.ts";
export { createDeps, startUberdog, type UberdogHandle } from "./server.ts";
export { type IssuedToken, TokenIssuer } from "./tokens.ts";

if (isEntryPoint(import.meta.url)) runService("uberdog", () => loadUberdogConfig(), startUberdog);
