// `tinyhsm ca init|sign|csr` and `tinyhsm jwt sign`: an X.509 CA, PKCS#10 requests and JWTs on device keys (docs/x509.md); tools/cli.ts dispatches to them.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { InfoResponse } from '../firmware/protocol/index.ts';
import { HsmError, type HsmClient, type RoleName } from '../host/index.ts';
import { signJwt } from '../host/jwt.ts';
import { caInit, caSign, csr, csrSignatureValid, fingerprint256, readCsr } from '../host/x509.ts';

/** The options of tools/cli.ts these commands read (its Opts has them all). */
export interface X509Opts {
  device?: string;
  trust?: boolean;
  json?: boolean;
  key?: string;
  subject?: string;
  days?: string;
  'path-len'?: string;
  out?: string;
  ca?: string;
  csr?: string;
  pub?: string;
  dns?: string[];
  ip?: string[];
  server?: boolean;
  client?: boolean;
  payload?: string;
  'payload-file'?: string;
  kid?: string;
  exp?: string;
}

/** What these commands take from tools/cli.ts: its login wrapper, its usage error (exit 2) and its failure (exit 1). */
export interface X509CliHelpers<O extends X509Opts> {
  withLogin<T>(opts: O, need: RoleName, what: string, fn: (c: HsmClient, info: InfoResponse) => Promise<T>): Promise<T>;
  usage(message: string): Error;
  failure(status: string, message: string): Error;
}

/**
 * The x509 and JWT helpers refuse input with BAD_ARGUMENT (a subject that names nothing, a file that is not what its
 * flag takes, a key that cannot do what is asked); for the CLI that is a usage mistake, exit 2 (README "exit codes").
 */
async function asUsage<T>(p: Promise<T>, usage: (m: string) => Error): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof HsmError && e.code === 'BAD_ARGUMENT') throw usage(e.message.replace(/^BAD_ARGUMENT: /, ''));
    throw e;
  }
}

type Result = { json: object; text: string };

function keyIdOf(value: string | undefined, usage: (m: string) => Error): number {
  if (value === undefined) throw usage('--key ID is required (`tinyhsm list` shows the ids)');
  if (!/^[1-9]\d{0,8}$/.test(value)) throw usage(`--key must be a key id (a whole number ≥ 1), got "${value}"`);
  return Number(value);
}

function wholeNumber(value: string | undefined, flag: string, min: number, usage: (m: string) => Error): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw usage(`--${flag} must be a whole number ≥ ${min}, got "${value}"`);
  return Number(value);
}

/** A file's bytes, or a usage error that names the flag and why the file could not be read. */
function readInput(path: string, flag: string, usage: (m: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usage(`--${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
}

/** PEM text as a string (what the x509 helpers parse as PEM), anything else as DER bytes. */
function pemOrDer(b: Buffer): string | Uint8Array {
  const text = b.toString('latin1');
  return text.includes('-----BEGIN') ? text : new Uint8Array(b);
}

/** Write PEM to --out (a new file renamed over it, so it is never half written), or return it to print. */
function output(pem: string, out: string | undefined, summary: string, json: object): Result {
  if (out === undefined) return { json: { ...json, pem }, text: pem.trimEnd() };
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, pem, { flag: 'wx' });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${out}: ${(e as Error).message}`);
  }
  return { json: { ...json, out }, text: `${summary} → ${out}` };
}

function certificateJson(keyId: number, cert: { subject: string; issuer: string; serialNumber: string; notBefore: Date; notAfter: Date }, fp: string) {
  return {
    key: keyId,
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint: fp,
  };
}

