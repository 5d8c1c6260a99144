/**
 * The TypeScript definition API: declares dclasses, structs, typedefs and keywords in code and builds
 * the same `DcFile` model the `.dc` parser builds (same ids, same numbering), while giving every field
 * a static value type, so that game code setting a `uint8` field to a string does not compile.
 *
 * A small world in the demo style:
 *
 * ```ts
 * import { defineSchema, setField, t, type FieldValues } from "@overworld/protocol";
 *
 * export const demo = defineSchema((s) => {
 *   s.keyword("gmonly");
 *   const DoId = s.typedef("DoId", t.uint32);
 *   const Vec2 = s.struct("Vec2", { x: t.float32, y: t.float32 });
 *
 *   const DistributedObject = s.dclass("DistributedObject", {
 *     announce: s.field([t.string.named("message")], ["broadcast"]),
 *   });
 *   const DistributedAvatar = s.dclass("DistributedAvatar", { parents: [DistributedObject] }, {
 *     setName: s.field([t.string({ min: 1, max: 32 }).named("name").default("Avatar")], ["required", "broadcast", "db"]),
 *     setX: s.field([t.int16.divisor(10)], ["broadcast", "ram", "ownsend"]),
 *     setY: s.field([t.int16.divisor(10)], ["broadcast", "ram", "ownsend"]),
 *     setXY: s.molecular(["setX", "setY"]),
 *     setH: s.field([t.int16.modulus(360).divisor(10)], ["broadcast", "ram", "ownsend"]),
 *     hp: s.param(t.uint8.range(0, 100), ["broadcast", "ram"], 100),
 *     setGoal: s.field([Vec2], ["ownsend", "airecv"]),
 *     setFriends: s.field([t.array(DoId)], ["ownrecv", "db"]),
 *     kick: s.field([t.string.named("reason")], ["gmonly", "airecv"]),
 *   });
 *   return { DistributedObject, DistributedAvatar };
 * });
 *
 * demo.file;                                             // the DcFile model
 * type AvatarFields = FieldValues<typeof demo.DistributedAvatar>;
 * // { announce: [string]; setName: [string]; setX: [number]; setXY: [number, number]; hp: number; ... }
 * setField(demo.DistributedAvatar, "hp", 42);            // { field, value }
 * setField(demo.DistributedAvatar, "hp", "full");        // type error
 * ```
 *
 * Value types follow value.ts: integers and floats are `number` (fixed-point too), `int64`/`uint64`
 * without a divisor are `bigint`, `char`/`string`/`char[]` are `string`, blobs are `Uint8Array`,
 * arrays are `readonly T[]`, structs are objects. An atomic field's value is the tuple of its
 * arguments, a parameter field's is its single value, a molecular field's is its atoms' tuples joined.
 */
import { checkValue } from "../pack/api.ts";
import { DcPackError } from "../pack/errors.ts";
import { BUILTIN_TYPE_NAMES } from "./builtins.ts";
import type { DClass, DStruct } from "./dclass.ts";
import { atomicField, type Field, molecularField, parameterField } from "./field.ts";
import { DcFile, DcModelError } from "./file.ts";
import type { HistoricalKeyword } from "./keywords.ts";
import type { Parameter } from "./parameter.ts";
import type { DcType, FloatKind, FloatType, IntKind, IntType, Length, NumericRange } from "./types.ts";
import type { DcValue } from "./value.ts";

// ---- types ---------------------------------------------------------------------------------------

type TypeKind = DcType["kind"];
type BytesKind = "string" | "blob" | "blob32";

/** The most elements or bytes a uint16 length prefix can describe. */
const MAX_PREFIXED_LENGTH = 0xffff;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A length rule: a number is an exact length (as `string(32)` and `uint8[3]` are in a `.dc` file);
 * `{ min?, max }` is a variable length within bounds (`string(0-32)`, `uint8[0-5]`).
 */
export type LengthOption = number | { readonly min?: number; readonly max: number };

/** What a type spec carries when used as a parameter: an optional name and default. */
export interface ParamMeta {
  readonly name?: string;
  readonly default?: DcValue;
}

