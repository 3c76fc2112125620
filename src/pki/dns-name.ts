// DNS SANs for gateway listener certificates: plain hostnames, optionally one leading
// wildcard label, checked before they reach a certificate.

import { UsageError } from "../errors.js";

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`, "i");

export function checkDnsName(name: string): string {
  if (name.length > 253 || !DNS_NAME.test(name)) throw new UsageError(`invalid DNS name ${JSON.stringify(name)}`);
  return name.toLowerCase();
}
