/**
 * Test helper: a canonical, line-per-item description of a DcFile (ids, names, keywords, types with
 * their aliases, defaults, inheritance), written independently of the printer so that comparing two
 * summaries checks that two models are the same.
 */
import type { DcFile, DcType, DcValue, Field, Length, Parameter } from "@overworld/protocol";

export function modelSummary(file: DcFile): string[] {
  const lines: string[] = [];
  for (const entry of file.imports) {
    const symbols = entry.symbols.map((s) => [s.name, ...s.suffixes].join("/")).join(",");
    lines.push(`import ${[entry.module, ...entry.moduleSuffixes].join("/")} : ${symbols}`);
  }
  for (const word of file.keywords) lines.push(`keyword ${word}`);
  for (const typedef of file.typedefs.values())
    lines.push(`typedef ${typedef.name} = ${typeSummary(typedef.type)}`);
  for (const type of file.types) {
    if (type.kind === "class") {
      const parents = type.parents.map((p) => p.name).join(",");
      const all = type.fields.map((f) => f.id).join(",");
      const ctor = type.constructorField ? ` ctor=${type.constructorField.id}` : "";
      lines.push(`class #${type.id} ${type.name} parents=[${parents}] fields=[${all}]${ctor}`);
    } else {
      lines.push(`struct #${type.id} ${type.name} fields=[${type.fields.map((f) => f.id).join(",")}]`);
    }
  }
  for (const field of file.fields) lines.push(fieldSummary(field));
  return lines;
}

function fieldSummary(field: Field): string {
  const head = `field #${field.id} ${field.owner.name}.${field.name} ${field.kind} [${field.keywords.join(" ")}] flags=${field.flags}`;
  if (field.kind === "molecular") return `${head} atoms=${field.atoms.map((a) => a.id).join(",")}`;
  return `${head} (${field.elements.map(paramSummary).join("; ")})`;
}

function paramSummary(param: Parameter): string {
  const name = param.name ?? "_";
  const value = param.default === undefined ? "" : ` = ${valueSummary(param.default)}`;
  return `${name}: ${typeSummary(param.type)}${value}`;
}

export function typeSummary(type: DcType): string {
  const alias = type.alias ? `@${type.alias} ` : "";
  switch (type.kind) {
    case "struct":
      return `${alias}struct ${type.name} -> ${type.target().kind} #${type.target().id}`;
    case "char":
      return `${alias}char`;
    case "string":
    case "blob":
    case "blob32":
      return `${alias}${type.kind}${lengthSummary(type.length)}`;
    case "array":
      return `${alias}array${lengthSummary(type.length)} of (${typeSummary(type.element)})`;
    default: {
      const ranges =
        type.ranges && type.ranges.length > 0
          ? ` ranges=${type.ranges.map((r) => `${r.min}..${r.max}`).join(",")}`
          : "";
      const modulus = type.modulus === undefined ? "" : ` mod=${type.modulus}`;
      return `${alias}${type.kind} div=${type.divisor}${modulus}${ranges}`;
    }
  }
}

function lengthSummary(length: Length): string {
  if ("fixed" in length) return `[=${length.fixed}]`;
  return length.range ? `[${length.range.min}..${length.range.max}]` : "[]";
}

export function valueSummary(value: DcValue): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number") return Object.is(value, -0) ? "0" : String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Uint8Array) return `bytes<${Buffer.from(value).toString("hex")}>`;
  if (Array.isArray(value)) return `[${value.map(valueSummary).join(",")}]`;
  const record = value as { readonly [key: string]: DcValue };
  const keys = Object.keys(record).sort();
  return `{${keys.map((key) => `${key}:${valueSummary(record[key]!)}`).join(",")}}`;
}