/** `tinyhsm ca init | sign | csr` (docs/x509.md §2–§4). */
export async function caCommand<O extends X509Opts>(positionals: string[], opts: O, h: X509CliHelpers<O>): Promise<Result> {
  const sub = positionals[0];
  const usage = h.usage;
  if (sub === 'init') {
    const keyId = keyIdOf(opts.key, usage);
    if (opts.subject === undefined) throw usage('ca init needs --subject "CN=…" (the CA\'s name, RFC 4514 text)');
    const days = wholeNumber(opts.days, 'days', 1, usage);
    const pathLength = wholeNumber(opts['path-len'], 'path-len', 0, usage);
    return h.withLogin(opts, 'user', 'ca init', async (c) => {
      const cert = await asUsage(caInit(c, keyId, { subject: opts.subject!, days, pathLength }), usage);
      const json = certificateJson(keyId, cert, fingerprint256(cert));
      return output(
        cert.toString('pem') + '\n',
        opts.out,
        `CA certificate "${cert.subject}" for key ${keyId}, valid until ${json.notAfter}, SHA-256 ${json.fingerprint}`,
        json,
      );
    });
  }
  if (sub === 'sign') {
    const keyId = keyIdOf(opts.key, usage);
    if (opts.ca === undefined) throw usage('ca sign needs --ca FILE: the CA certificate `tinyhsm ca init` made for --key');
    if ((opts.csr === undefined) === (opts.pub === undefined))
      throw usage('ca sign needs exactly one of --csr FILE (a PKCS#10 request) and --pub FILE (a PUBLIC KEY PEM, with --subject)');
    if (opts.pub !== undefined && opts.subject === undefined) throw usage('ca sign --pub needs --subject "CN=…": a bare public key names nobody');
    const days = wholeNumber(opts.days, 'days', 1, usage);
    const ca = readInput(opts.ca, 'ca', usage).toString('latin1');
    const request = opts.csr !== undefined ? pemOrDer(readInput(opts.csr, 'csr', usage)) : undefined;
    // RFC 2986 §3: the requester proves it holds the key; a CSR that fails is refused before the device is asked
    if (request !== undefined && !csrSignatureValid(await asUsage(readCsr(request), usage)))
      throw h.failure(
        'VERIFICATION_FAILED',
        `the CSR's signature does not verify: ${opts.csr} was altered, or not signed by the key it names; nothing was signed`,
      );
    const publicKey = opts.pub !== undefined ? pemOrDer(readInput(opts.pub, 'pub', usage)) : undefined;
    return h.withLogin(opts, 'user', 'ca sign', async (c) => {
      const cert = await asUsage(
        caSign(c, keyId, {
          ca,
          csr: request,
          publicKey,
          subject: opts.subject,
          dns: opts.dns,
          ip: opts.ip,
          days,
          serverAuth: opts.server === true,
          clientAuth: opts.client === true,
        }),
        usage,
      );
      const json = certificateJson(keyId, cert, fingerprint256(cert));
      return output(
        cert.toString('pem') + '\n',
        opts.out,
        `certificate "${cert.subject}" issued by "${cert.issuer}", valid until ${json.notAfter}, serial ${json.serial}`,
        json,
      );
    });
  }
  if (sub === 'csr') {
    const keyId = keyIdOf(opts.key, usage);
    if (opts.subject === undefined) throw usage('ca csr needs --subject "CN=…" (the name to request, RFC 4514 text)');
    return h.withLogin(opts, 'user', 'ca csr', async (c) => {
      const req = await asUsage(csr(c, keyId, { subject: opts.subject!, dns: opts.dns, ip: opts.ip }), usage);
      return output(req.toString('pem') + '\n', opts.out, `certificate request "${req.subject}" signed by key ${keyId}`, { key: keyId, subject: req.subject });
    });
  }
  throw usage(sub === undefined ? 'ca needs a subcommand: init, sign or csr (`tinyhsm ca --help`)' : `unknown ca subcommand "${sub}": use init, sign or csr`);
}

/** `tinyhsm jwt sign` (docs/x509.md §5). */
export async function jwtCommand<O extends X509Opts>(positionals: string[], opts: O, h: X509CliHelpers<O>): Promise<Result> {
  const usage = h.usage;
  if (positionals[0] !== 'sign')
    throw usage(positionals[0] === undefined ? 'jwt needs a subcommand: sign (`tinyhsm jwt --help`)' : `unknown jwt subcommand "${positionals[0]}": use sign`);
  const keyId = keyIdOf(opts.key, usage);
  if ((opts.payload === undefined) === (opts['payload-file'] === undefined))
    throw usage('jwt sign needs exactly one of --payload JSON and --payload-file FILE');
  const text = opts.payload !== undefined ? opts.payload : readInput(opts['payload-file']!, 'payload-file', usage).toString('utf8');
  let payload: { [claim: string]: unknown };
  try {
    payload = JSON.parse(text) as { [claim: string]: unknown };
  } catch (e) {
    throw usage(`the payload is not JSON: ${(e as Error).message}`);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    throw usage('the payload must be a JSON object of claims, e.g. {"sub":"alice"}');
  const exp = wholeNumber(opts.exp, 'exp', 1, usage);
  if (exp !== undefined) {
    // RFC 7519 §4.1.4 / §4.1.6: NumericDate seconds; --exp counts from now, and iat records now unless the payload has one
    const now = Math.floor(Date.now() / 1000);
    payload = { ...payload, iat: payload.iat ?? now, exp: now + exp };
  }
  return h.withLogin(opts, 'user', 'jwt sign', async (c) => {
    const token = await asUsage(signJwt(c, keyId, payload, { kid: opts.kid }), usage);
    const alg = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')).alg as string;
    return { json: { key: keyId, alg, token }, text: token };
  });
}
