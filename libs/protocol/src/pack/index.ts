export {
  checkValue,
  packField,
  packValue,
  readField,
  readValue,
  skipField,
  unpackField,
  unpackFieldAt,
  unpackValue,
  writeField,
  writeValue,
} from "./api.ts";
export { type Codec, fieldCodec, packedSize, typeCodec } from "./codec.ts";
export { defaultFieldValue, defaultValue, parameterDefault } from "./defaults.ts";
export { DcPackError, type DcPackErrorCode } from "./errors.ts";
export { DatagramReader } from "./reader.ts";
export { DatagramWriter } from "./writer.ts";
