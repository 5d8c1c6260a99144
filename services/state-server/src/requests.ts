/**
 * Calls of methods (`ss.request`): the state server knows each object's class and AI, so it is where a
 * call is checked and passed on. The caller acts for a channel (a client agent for one of its clients, a
 * zone-AI replica for a zone: checked by Senders before this); the field must be a method of the object's
 * class (the keyword `request`) and its arguments must read whole; the call goes to the object's AI channel
 * (a zone's channel is journaled: a call survives the zone's failover), which answers the caller's channel.
 */
import { isMethod, messages, type Subjects, unpackField } from "@overworld/protocol";
import { type NatsConnection, publish } from "@overworld/service";
import type { LiveObjects } from "./live.ts";
import type { ClassModel } from "./model.ts";

export interface RequestDeps {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly live: LiveObjects;
  readonly model: ClassModel;
}

/** Passes a call to the AI of its object; refuses it (a RequestError naming what is wrong) otherwise. */
export async function forwardRequest(
  deps: RequestDeps,
  call: messages.CallRequest & { readonly sender: number },
): Promise<void> {
  const { live, model } = deps;
  const object = await live.get({ doId: call.doId, fieldIds: [] });
  const dclass = model.dclass(object.classId);
  const field = model.field(dclass, call.fieldId);
  if (!isMethod(field)) {
    throw new messages.RequestError(
      "forbidden",
      `${dclass.name}.${field.name} is not a method (it has no keyword request)`,
    );
  }
  try {
    unpackField(field, call.args);
  } catch (error) {
    throw new messages.RequestError(
      "bad_value",
      `the arguments of ${dclass.name}.${field.name}: ${(error as Error).message}`,
    );
  }
  if (object.ai === 0) {
    throw new messages.RequestError(
      "unavailable",
      `object ${call.doId} (${dclass.name}) has no AI to answer ${field.name}`,
    );
  }
  const message: messages.RequestCall = {
    kind: "request",
    sender: call.sender,
    requestId: call.requestId,
    doId: call.doId,
    fieldId: call.fieldId,
    args: call.args,
  };
  publish(deps.nc, deps.subjects.participant(object.ai), message);
}
