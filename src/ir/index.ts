export * from "./snapshot.js";
export * from "./listener.js";
export * from "./route.js";
export * from "./cluster.js";
export * from "./secret.js";
export * from "./security.js";
export * from "./traffic-policy.js";
