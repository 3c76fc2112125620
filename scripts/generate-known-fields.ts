// Generates src/model/known-fields.generated.json: for every supported upstream kind, the
// tree of field names its TypeScript model declares. The upstream OpenAPI schemas do not
// forbid unknown fields, so without this a typo such as `principal:` for `principals:`
// in an AuthorizationPolicy would be silently ignored — a security hole. Run with
//   node --import tsx scripts/generate-known-fields.ts
// after upgrading @kubernetes-models packages; a test fails when the file is stale.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const OUTPUT = join(ROOT, "src/model/known-fields.generated.json");

const KINDS: [key: string, module: string, type: string][] = [
  ["gateway.networking.k8s.io/v1|GatewayClass", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass", "IGatewayClass"],
  ["gateway.networking.k8s.io/v1|Gateway", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway", "IGateway"],
  ["gateway.networking.k8s.io/v1|HTTPRoute", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute", "IHTTPRoute"],
  ["gateway.networking.k8s.io/v1|GRPCRoute", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute", "IGRPCRoute"],
  ["gateway.networking.k8s.io/v1|ReferenceGrant", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant", "IReferenceGrant"],
  ["gateway.networking.k8s.io/v1beta1|ReferenceGrant", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant", "IReferenceGrant"],
  ["gateway.networking.k8s.io/v1|BackendTLSPolicy", "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/BackendTLSPolicy", "IBackendTLSPolicy"],
  ["v1|Namespace", "kubernetes-models/v1/Namespace", "INamespace"],
  ["v1|Service", "kubernetes-models/v1/Service", "IService"],
  ["v1|Secret", "kubernetes-models/v1/Secret", "ISecret"],
  ["v1|ConfigMap", "kubernetes-models/v1/ConfigMap", "IConfigMap"],
  ["discovery.k8s.io/v1|EndpointSlice", "kubernetes-models/discovery.k8s.io/v1/EndpointSlice", "IEndpointSlice"],
  ["security.istio.io/v1|PeerAuthentication", "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication", "IPeerAuthentication"],
  ["security.istio.io/v1|RequestAuthentication", "@kubernetes-models/istio/security.istio.io/v1/RequestAuthentication", "IRequestAuthentication"],
  ["security.istio.io/v1|AuthorizationPolicy", "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy", "IAuthorizationPolicy"],
  ["gateway.envoyproxy.io/v1alpha1|BackendTrafficPolicy", "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy", "IBackendTrafficPolicy"],
];

/** A shape: known field -> shape index (0 = leaf), and "*" for maps with free keys. */
type Shape = Record<string, number>;

export function generateKnownFields(): string {
  const entry = join(ROOT, "scripts", "__known_fields_entry.ts");
  const source = KINDS.map(([, mod, type], i) => `import type { ${type} as T${i} } from "${mod}";\nexport type K${i} = T${i};`).join("\n");
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === entry ? source : readFile(f));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === entry || fileExists(f);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang) => (f === entry ? ts.createSourceFile(f, source, lang) : getSourceFile(f, lang));
  const program = ts.createProgram([entry], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(entry)!;
  const moduleSymbol = checker.getSymbolAtLocation(sf)!;
  const exports = checker.getExportsOfModule(moduleSymbol);

  const shapes: Shape[] = [{}]; // index 0: leaf
  const memo = new Map<ts.Type, number>();

  const shapeOf = (type: ts.Type): number => {
    type = checker.getNonNullableType(type);
    if (type.isUnion() || type.isIntersection()) {
      // Unions of literals/primitives are leaves; unions and intersections of object types
      // (the models encode oneOf/allOf this way) merge their fields.
      const parts = type.types.map(shapeOf).filter((s) => s !== 0);
      if (parts.length === 0) return 0;
      if (parts.length === 1) return parts[0]!;
      const merged: Shape = {};
      for (const p of parts) Object.assign(merged, shapes[p]);
      shapes.push(merged);
      return shapes.length - 1;
    }
    if (checker.isArrayType(type)) return shapeOf(checker.getTypeArguments(type as ts.TypeReference)[0]!);
    if (!(type.flags & ts.TypeFlags.Object)) return 0;
    const cached = memo.get(type);
    if (cached !== undefined) return cached;
    const shape: Shape = {};
    shapes.push(shape);
    const id = shapes.length - 1;
    memo.set(type, id);
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    if (index) shape["*"] = shapeOf(index.type);
    for (const prop of checker.getPropertiesOfType(type)) {
      const name = prop.getName();
      if (name === "metadata" || name === "status") continue; // metadata is checked apart; status is ours to write
      shape[name] = shapeOf(checker.getTypeOfSymbol(prop));
    }
    // Opaque objects (e.g. `{}` or JSON values) accept anything.
    if (Object.keys(shape).length === 0) shape["*"] = 0;
    return id;
  };

  const kinds: Record<string, number> = {};
  KINDS.forEach(([key], i) => {
    const sym = exports.find((e) => e.getName() === `K${i}`)!;
    kinds[key] = shapeOf(checker.getDeclaredTypeOfSymbol(sym));
  });
  return JSON.stringify({ kinds, shapes }) + "\n";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OUTPUT, generateKnownFields());
  process.stdout.write(`wrote ${OUTPUT}\n`);
}
