export { buildModel, type ModelResult } from "./build-model.js";
export type * from "./model.js";
export type { Condition } from "./conditions.js";
export { CONTROLLER_NAME } from "./conditions.js";