/**
 * A DC type together with the TypeScript type `V` of its values. `K` is the kind of the DC type,
 * kept so that an array of `char` can be typed as a string.
 */
export class Spec<V, K extends TypeKind = TypeKind> {
  /** Phantom: the value type. Never set at run time. */
  declare readonly "~value": V;
  /** Phantom: the DC type kind. Never set at run time. */
  declare readonly "~kind": K;

  constructor(
    readonly dcType: DcType,
    readonly meta: ParamMeta = {},
  ) {}

  /** The same type as a named parameter: `setPos(int16 x)`. */
  named(name: string): Spec<V, K> {
    return new Spec(this.dcType, withName(this.meta, name));
  }

  /** The same type with a default value: `setHp(int16 = 15)`. */
  default(value: V): Spec<V, K> {
    return new Spec(this.dcType, withDefault(this.meta, this.dcType, value));
  }

  /**
   * An array of this type: `T[]`, `T[3]` (exact), `T[0-5]` (`{ min: 0, max: 5 }`). Chaining wraps
   * outward: `t.int8.array(2).array(3)` is three arrays of two, written `int8[3][2]` as in C.
   */
  array(length?: LengthOption): Spec<ArrayValue<V, K>, "array"> {
    return arrayOf(this, length);
  }

  /**
   * Adds a game's own check of a value (the pastry seed's validators): `test` returns true when the
   * value passes, false or a reason otherwise. The client agent runs it on every value a client sends
   * (eject 127 when it fails, as for a value out of range); it is not part of the `.dc` text or the hash.
   */
  validate(test: (value: V) => boolean | string, description = "validate"): Spec<V, K> {
    return new Spec(withCheck(this.dcType, { description, test }), this.meta);
  }

  /** Text must match `pattern` (a string, char array or char type): `t.string({ max: 16 }).pattern(/^\w+$/)`. */
  pattern(this: Spec<string, K>, pattern: RegExp): Spec<string, K> {
    return this.validate((text) => matches(pattern, text), `matches ${pattern}`);
  }
}

function withCheck(
  type: DcType,
  check: { description: string; test: (value: never) => boolean | string },
): DcType {
  return { ...type, checks: [...(type.checks ?? []), check] };
}

/** A regular expression's match without its `lastIndex` state (a /g or /y pattern is shared). */
function matches(pattern: RegExp, text: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(text);
}

/** Any type spec, whatever its value type. */
// biome-ignore lint/suspicious/noExplicitAny: the widest spec type must accept every value type
export type AnySpec = Spec<any, any>;
export type ValueOf<S> = S extends { readonly "~value": infer V } ? V : never;
type IsAny<T> = 0 extends 1 & T ? true : false;
/** An array of char is a string; `AnySpec`'s array stays `any` so every spec is an `AnySpec`. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type ArrayValue<V, K> = IsAny<V> extends true ? any : [K] extends ["char"] ? string : readonly V[];
type EmptyObject = Record<never, never>;

/** An integer or float type, which may take ranges, a divisor (fixed point) and a modulus. */
export class NumSpec<K extends IntKind | FloatKind, V extends number | bigint> extends Spec<V, K> {
  declare readonly dcType: IntType | FloatType;

  override named(name: string): NumSpec<K, V> {
    return new NumSpec(this.dcType, withName(this.meta, name));
  }

  override default(value: V): NumSpec<K, V> {
    return new NumSpec(this.dcType, withDefault(this.meta, this.dcType, value));
  }

  override validate(test: (value: V) => boolean | string, description = "validate"): NumSpec<K, V> {
    return new NumSpec(withCheck(this.dcType, { description, test }) as IntType | FloatType, this.meta);
  }

