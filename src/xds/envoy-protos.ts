// The Envoy v3 API as protobuf types, loaded from the .proto files that ship inside
// @grpc/grpc-js-xds (no other npm package carries them). Resources are encoded with these
// exact types so meshgate's proxies, Envoy and gRPC's xDS client read the same bytes.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const XDS_PACKAGE = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
const INCLUDE_DIRS = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(XDS_PACKAGE, "deps", d)),
  // google/protobuf/descriptor.proto (used by the validation annotations) ships with protobufjs.
  dirname(require.resolve("protobufjs/package.json")),
];

/** The resource types the control plane serves, by their type URL. */
export const TYPE_URLS = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

export type ResourceKind = keyof typeof TYPE_URLS;

// Every message a resource may carry inside an Any (filters, transport sockets) must be
// loaded too, or protobufjs cannot pack or unpack it.
const ENTRY_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/service/ratelimit/v3/rls.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/random/v3/random.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
];

let root: protobuf.Root | undefined;

/** The loaded Envoy API (loaded once, on first use: it takes a few hundred ms). */
export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    // Well-known types protobufjs has built in (any, duration, struct, ...) must not be
    // loaded a second time from disk.
    if (target in protobuf.common) return target;
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  r.loadSync(ENTRY_FILES, { keepCase: false });
  r.resolveAll();
  root = r;
  return r;
}

function typeOf(typeUrl: string): protobuf.Type {
  return envoyRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
}

/**
 * Encodes a resource given as a plain object (field names in camelCase; nested Any
 * values as `{ "@type": typeUrl, ...fields }`; well-known types as messages, e.g. a
 * Duration is `{ seconds, nanos }`, a UInt32Value `{ value }`) and returns its bytes.
 * Throws when a field or enum value is not part of the message.
 */
export function encodeResource(typeUrl: string, value: Record<string, unknown>): Uint8Array {
  const type = typeOf(typeUrl);
  // protobufjs' fromObject drops unknown fields and unknown enum names silently; a
  // translator bug must fail loudly here instead of shipping a config that differs.
  checkShape(type, value, typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
  return type.encode(type.fromObject(value)).finish();
}

function checkShape(type: protobuf.Type, value: unknown, path: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TypeError(`${path}: expected an object`);
  for (const [key, v] of Object.entries(value)) {
    if (type.fullName === ".google.protobuf.Any" && key === "@type") continue;
    const field = type.fields[key] ?? type.fields[snakeCase(key)];
    if (!field) {
      if (type.fullName === ".google.protobuf.Any") continue; // packed fields are checked below
      throw new TypeError(`${path}.${key}: no such field in ${type.fullName.slice(1)}`);
    }
    field.resolve();
    const values = field.repeated && Array.isArray(v) ? v : [v];
    values.forEach((item, i) => {
      const at = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (field.resolvedType instanceof protobuf.Enum) {
        if (typeof item === "string" && !(item in field.resolvedType.values)) throw new TypeError(`${at}: "${item}" is not a ${field.resolvedType.name} value`);
      } else if (field.resolvedType instanceof protobuf.Type && !field.map) {
        checkShape(field.resolvedType, item, at);
      }
    });
    // Map values (filter configs by name, protocol options, JWT providers) are messages
    // too, often Any: check them the same way.
    if (field.map && field.resolvedType && v !== null && typeof v === "object") {
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        const at = `${path}.${key}[${JSON.stringify(k)}]`;
        if (field.resolvedType instanceof protobuf.Enum) {
          if (typeof item === "string" && !(item in field.resolvedType.values)) throw new TypeError(`${at}: "${item}" is not a ${field.resolvedType.name} value`);
        } else if (field.resolvedType instanceof protobuf.Type) {
          checkShape(field.resolvedType, item, at);
        }
      }
    }
  }
  if (type.fullName === ".google.protobuf.Any") {
    const url = (value as Record<string, unknown>)["@type"];
    if (typeof url !== "string") throw new TypeError(`${path}: an Any needs "@type"`);
    const { "@type": _t, ...rest } = value as Record<string, unknown>;
    checkShape(typeOf(url), rest, `${path}<${url.slice(url.lastIndexOf("/") + 1)}>`);
  }
}

function snakeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Decodes resource bytes back to a plain object (enums as names, Any expanded). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const type = typeOf(typeUrl);
  return type.toObject(type.decode(bytes), { enums: String, longs: Number, defaults: false, json: true }) as Record<string, unknown>;
}
