/** @overworld/client: the TypeScript game client (login, connect, hello, interests, mirrors, fields, time). */

// downloading assets swarms over UDP with libsodium and writes files: Node only, not in the browser bundle
export { type AssetDownload, type AssetDownloadOptions, type AssetRef, downloadAsset } from "./assets.ts";
export * from "./portable.ts";