  /**
   * Adds an allowed range of values, in the units the game sees (`uint8(0-100)`); call it several
   * times for several ranges. With one argument, allows that single value.
   */
  range(min: number, max: number = min): NumSpec<K, V> {
    if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      throw new DcModelError(`range ${min}-${max} of ${this.dcType.kind} is empty or not finite`);
    }
    const ranges: NumericRange[] = [...(this.dcType.ranges ?? []), { min, max }];
    return this.retyped({ ...this.dcType, ranges });
  }

  /**
   * Makes the type fixed point: `int16.divisor(10)` holds 12.3 as 123. A 64-bit integer with a
   * divisor other than 1 is seen as a `number`, not a `bigint`.
   */
  divisor<D extends number>(divisor: D): NumSpec<K, number extends D ? number : D extends 1 ? V : number> {
    if (!Number.isInteger(divisor) || divisor < 1) {
      throw new DcModelError(
        `the divisor of ${this.dcType.kind} must be a positive whole number, not ${divisor}`,
      );
    }
    return this.retyped({ ...this.dcType, divisor }) as NumSpec<K, never>;
  }

  /** Wraps values into [0, modulus) before packing, in game units (`int16%360` for a heading). */
  modulus(modulus: number): NumSpec<K, V> {
    if (!(Number.isFinite(modulus) && modulus > 0)) {
      throw new DcModelError(`the modulus of ${this.dcType.kind} must be positive, not ${modulus}`);
    }
    return this.retyped({ ...this.dcType, modulus });
  }

  private retyped(type: IntType | FloatType): NumSpec<K, V> {
    if (this.meta.default !== undefined) {
      throw new DcModelError(`set ranges, divisor and modulus of ${type.kind} before its default value`);
    }
    return new NumSpec(type, this.meta);
  }
}

/** `t.string`, `t.blob`, `t.blob32`: a type of any length, or called with a length rule. */
export type BytesFactory<V, K extends BytesKind> = Spec<V, K> & ((length: LengthOption) => Spec<V, K>);

function bytesFactory<V, K extends BytesKind>(kind: K): BytesFactory<V, K> {
  const make = (length: LengthOption) => new Spec<V, K>({ kind, length: toLength(length, kind) });
  const state = { dcType: { kind, length: {} } satisfies DcType, meta: {} };
  return Object.setPrototypeOf(Object.assign(make, state), Spec.prototype) as BytesFactory<V, K>;
}

function int<K extends IntKind, V extends number | bigint>(kind: K): NumSpec<K, V> {
  return new NumSpec({ kind, divisor: 1 });
}

function float<K extends FloatKind>(kind: K): NumSpec<K, number> {
  return new NumSpec({ kind, divisor: 1 });
}

/** A struct declared with `s.struct`: usable directly as a type, and `t.struct(handle)` too. */
export class StructSpec<V> extends Spec<V, "struct"> {
  constructor(readonly struct: DStruct) {
    super({ kind: "struct", name: struct.name, target: () => struct });
  }
}

/** The value of a dclass used as a parameter type: its parameter fields, by name. */
type ClassAsStructValue<F extends FieldInfoMap> = {
  readonly [N in keyof F as F[N]["kind"] extends "parameter" ? N : never]: F[N]["value"];
};

function arrayOf<E extends AnySpec>(
  element: E,
  length?: LengthOption,
): Spec<ArrayValue<ValueOf<E>, E["~kind"]>, "array"> {
  const type = paramFreeType(element, "an array element");
  return new Spec({
    kind: "array",
    element: type,
    length: length === undefined ? {} : toLength(length, "array"),
  });
}

function structOf<H extends AnyStructSpec | AnyClassHandle>(
  handle: H,
): Spec<
  H extends StructSpec<infer V>
    ? V
    : H extends DClassHandle<infer F>
      ? Simplify<ClassAsStructValue<F>>
      : never,
  "struct"
> {
  if (handle instanceof DClassHandle) {
    const dclass = handle.dclass;
    return new Spec({ kind: "struct", name: dclass.name, target: () => dclass });
  }
  return new Spec(handle.dcType);
}

