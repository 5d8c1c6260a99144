/** Signed, content-addressed manifests of plugins and assets; the plugin loader; plugin rules down the tree. */
export * from "./directory.ts";
export * from "./hash.ts";
export * from "./loader.ts";
export * from "./manifest.ts";
export * from "./package.ts";
export * from "./remote.ts";
export * from "./rules.ts";
export * from "./signature.ts";
export * from "./trust.ts";
