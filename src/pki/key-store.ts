// Private keys at rest. Files are created with mode 0600 from the first byte (written to
// a fresh temporary file opened 0600, then renamed), never chmod-ed afterwards, so no
// window exists where another user could read them. CA keys can be stored as encrypted
// PKCS#8 with a passphrase from an environment variable or a file. Neither keys nor
// passphrases ever appear in messages: errors name the file only.

import { createPrivateKey, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { KeyPassphraseError, PemInvalidError, UsageError } from "../errors.js";

export interface PassphraseSource {
  /** Name of an environment variable holding the passphrase. */
  readonly env?: string | undefined;
  /** A file whose first line is the passphrase. */
  readonly file?: string | undefined;
}

/** Resolves a passphrase source; undefined when none is configured. */
export function readPassphrase(source: PassphraseSource, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (source.env !== undefined && source.file !== undefined) throw new UsageError("give either --passphrase-env or --passphrase-file, not both");
  if (source.env !== undefined) {
    const value = env[source.env];
    if (value === undefined || value === "") throw new UsageError(`environment variable ${source.env} is empty or not set`);
    return value;
  }
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(source.file, "utf8");
    } catch {
      throw new UsageError(`cannot read passphrase file ${source.file}`);
    }
    const value = text.split(/\r?\n/)[0] ?? "";
    if (value === "") throw new UsageError(`passphrase file ${source.file} is empty`);
    return value;
  }
  return undefined;
}

/** Writes `data` to `path` through a new file created with `mode`, replacing any old file. */
export function writeFileWithMode(path: string, data: string, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  // "wx": fail rather than reuse a file someone else created with looser permissions.
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** PKCS#8 PEM, encrypted (AES-256-CBC, PBES2) when a passphrase is given. */
export function privateKeyToPem(key: KeyObject, passphrase?: string): string {
  if (passphrase !== undefined) {
    return key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }) as string;
  }
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

export function writePrivateKey(path: string, key: KeyObject, passphrase?: string): void {
  writeFileWithMode(path, privateKeyToPem(key, passphrase), 0o600);
}

/** Certificates are public: 0644. */
export function writePublicFile(path: string, text: string): void {
  writeFileWithMode(path, text, 0o644);
}

export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || /Proc-Type:\s*4,ENCRYPTED/.test(pem);
}

export function readPrivateKey(path: string, passphrase?: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch {
    throw new PemInvalidError(path, "cannot read the private key file");
  }
  return parsePrivateKey(pem, path, passphrase);
}

export function parsePrivateKey(pem: string, where: string, passphrase?: string): KeyObject {
  const encrypted = isEncryptedKeyPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new KeyPassphraseError(where, "the key is encrypted; give --passphrase-env VAR or --passphrase-file FILE");
  }
  try {
    return createPrivateKey(encrypted ? { key: pem, format: "pem", passphrase: passphrase ?? "" } : { key: pem, format: "pem" });
  } catch {
    // The library's message is dropped on purpose: only say what a person can act on.
    if (encrypted) throw new KeyPassphraseError(where, "wrong passphrase or damaged key");
    throw new PemInvalidError(where, "not a readable PEM private key");
  }
}