/** The built-in DC types. */
export const t = {
  int8: int<"int8", number>("int8"),
  int16: int<"int16", number>("int16"),
  int32: int<"int32", number>("int32"),
  int64: int<"int64", bigint>("int64"),
  uint8: int<"uint8", number>("uint8"),
  uint16: int<"uint16", number>("uint16"),
  uint32: int<"uint32", number>("uint32"),
  uint64: int<"uint64", bigint>("uint64"),
  float32: float("float32"),
  float64: float("float64"),
  /** One byte, seen as a one-character string; an array of char is a string. */
  char: new Spec<string, "char">({ kind: "char" }),
  /** UTF-8 text: `t.string`, `t.string(32)` (exactly 32 bytes), `t.string({ max: 32 })`. */
  string: bytesFactory<string, "string">("string"),
  /** Raw bytes with a uint16 length prefix. */
  blob: bytesFactory<Uint8Array, "blob">("blob"),
  /** Raw bytes with a uint32 length prefix. */
  blob32: bytesFactory<Uint8Array, "blob32">("blob32"),
  /**
   * A point in time, seen as a `Date`: packed as the `int64` of its Unix milliseconds, and an `int64`
   * in the `.dc` text (so `.dc` files and other clients stay compatible; they see the number).
   */
  datetime: new Spec<Date, "int64">({ kind: "int64", divisor: 1, datetime: true }),
  array: arrayOf,
  /** A struct (or a dclass) as a parameter type. */
  struct: structOf,
};

// ---- fields --------------------------------------------------------------------------------------

/** A historical keyword, or a custom one declared with `s.keyword`. */
export type Keyword = HistoricalKeyword | (string & {});

export class AtomicFieldSpec<
  A extends readonly AnySpec[],
  W extends readonly Keyword[] = readonly Keyword[],
> {
  readonly kind = "atomic";
  constructor(
    readonly args: A,
    readonly keywords: W,
  ) {}
}

export class ParameterFieldSpec<S extends AnySpec, W extends readonly Keyword[] = readonly Keyword[]> {
  readonly kind = "parameter";
  constructor(
    readonly spec: S,
    readonly keywords: W,
    readonly defaultValue?: DcValue,
  ) {}
}

export class MolecularFieldSpec<N extends readonly string[]> {
  readonly kind = "molecular";
  constructor(readonly atoms: N) {}
}

export type FieldSpec =
  | AtomicFieldSpec<readonly AnySpec[]>
  | ParameterFieldSpec<AnySpec>
  | MolecularFieldSpec<readonly string[]>;
export type FieldSpecs = { readonly [name: string]: FieldSpec };

/**
 * What the type system knows of one field of a dclass: its kind, its value type and its keywords (a
 * union of their names: `"broadcast" | "ram" | "ownsend"`; a molecular field's are its atoms'), so that
 * a typed sender can refuse at compile time a field its side may not send.
 */
export interface FieldInfo<
  Kind extends Field["kind"] = Field["kind"],
  V = unknown,
  W extends string = string,
> {
  readonly kind: Kind;
  readonly value: V;
  readonly keywords: W;
}
export type FieldInfoMap = { readonly [name: string]: FieldInfo };

/** A dclass built with `s.dclass`; `F` describes all its fields, inherited ones included. */
export class DClassHandle<F extends FieldInfoMap = FieldInfoMap> {
  /** Phantom: the fields. Never set at run time. */
  declare readonly "~fields": F;
  constructor(readonly dclass: DClass) {}

  get name(): string {
    return this.dclass.name;
  }

  /** The model field of that name (inherited fields included). */
  field<N extends keyof F & string>(name: N): Field {
    const field = this.dclass.field(name);
    if (!field) throw new DcModelError(`dclass '${this.dclass.name}' has no field '${name}'`);
    return field;
  }
}

/** Any dclass handle, whatever its fields. */
// biome-ignore lint/suspicious/noExplicitAny: the widest handle type must accept every field map
export type AnyClassHandle = DClassHandle<any>;
// biome-ignore lint/suspicious/noExplicitAny: the widest struct spec must accept every value type
type AnyStructSpec = StructSpec<any>;

