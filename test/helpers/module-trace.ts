// Script text for a child process that records every module it resolves: a module.register
// resolve hook posts each resolved URL into `seen` (an array the rest of the script reads).
// Tests that check what an import pulls in run it in a fresh `node --input-type=module -e`.

export const MODULE_TRACE_PROLOGUE = `
    import { register } from "node:module";
    import { MessageChannel } from "node:worker_threads";
    const { port1, port2 } = new MessageChannel();
    const seen = [];
    port1.on("message", (u) => seen.push(u));
    const hook = "let port; export function initialize(d) { port = d.port; } export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }";
    register("data:text/javascript," + encodeURIComponent(hook), import.meta.url, { data: { port: port2 }, transferList: [port2] });
`;
