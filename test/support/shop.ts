/** The shop class of the nested-delta tests: a map field (a struct array keyed by id) and a uniform board. */
import { fileURLToPath } from "node:url";

export const SHOP_DC = fileURLToPath(new URL("./shop.dc", import.meta.url));