type Simplify<T> = { [P in keyof T]: T[P] } & {};
type Override<A, B> = A & Omit<B, keyof A>;
type ArgValues<A extends readonly unknown[]> = { -readonly [I in keyof A]: ValueOf<A[I]> };
type IsMolecular<S> = S extends MolecularFieldSpec<readonly string[]> ? true : false;

type InfoOfSpec<S> =
  S extends AtomicFieldSpec<infer A, infer W>
    ? FieldInfo<"atomic", ArgValues<A>, W[number]>
    : S extends ParameterFieldSpec<infer P, infer W>
      ? FieldInfo<"parameter", ValueOf<P>, W[number]>
      : never;

type FieldsOf<H> = H extends DClassHandle<infer F> ? F : EmptyObject;

/** Parents' fields; between parents the earlier one wins, as in the model. */
type InheritedInfo<P> = P extends readonly [infer H, ...infer R]
  ? Override<FieldsOf<H>, InheritedInfo<R>>
  : EmptyObject;

/** Own atomic and parameter fields (a field named like the class is its constructor, not a field). */
type OwnPlainInfo<Name, F> = {
  [N in keyof F & string as N extends Name ? never : IsMolecular<F[N]> extends true ? never : N]: InfoOfSpec<
    F[N]
  >;
};

type AtomTuple<All, A> = A extends keyof All
  ? All[A] extends FieldInfo<"atomic", infer V extends readonly unknown[]>
    ? V
    : All[A] extends FieldInfo<"parameter", infer V>
      ? [V]
      : never
  : never;
type JoinAtoms<All, Atoms> = Atoms extends readonly [infer A, ...infer R]
  ? [...AtomTuple<All, A>, ...JoinAtoms<All, R>]
  : [];
/** A molecular field's keywords are its first atom's (the model requires all atoms to share them). */
type AtomKeywords<All, Atoms> = Atoms extends readonly [infer A extends keyof All, ...unknown[]]
  ? All[A] extends FieldInfo<Field["kind"], unknown, infer W>
    ? W
    : never
  : never;

type OwnMolecularInfo<F, All> = {
  [N in keyof F & string as IsMolecular<F[N]> extends true ? N : never]: F[N] extends MolecularFieldSpec<
    infer A
  >
    ? FieldInfo<"molecular", JoinAtoms<All, A>, AtomKeywords<All, A>>
    : never;
};

type PlainInfo<Name, F, P> = Override<OwnPlainInfo<Name, F>, InheritedInfo<P>>;
type ClassInfo<Name, F, P> = Simplify<
  Override<OwnPlainInfo<Name, F> & OwnMolecularInfo<F, PlainInfo<Name, F, P>>, InheritedInfo<P>>
>;

/** The fields a molecular field may name: atomic and parameter fields, own or inherited. */
type AtomName<F, P> =
  | { [N in keyof F & string]: IsMolecular<F[N]> extends true ? never : N }[keyof F & string]
  | {
      [N in keyof InheritedInfo<P> & string]: InheritedInfo<P>[N] extends FieldInfo<"molecular"> ? never : N;
    }[keyof InheritedInfo<P> & string];

/** Rejects, at compile time, a molecular field naming something that is not an atom of the class. */
type CheckMolecules<F, P> = {
  [N in keyof F]: F[N] extends MolecularFieldSpec<infer A>
    ? MolecularFieldSpec<{ readonly [I in keyof A]: A[I] extends AtomName<F, P> ? A[I] : AtomName<F, P> }>
    : unknown;
};

/** The keywords of a field of a dclass handle, as a union of their names. */
export type FieldKeywords<C, N extends FieldName<C>> =
  C extends DClassHandle<infer F> ? F[N]["keywords"] : never;

/**
 * The fields a client may send (clsend: always; ownsend: when it owns the object, checked at run time).
 * Fields of an untyped map (keywords `string`) all pass.
 */
export type ClientSendable<F extends FieldInfoMap> = {
  [N in keyof F & string]: "clsend" extends F[N]["keywords"]
    ? N
    : "ownsend" extends F[N]["keywords"]
      ? N
      : never;
}[keyof F & string];

