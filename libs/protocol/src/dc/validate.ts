/**
 * A game's own checks of field values (`ValueCheck`s: the TypeScript API's `.validate(...)` and
 * `.pattern(...)`), run where a value enters the cluster: the client agent runs them on every field a
 * client sends (after unpacking, which checks what DC says: ranges, lengths), and refuses a value that
 * fails with eject 127, as it does one out of range. The typed client runs them too before it sends.
 */
import type { Field } from "./field.ts";
import type { DcType, ValueCheck } from "./types.ts";
import type { DcValue, FieldValue } from "./value.ts";

/** Whether a field's value holds anything with checks (cached: the agent asks for every update). */
const checked = new WeakMap<Field, boolean>();

/**
 * Runs the checks of a field's value (of its arguments, their array elements and struct members);
 * undefined when all pass, or the reason of the first that fails, naming where:
 * `DistributedAvatar.setName.name: "x y" does not match /^\w+$/`.
 */
export function validateField(field: Field, value: FieldValue): string | undefined {
  let has = checked.get(field);
  if (has === undefined) {
    has = field.elements.some((param) => hasChecks(param.type, new Set()));
    checked.set(field, has);
  }
  if (!has) return undefined;
  const where = `${field.owner.name}.${field.name}`;
  if (field.kind === "parameter") return validateValue(field.param.type, value, where);
  const args = value as readonly DcValue[];
  for (const [i, param] of field.elements.entries()) {
    const at = param.name === undefined ? `${where}[${i}]` : `${where}.${param.name}`;
    const reason = validateValue(param.type, args[i] as DcValue, at);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/** Runs the checks of one value of a type, and of what it holds; the first failure's reason. */
export function validateValue(type: DcType, value: DcValue, where: string): string | undefined {
  for (const check of type.checks ?? []) {
    const reason = runCheck(check, value);
    if (reason !== undefined) return `${where}: ${reason}`;
  }
  if (type.kind === "array" && type.element.kind !== "char") {
    for (const [i, element] of (value as readonly DcValue[]).entries()) {
      const reason = validateValue(type.element, element, `${where}[${i}]`);
      if (reason !== undefined) return reason;
    }
  } else if (type.kind === "struct") {
    const record = value as { readonly [member: string]: DcValue };
    for (const member of type.target().fields) {
      if (member.kind !== "parameter") continue;
      const reason = validateValue(
        member.param.type,
        record[member.name] as DcValue,
        `${where}.${member.name}`,
      );
      if (reason !== undefined) return reason;
    }
  }
  return undefined;
}

function runCheck(check: ValueCheck, value: DcValue): string | undefined {
  let result: boolean | string;
  try {
    result = check.test(value as never);
  } catch (error) {
    return `${describe(value)} fails "${check.description}" (it threw: ${(error as Error).message})`;
  }
  if (result === true) return undefined;
  return typeof result === "string" ? result : `${describe(value)} fails "${check.description}"`;
}

function describe(value: DcValue): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return String(value);
  return "the value";
}

function hasChecks(type: DcType, seen: Set<DcType>): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  if ((type.checks?.length ?? 0) > 0) return true;
  if (type.kind === "array") return hasChecks(type.element, seen);
  if (type.kind === "struct") {
    return type
      .target()
      .fields.some((member) => member.kind === "parameter" && hasChecks(member.param.type, seen));
  }
  return false;
}
