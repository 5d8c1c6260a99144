import { DEFAULT_DATABASE_URL } from "@overworld/service";
import { grantRole, makeApiKey, STORED_ROLES, type StoredRole } from "@overworld/uberdog";
import { parseCommand } from "../command-args.ts";

const ADMIN_USAGE = `usage: pnpm overworld admin key --name NAME [--role admin|moderator]
       pnpm overworld admin grant USERNAME player|moderator|admin

Works on uberdog's Postgres schema directly (DATABASE_URL, DB_SCHEMA: default uberdog), for what must
come before anyone can call the admin API:
  key     makes an API key for an operator or a script and prints its token once (Authorization: Bearer
          <token>); --role admin (default) or moderator
  grant   gives a player's account a role; admins and moderators log in to the admin API with their
          game account (POST /v1/admin/login), and to the dashboard (uberdog's /dashboard/)
`;

const OPTIONS = { name: { type: "string" }, role: { type: "string" } } as const;

/** `pnpm overworld admin ...`: the first API key, the first admin. */
export async function runAdminCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS, ADMIN_USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const schema = process.env.DB_SCHEMA ?? "uberdog";
  const [verb, ...rest] = positionals;
  if (verb === "key" && rest.length === 0) {
    const role = values.role ?? "admin";
    if (values.name === undefined || (role !== "admin" && role !== "moderator")) {
      process.stderr.write(`error: key needs --name NAME and --role admin or moderator\n\n${ADMIN_USAGE}`);
      return 2;
    }
    const token = await makeApiKey(databaseUrl, schema, { name: values.name, role });
    process.stdout.write(`${token}\n`);
    return 0;
  }
  if (verb === "grant" && rest.length === 2) {
    const [username, role] = rest as [string, string];
    if (!STORED_ROLES.includes(role as StoredRole)) {
      process.stderr.write(`error: the role is one of ${STORED_ROLES.join(", ")}, not '${role}'\n`);
      return 2;
    }
    if (!(await grantRole(databaseUrl, schema, username, role as StoredRole))) {
      process.stderr.write(`error: no account named '${username}' in schema ${schema}\n`);
      return 1;
    }
    process.stdout.write(`${username} is now a ${role}\n`);
    return 0;
  }
  process.stderr.write(ADMIN_USAGE);
  return 2;
}
