// The one place that loads @peculiar/x509: reflect-metadata must be imported before it,
// and it is pointed at Node's WebCrypto (OpenSSL underneath) as its crypto provider.

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