/** The value types of all fields of a dclass handle, by field name. */
export type FieldValues<C> = C extends DClassHandle<infer F> ? { [N in keyof F]: F[N]["value"] } : never;
export type FieldName<C> = C extends DClassHandle<infer F> ? keyof F & string : never;

export interface DClassOptions<P extends readonly AnyClassHandle[]> {
  /** Parent classes; with several, an earlier parent's field wins over a later one's. */
  readonly parents?: P;
}

/** One field update: the model field and the value to pack for it. */
export interface FieldUpdate {
  readonly field: Field;
  readonly value: DcValue;
}

/** A typed field update: `setField(Avatar, "hp", 42)`; a value of the wrong type does not compile. */
export function setField<F extends FieldInfoMap, N extends keyof F & string>(
  dclass: DClassHandle<F>,
  name: N,
  value: F[N]["value"],
): FieldUpdate {
  return { field: dclass.field(name), value: value as DcValue };
}

/** Several typed updates at once (e.g. the required fields of a new object), in field id order. */
export function setFields<F extends FieldInfoMap>(
  dclass: DClassHandle<F>,
  values: { readonly [N in keyof F]?: F[N]["value"] },
): FieldUpdate[] {
  const updates: FieldUpdate[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) updates.push({ field: dclass.field(name), value: value as DcValue });
  }
  return updates.sort((a, b) => a.field.id - b.field.id);
}

// ---- the builder ---------------------------------------------------------------------------------

/** Builds a model through DcFile's builder methods, so ids are numbered exactly as the parser numbers them. */
export class SchemaBuilder {
  constructor(readonly file: DcFile = new DcFile()) {}

  /** Declares a custom keyword (`keyword gmonly;`) and returns it. */
  keyword<const W extends string>(word: W): W {
    checkName(word, "keyword");
    this.file.addKeyword(word);
    return word;
  }

  /**
   * Records an import for printing (no effect on packing): `s.import("otp.ai", ["TimeManager/AI"])`
   * is `from otp.ai import TimeManager/AI`; without symbols it is `import otp.ai`.
   */
  import(module: string, symbols: readonly string[] = []): void {
    const [moduleName, ...moduleSuffixes] = module.split("/");
    this.file.addImport({
      module: moduleName ?? "",
      moduleSuffixes,
      symbols: symbols.map((symbol) => {
        const [name, ...suffixes] = symbol.split("/");
        return { name: name ?? "", suffixes };
      }),
    });
  }

  /** `typedef uint32 DoId;` The result is used like any type, and prints as its name. */
  typedef<V, K extends TypeKind>(name: string, spec: Spec<V, K>): Spec<V, K> {
    checkName(name, "typedef");
    const typedef = this.file.addTypedef(name, paramFreeType(spec, `typedef '${name}'`));
    return new Spec(typedef.type);
  }

  /** `struct Vec2 { float32 x; float32 y; };` Member defaults come from `spec.default(...)`. */
  struct<F extends { readonly [member: string]: AnySpec }>(
    name: string,
    members: F,
  ): StructSpec<Simplify<{ readonly [M in keyof F]: ValueOf<F[M]> }>> {
    checkName(name, "struct");
    const struct = this.file.addStruct(name);
    for (const [member, spec] of Object.entries(members)) {
      checkName(member, `member of struct '${name}'`);
      if (spec.meta.name !== undefined) {
        throw new DcModelError(
          `member '${name}.${member}' is named by its key; drop .named('${spec.meta.name}')`,
        );
      }
      this.file.addField(
        parameterField(struct, { ...toParameter(spec, `${name}.${member}`), name: member }, []),
      );
    }
    return new StructSpec(struct);
  }

