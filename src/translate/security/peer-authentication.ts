// PeerAuthentication -> the inbound mTLS mode of a Workload's port.
// TODO(issue 4): implemented by the security translator; STRICT until then.

import type { IrMtlsMode } from "../../ir/index.js";
import type { Model, WorkloadModel } from "../../model/index.js";

export function mtlsModeFor(_model: Model, _workload: WorkloadModel, _port: number): IrMtlsMode {
  return "STRICT";
}
