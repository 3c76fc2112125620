// RequestAuthentication -> IrJwtAuthn for one proxy.
// TODO(issue 4): implemented by the security translator; returns nothing until then.

import type { IrJwtAuthn } from "../../ir/index.js";
import type { Model } from "../../model/index.js";
import type { ProxyTarget } from "../proxy-target.js";

export function jwtAuthnFor(_model: Model, _target: ProxyTarget): IrJwtAuthn | undefined {
  return undefined;
}