  /**
   * A dclass. Its fields, in declaration order (that is the id order), are `s.field(...)`,
   * `s.param(...)` and `s.molecular(...)`; a field named like the class is its constructor.
   */
  dclass<const Name extends string, const F extends FieldSpecs>(
    name: Name,
    fields: F & CheckMolecules<F, []>,
  ): DClassHandle<ClassInfo<Name, F, []>>;
  dclass<
    const Name extends string,
    const F extends FieldSpecs,
    const P extends readonly AnyClassHandle[] = [],
  >(
    name: Name,
    options: DClassOptions<P>,
    fields: F & CheckMolecules<F, P>,
  ): DClassHandle<ClassInfo<Name, F, P>>;
  dclass(
    name: string,
    optionsOrFields: DClassOptions<readonly AnyClassHandle[]> | FieldSpecs,
    maybeFields?: FieldSpecs,
  ): DClassHandle<FieldInfoMap> {
    checkName(name, "dclass");
    const options =
      maybeFields === undefined ? {} : (optionsOrFields as DClassOptions<readonly AnyClassHandle[]>);
    const fields = maybeFields ?? (optionsOrFields as FieldSpecs);
    const parents = (options.parents ?? []).map((parent) => this.ownClass(parent, name));
    const dclass = this.file.addClass(name, parents);
    for (const [fieldName, spec] of Object.entries(fields)) this.addClassField(dclass, fieldName, spec);
    return new DClassHandle(dclass);
  }

  /** An atomic field: `setPos(int16/10 x, int16/10 y) broadcast ram;` */
  field<const A extends readonly AnySpec[], const W extends readonly Keyword[] = []>(
    args: A,
    keywords: W = [] as unknown as W,
  ): AtomicFieldSpec<A, W> {
    return new AtomicFieldSpec(args, keywords);
  }

  /** A parameter field: `uint8(0-100) hp = 100 broadcast ram;` */
  param<S extends AnySpec, const W extends readonly Keyword[] = []>(
    spec: S,
    keywords: W = [] as unknown as W,
    defaultValue?: ValueOf<S>,
  ): ParameterFieldSpec<S, W> {
    if (defaultValue !== undefined) checkDefaultValue(spec.dcType, defaultValue, "parameter field default");
    return new ParameterFieldSpec(spec, keywords, defaultValue as DcValue | undefined);
  }

  /** A molecular field: `setXY : setX, setY;` Its atoms must be declared before it. */
  molecular<const N extends readonly string[]>(atoms: N): MolecularFieldSpec<N> {
    return new MolecularFieldSpec(atoms);
  }

  private ownClass(parent: AnyClassHandle, child: string): DClass {
    if (parent.dclass.file !== this.file) {
      throw new DcModelError(`dclass '${child}' names parent '${parent.name}' from another schema`);
    }
    return parent.dclass;
  }

  private addClassField(dclass: DClass, name: string, spec: FieldSpec): void {
    checkName(name, `field of dclass '${dclass.name}'`);
    const where = `${dclass.name}.${name}`;
    switch (spec.kind) {
      case "atomic": {
        const params = spec.args.map((arg, i) => toParameter(arg, `${where} argument ${i + 1}`));
        this.file.addField(atomicField(dclass, name, params, checkKeywords(spec.keywords, where)));
        return;
      }
      case "parameter": {
        if (spec.spec.meta.name !== undefined) {
          throw new DcModelError(
            `parameter field '${where}' is named by its key; drop .named('${spec.spec.meta.name}')`,
          );
        }
        let param = toParameter(spec.spec, where);
        if (spec.defaultValue !== undefined) {
          if (param.default !== undefined) {
            throw new DcModelError(`parameter field '${where}' has two defaults`);
          }
          param = { ...param, default: spec.defaultValue };
        }
        this.file.addField(parameterField(dclass, { ...param, name }, checkKeywords(spec.keywords, where)));
        return;
      }
      case "molecular": {
        const atoms = spec.atoms.map((atom) => {
          const field = dclass.field(atom);
          if (!field)
            throw new DcModelError(
              `molecular field '${where}' names '${atom}', which is not a field of '${dclass.name}' declared before it`,
            );
          if (field.kind === "molecular")
            throw new DcModelError(`molecular field '${where}' names '${atom}', which is itself molecular`);
          return field;
        });
        this.file.addField(molecularField(dclass, name, atoms));
        return;
      }
    }
  }
}

export type Schema<R> = { readonly file: DcFile } & (R extends object ? Readonly<R> : EmptyObject);

