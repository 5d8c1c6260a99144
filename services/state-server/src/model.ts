import {
  DatagramReader,
  type DClass,
  type DcFile,
  DcPackError,
  defaultFieldValue,
  type Field,
  KW,
  messages,
  packField,
  readField,
  unpackField,
} from "@overworld/protocol";

/** A field id and its packed value. */
export type FieldBytes = [fieldId: number, value: Uint8Array];

/** Who an object snapshot is for; each sees a different subset of its fields (Astron's rules). */
export type Audience = "location" | "ai" | "owner";

const STORED = KW.ram | KW.required;
const SEEN_BY_LOCATION = KW.broadcast | KW.clrecv;
const SEEN_BY_OWNER = KW.broadcast | KW.clrecv | KW.ownrecv;

/** What the state server needs to know about one dclass, worked out once. */
interface ClassInfo {
  readonly dclass: DClass;
  /** Non-molecular required fields, in field order: a live object must have them all. */
  readonly required: readonly Field[];
  /** Required fields first, then the other fields in field order: the order snapshots list them in. */
  readonly snapshotOrder: readonly Field[];
}

function refused(code: messages.ErrorCode, message: string): messages.RequestError {
  return new messages.RequestError(code, message);
}

/**
 * The dclass model as the state server uses it: finds classes and fields by id with errors that name
 * them, validates packed values, splits molecular values into their atoms and picks the fields each
 * audience may see.
 */
export class ClassModel {
  private readonly infos = new Map<number, ClassInfo>();

  constructor(readonly file: DcFile) {}

  /** The class with this id; an `unknown_class` error otherwise. */
  dclass(classId: number): DClass {
    return this.info(classId).dclass;
  }

  private info(classId: number): ClassInfo {
    const known = this.infos.get(classId);
    if (known) return known;
    const type = this.file.typeById(classId);
    if (type?.kind !== "class") {
      const what = type ? `is the struct '${type.name}', not a dclass` : "is not defined by the DC files";
      throw refused("unknown_class", `class id ${classId} ${what}`);
    }
    const required = type.fields.filter((field) => field.kind !== "molecular" && isRequired(field));
    const others = type.fields.filter((field) => !required.includes(field));
    const info: ClassInfo = { dclass: type, required, snapshotOrder: [...required, ...others] };
    this.infos.set(classId, info);
    return info;
  }

  /** The field with this id in the class (inherited ones included); an `unknown_field` error otherwise. */
  field(dclass: DClass, fieldId: number): Field {
    const field = dclass.fieldById(fieldId);
    if (field) return field;
    const elsewhere = this.file.fieldById(fieldId);
    const which = elsewhere
      ? `field ${fieldId} ('${elsewhere.owner.name}.${elsewhere.name}')`
      : `field id ${fieldId}`;
    throw refused("unknown_field", `class ${dclass.name} has no ${which}`);
  }

  requiredFields(classId: number): readonly Field[] {
    return this.info(classId).required;
  }

  /**
   * Validates a packed value and splits it into the parts stored per field: the value itself for an
   * atomic or parameter field, one part per atom for a molecular field. A bad value is a `bad_value`
   * error naming the class, the field and the problem.
   */
  /**
   * A value as the atoms it sets; `checked`: it was checked against the dclass where it entered, so an
   * atomic field's value is taken as it is (a molecular one is still split).
   */
  parts(dclass: DClass, field: Field, bytes: Uint8Array, checked = false): FieldBytes[] {
    try {
      if (field.kind !== "molecular") {
        if (!checked) unpackField(field, bytes);
        return [[field.id, bytes]];
      }
      const reader = new DatagramReader(bytes);
      const out: FieldBytes[] = [];
      for (const atom of field.atoms) {
        const start = reader.position;
        readField(reader, atom);
        out.push([atom.id, bytes.subarray(start, reader.position)]);
      }
      if (reader.remaining !== 0) {
        throw new DcPackError("trailing_bytes", `${reader.remaining} byte(s) follow the value`);
      }
      return out;
    } catch (error) {
      if (!(error instanceof DcPackError)) throw error;
      throw refused(
        "bad_value",
        `bad value for ${dclass.name}.${field.name} (field ${field.id}): ${error.message} [${error.code}]`,
      );
    }
  }

  /** The field's default value, packed (declared defaults where given, the type's default otherwise). */
  defaultBytes(field: Field): Uint8Array {
    return packField(field, defaultFieldValue(field));
  }

  /** The fields of a snapshot for an audience, from the stored values, in snapshot order. */
  snapshotFields(classId: number, stored: ReadonlyMap<number, Uint8Array>, audience: Audience): FieldBytes[] {
    const out: FieldBytes[] = [];
    for (const field of this.info(classId).snapshotOrder) {
      const value = stored.get(field.id);
      if (value === undefined || !visibleTo(field, audience)) continue;
      out.push([field.id, value]);
    }
    return out;
  }

  /**
   * A field's value from stored parts: its own value, or for a molecular field its atoms' values joined
   * (undefined if any atom is unset).
   */
  assemble(field: Field, stored: ReadonlyMap<number, Uint8Array>): Uint8Array | undefined {
    if (field.kind !== "molecular") return stored.get(field.id);
    const pieces: Uint8Array[] = [];
    for (const atom of field.atoms) {
      const piece = stored.get(atom.id);
      if (piece === undefined) return undefined;
      pieces.push(piece);
    }
    return Buffer.concat(pieces);
  }
}

export function isRequired(field: Field): boolean {
  return (field.flags & KW.required) !== 0;
}

/** Kept by the state server: ram or required (molecular fields are kept as their atoms). */
export function isStored(field: Field): boolean {
  return field.kind !== "molecular" && (field.flags & STORED) !== 0;
}

export function isDb(field: Field): boolean {
  return (field.flags & KW.db) !== 0;
}

export function isBroadcast(field: Field): boolean {
  return (field.flags & KW.broadcast) !== 0;
}

export function isAiRecv(field: Field): boolean {
  return (field.flags & KW.airecv) !== 0;
}

export function isOwnRecv(field: Field): boolean {
  return (field.flags & KW.ownrecv) !== 0;
}

/** A field a client may send: clsend (anyone who sees the object) or ownsend (its owner). */
export function isClientSendable(field: Field): boolean {
  return (field.flags & (KW.clsend | KW.ownsend)) !== 0;
}

function visibleTo(field: Field, audience: Audience): boolean {
  if (audience === "ai") return true;
  const mask = audience === "location" ? SEEN_BY_LOCATION : SEEN_BY_OWNER;
  return (field.flags & mask) !== 0;
}

/** The declared defaults of a field: whether any of its elements has one (Astron stores those). */
export function hasDeclaredDefault(field: Field): boolean {
  return field.kind !== "molecular" && field.elements.some((element) => element.default !== undefined);
}
