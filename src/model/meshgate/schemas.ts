// Schemas of meshgate's own kinds (meshgate.dev/v1alpha1), defined once with TypeBox so
// the TypeScript types and the JSON Schema used for validation cannot drift apart.
// docs/resources.md documents them; only kinds with no standard equivalent live here.

import { Type, type Static } from "@sinclair/typebox";

/** Gateway API's Duration format (GEP-2257): up to four `<n><unit>` parts. */
export const Duration = Type.String({ pattern: "^([0-9]{1,5}(h|m|s|ms)){1,4}$", description: "e.g. 24h, 90m, 1h30m" });

const Name = Type.String({ minLength: 1, maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" });
const DnsLabel = Type.String({ minLength: 1, maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" });
const Labels = Type.Record(Type.String({ minLength: 1, maxLength: 316 }), Type.String({ maxLength: 63 }));
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

const ConfigMapKeyRef = Type.Object(
  {
    name: Name,
    namespace: Type.Optional(DnsLabel),
    key: Type.Optional(Type.String({ minLength: 1, default: "ca.crt" })),
  },
  { additionalProperties: false },
);

export const MeshSpec = Type.Object(
  {
    trustDomain: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: "^[a-z0-9._-]+$",
      description: "SPIFFE trust domain of every workload in the mesh",
    }),
    namespaces: Type.Array(DnsLabel, { minItems: 1, uniqueItems: true }),
    ca: Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Type.Union([Type.Literal("Managed"), Type.Literal("Provided")], { default: "Managed" })),
          rootName: Type.Optional(DnsLabel),
          path: Type.Optional(Type.String({ minLength: 1 })),
          intermediateTTL: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    workloadCertTTL: Type.Optional(Duration),
    trustedRoots: Type.Optional(Type.Array(Type.Object({ configMapRef: ConfigMapKeyRef }, { additionalProperties: false }))),
  },
  { additionalProperties: false },
);
export type MeshSpec = Static<typeof MeshSpec>;

export const WorkloadSpec = Type.Object(
  {
    serviceAccount: Type.Optional(DnsLabel),
    labels: Type.Optional(Labels),
    port: Port,
    address: Type.Optional(Type.String({ minLength: 1 })),
    protocol: Type.Optional(Type.Union([Type.Literal("HTTP"), Type.Literal("HTTP2"), Type.Literal("GRPC")])),
    services: Type.Optional(Type.Array(Name, { uniqueItems: true })),
    sidecar: Type.Optional(
      Type.Object(
        {
          inboundPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "where the sidecar accepts mesh traffic for the workload (default port + 10000)" })),
          outboundPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "the sidecar's HTTP proxy port for the workload's outbound calls (default port + 20000)" })),
          upstreams: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  service: Type.String({ pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", maxLength: 317, description: "[namespace/]name of the Service (namespace: the Workload's)" }),
                  port: Type.Integer({ minimum: 1, maximum: 65535, description: "the Service port" }),
                  localPort: Type.Integer({ minimum: 1, maximum: 65535, description: "where the sidecar accepts the application's plaintext HTTP calls to that Service port" }),
                },
                { additionalProperties: false },
              ),
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    command: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    env: Type.Optional(Type.Record(Type.String(), Type.String(), { propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$" } })),
    workingDir: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type WorkloadSpec = Static<typeof WorkloadSpec>;

export const TokenExchangeSpec = Type.Object(
  {
    targetRef: Type.Object(
      {
        group: Type.Literal("gateway.networking.k8s.io"),
        kind: Type.Literal("Gateway"),
        name: Name,
      },
      { additionalProperties: false },
    ),
    accept: Type.Object(
      { issuers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true }) },
      { additionalProperties: false },
    ),
    issue: Type.Object(
      {
        issuer: Type.String({ minLength: 1 }),
        audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        ttl: Type.Optional(Duration),
        signingKeyRef: Type.Optional(
          Type.Object({ name: Name, key: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false }),
        ),
        copyClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true })),
        header: Type.Optional(Type.String({ minLength: 1, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type TokenExchangeSpec = Static<typeof TokenExchangeSpec>;

/** The full resource envelope for one of our kinds. */
export function resourceSchema(kind: string, spec: ReturnType<typeof Type.Object>) {
  return Type.Object(
    {
      apiVersion: Type.Literal("meshgate.dev/v1alpha1"),
      kind: Type.Literal(kind),
      metadata: Type.Object(
        {
          name: Name,
          namespace: Type.Optional(DnsLabel),
          labels: Type.Optional(Labels),
          annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
        },
        { additionalProperties: true },
      ),
      spec,
    },
    { additionalProperties: false },
  );
}