export interface DefineOptions {
  /** Add to this model (e.g. one loaded from `.dc` files) instead of a new one. */
  readonly into?: DcFile;
}

/**
 * Builds a model in code. Whatever the callback returns (typically its dclass handles) is returned
 * too, next to `file`.
 */
export function defineSchema<R extends object>(
  build: (s: SchemaBuilder) => R,
  options?: DefineOptions,
): Schema<R>;
export function defineSchema(build: (s: SchemaBuilder) => void, options?: DefineOptions): Schema<undefined>;
export function defineSchema(
  build: (s: SchemaBuilder) => unknown,
  options: DefineOptions = {},
): Schema<unknown> {
  const builder = new SchemaBuilder(options.into);
  const result = build(builder);
  if (result !== undefined && (typeof result !== "object" || result === null)) {
    throw new DcModelError("defineSchema: the callback must return an object of handles, or nothing");
  }
  if (result && "file" in result) {
    throw new DcModelError(
      "defineSchema: the callback's result cannot have a key 'file' (it holds the model)",
    );
  }
  return { ...result, file: builder.file };
}

// ---- helpers -------------------------------------------------------------------------------------

function withName(meta: ParamMeta, name: string): ParamMeta {
  checkName(name, "parameter");
  return { ...meta, name };
}

function withDefault(meta: ParamMeta, type: DcType, value: unknown): ParamMeta {
  checkDefaultValue(type, value, meta.name ? `default of '${meta.name}'` : "default");
  return { ...meta, default: value as DcValue };
}

function toParameter(spec: AnySpec, where: string): Parameter {
  if (!(spec instanceof Spec)) throw new DcModelError(`${where} is not a type (use t.uint8, t.string, ...)`);
  const { name, default: value } = spec.meta;
  return {
    ...(name === undefined ? {} : { name }),
    type: spec.dcType,
    ...(value === undefined ? {} : { default: value }),
  };
}

/** The DC type of a spec used where no parameter name or default makes sense. */
function paramFreeType(spec: AnySpec, where: string): DcType {
  if (spec.meta.name !== undefined || spec.meta.default !== undefined) {
    throw new DcModelError(`${where} cannot have a parameter name or a default value`);
  }
  return spec.dcType;
}

function toLength(option: LengthOption, what: string): Length {
  if (typeof option === "number") {
    checkCount(option, `the length of ${what}`, Number.MAX_SAFE_INTEGER);
    return { fixed: option };
  }
  const min = option.min ?? 0;
  checkCount(min, `the minimum length of ${what}`, MAX_PREFIXED_LENGTH);
  checkCount(option.max, `the maximum length of ${what}`, MAX_PREFIXED_LENGTH);
  if (min > option.max) throw new DcModelError(`the length range ${min}-${option.max} of ${what} is empty`);
  return { range: { min, max: option.max } };
}

function checkCount(n: number, what: string, limit: number): void {
  if (!Number.isInteger(n) || n < 0 || n > limit) {
    throw new DcModelError(`${what} must be a whole number from 0 to ${limit}, not ${n}`);
  }
}

function checkName(name: string, what: string): void {
  if (!IDENTIFIER.test(name))
    throw new DcModelError(`${what} name '${name}' is not an identifier (letters, digits, _)`);
  if (BUILTIN_TYPE_NAMES.has(name)) throw new DcModelError(`${what} name '${name}' is a built-in type name`);
}

function checkKeywords(keywords: readonly string[], where: string): readonly string[] {
  const seen = new Set<string>();
  for (const word of keywords) {
    if (seen.has(word)) throw new DcModelError(`field '${where}' lists keyword '${word}' twice`);
    seen.add(word);
  }
  return keywords;
}

/** Checks a default value with the packer's rules (the same check the `.dc` parser applies). */
function checkDefaultValue(type: DcType, value: unknown, where: string): void {
  try {
    checkValue(type, value, where);
  } catch (error) {
    if (error instanceof DcPackError) throw new DcModelError(`bad ${error.message}`);
    throw error;
  }
}
