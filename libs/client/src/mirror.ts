/**
 * A client's mirror of an object the client agent shows it: class, place, ownership and the fields'
 * latest values, typed by the object's class once narrowed with `is`:
 *
 * ```ts
 * if (mirror.is(demo.DistributedAvatar)) {
 *   const [x, y] = mirror.get("setXY") ?? [0, 0];   // [number, number]
 *   mirror.on("chat", ([from, text]) => show(from, text));
 *   mirror.send("say", ["hello"]);                  // a clsend field; "hp" would not compile
 * }
 * ```
 */
import {
  type ClientSendable,
  type DClass,
  type DClassHandle,
  type FieldInfoMap,
  type FieldValue,
  hasKeyword,
  inheritsFrom,
  validateField,
} from "@overworld/protocol";
import type { OverworldClient } from "./client.ts";
import { fieldListeners } from "./typed.ts";

/** A local mirror of an object the client agent shows this client; `F` types its fields (see `is`). */
export class ObjectMirror<F extends FieldInfoMap = FieldInfoMap> {
  /** Decoded values by field name (molecular fields under their own name). */
  readonly fields = new Map<string, FieldValue>();

  constructor(
    /** The client whose view holds it. */
    readonly client: OverworldClient,
    readonly doId: number,
    readonly dclass: DClass,
    public parent: number,
    public zone: number,
    /** True when this client owns the object (it may send its ownsend fields). */
    public owned: boolean,
  ) {}

  /** True when the object is of that class or inherits from it; narrows its field types. */
  is<G extends FieldInfoMap>(handle: DClassHandle<G>): this is ObjectMirror<G> {
    return inheritsFrom(this.dclass, handle.dclass);
  }

  /** A field's latest value, typed by the class (undefined if the client has not been sent one). */
  get<N extends keyof F & string>(name: N): F[N]["value"] | undefined {
    return this.fields.get(name) as F[N]["value"] | undefined;
  }

  /**
   * Calls `listener` with each new value of one field of this object (after the mirror holds it), until
   * the returned function is called or the object leaves view.
   */
  on<N extends keyof F & string>(
    name: N,
    listener: (value: F[N]["value"], object: this) => void,
  ): () => void {
    if (this.dclass.field(name) === undefined) {
      throw new Error(`class ${this.dclass.name} has no field ${name}`);
    }
    return fieldListeners(this.client).onObjectField(this.doId, name, listener as never);
  }

  /**
   * Sends a field of this object: only a field the client may send compiles (clsend, or ownsend when it
   * owns the object: that is checked here at run time, before the agent would eject for it), and the
   * schema's validators run first. Throws, sending nothing, when either refuses.
   */
  send<N extends ClientSendable<F>>(name: N, value: F[N]["value"]): void {
    const field = this.dclass.field(name);
    if (field === undefined) throw new Error(`class ${this.dclass.name} has no field ${name}`);
    if (!hasKeyword(field, "clsend") && !(hasKeyword(field, "ownsend") && this.owned)) {
      const why = hasKeyword(field, "ownsend") ? "ownsend, and this client does not own it" : "not clsend";
      throw new Error(`${this.dclass.name}.${name} of object ${this.doId} may not be sent: ${why}`);
    }
    const invalid = validateField(field, value as FieldValue);
    if (invalid !== undefined) throw new Error(`refused by the schema's validator: ${invalid}`);
    this.client.sendField(this.doId, name, value as FieldValue);
  }
}
