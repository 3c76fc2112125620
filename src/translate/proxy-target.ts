// The proxy a policy lands on: a Gateway's proxy or a Workload's sidecar.

import type { GatewayModel, WorkloadModel } from "../model/index.js";

export type ProxyTarget = { readonly kind: "gateway"; readonly gateway: GatewayModel } | { readonly kind: "sidecar"; readonly workload: WorkloadModel };
