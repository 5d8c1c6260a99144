/**
 * Methods: fields that are called and answered (requests with replies), declared the same way in a `.dc`
 * file and in the TypeScript API, so that a `.dc` team and a TypeScript team use the same wire:
 *
 *   keyword request;                                        // declared once, like any game keyword
 *   dclass DistributedShop {
 *     buy(uint8 item) clsend airecv request;                // the method: its arguments, who may call it
 *     buyReply(uint16 left);                                // its reply: the field named <method>Reply
 *   };
 *
 * A method is an atomic field with the keyword `request`; who may call it is what may send it (clsend,
 * ownsend for the owner, as for any field update; zone AI may call any method). Its reply is the value of
 * the field of the same class named `<method>Reply` (no keywords needed: it is never sent as an update);
 * a method without one answers with no value. Errors are not declared: a reply is either the reply
 * field's value or an error `{ code, message }` (code: a short name, e.g. `sold_out`).
 */
import type { DClass } from "./dclass.ts";
import type { FieldInfoMap } from "./define.ts";
import { type Field, hasKeyword } from "./field.ts";

/** The keyword that makes a field a method (`keyword request;` in a `.dc` file, `s.keyword("request")`). */
export const REQUEST_KEYWORD = "request";
/** What the reply field's name adds to its method's. */
export const REPLY_SUFFIX = "Reply";

/** Whether a field is a method: it has the keyword `request`. */
export function isMethod(field: Field): boolean {
  return hasKeyword(field, REQUEST_KEYWORD);
}

/** The reply field of a method of `dclass` (`<method>Reply`, inherited ones too), if it has one. */
export function replyFieldOf(dclass: DClass, method: Field): Field | undefined {
  return dclass.field(`${method.name}${REPLY_SUFFIX}`);
}

/** The names of a class's fields that may be methods (every atomic field; the keyword is checked at run time). */
export type MethodName<F extends FieldInfoMap> = {
  [N in keyof F & string]: F[N]["kind"] extends "atomic" ? N : never;
}[keyof F & string];

/** What a method answers: its reply field's value, or nothing when the class has no `<method>Reply`. */
export type MethodReply<F extends FieldInfoMap, N extends string> = `${N}Reply` extends keyof F
  ? F[`${N}Reply`]["value"]
  : undefined;

/** A method's arguments: its field's value (the tuple of its arguments). */
export type MethodArgs<F extends FieldInfoMap, N extends keyof F> = F[N]["value"];
