// The bench's SoftHSM2 reference (README "Speed"): a fresh token in a temporary directory, Ed25519 and P-256 token key pairs made in it, signed through pkcs11js.
//
// CI users compare tinyhsm's simulator with SoftHSM2, so the bench measures both in one run. Everything is optional:
// without Debian's softhsm2 or the pkcs11js package (a native addon; npm ci builds it, README "Speed") `open` returns
// why, and the bench prints that and skips the rows instead of failing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PKCS#11 v3.0 mechanism numbers pkcs11js 2.1 does not name (OASIS pkcs11t.h). */
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
/** DER of the curves' OIDs (CKA_EC_PARAMS): prime256v1 (RFC 5480) and id-Ed25519 (RFC 8410). */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');
/** The bench's own throwaway token's PINs (never a real token's). */
const PIN = 'bench-softhsm-pin';
const SO_PIN = 'bench-softhsm-so-pin';

const LIBRARY_PATHS = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];

export interface SoftHsmToken {
  /** Sign with the token's Ed25519 key (CKM_EDDSA over the message). */
  signEd25519(message: Uint8Array): Uint8Array;
  /** Sign with the token's P-256 key (CKM_ECDSA over a SHA-256 digest, raw r‖s): the host hashes, as HsmClient does. */
  signP256(digest: Uint8Array): Uint8Array;
  /** The keys' public points: raw Ed25519 (32 bytes) and uncompressed SEC1 (65 bytes). */
  readonly ed25519Public: Uint8Array;
  readonly p256Public: Uint8Array;
  readonly version: string;
  close(): void;
}

/** Open a fresh SoftHSM2 token, or say why not (nothing is left behind either way). */
export function openSoftHsm(): { token: SoftHsmToken } | { skipped: string } {
  const lib = process.env.SOFTHSM2_LIB || LIBRARY_PATHS.find((p) => existsSync(p));
  if (!lib) return { skipped: "libsofthsm2.so not found (install Debian's softhsm2, or set SOFTHSM2_LIB)" };
  let pkcs11js: typeof import('pkcs11js');
  try {
    pkcs11js = createRequire(import.meta.url)('pkcs11js');
  } catch (e) {
    return { skipped: `the pkcs11js package cannot be loaded (${(e as Error).message.split('\n')[0]}); run npm ci with npm_config_nodedir=/usr` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-bench-softhsm-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  // the library reads SOFTHSM2_CONF at C_Initialize, from this process's environment
  process.env.SOFTHSM2_CONF = conf;
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'tinyhsm-bench', '--so-pin', SO_PIN, '--pin', PIN], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    cleanup();
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    return {
      skipped:
        err.code === 'ENOENT'
          ? "softhsm2-util not found (install Debian's softhsm2)"
          : `softhsm2-util --init-token failed: ${String(err.stderr || err.message).trim()}`,
    };
  }
  const p = new pkcs11js.PKCS11();
  try {
    p.load(lib);
    p.C_Initialize();
  } catch (e) {
    cleanup();
    return { skipped: `${lib} does not load: ${(e as Error).message}` };
  }
  try {
    const info = p.C_GetInfo();
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === 'tinyhsm-bench');
    if (slot === undefined) throw new Error('the token softhsm2-util made is not in the slot list');
    const session = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    p.C_Login(session, pkcs11js.CKU_USER, PIN);
    const pair = (mechanism: number, params: Buffer) =>
      p.C_GenerateKeyPair(
        session,
        { mechanism },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: params },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
        ],
      );
    const ed = pair(CKM_EC_EDWARDS_KEY_PAIR_GEN, ED25519_PARAMS);
    const ec = pair(pkcs11js.CKM_EC_KEY_PAIR_GEN, P256_PARAMS);
    // CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 v3.0 §2.3.3)
    const point = (h: Buffer) => {
      const v = p.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_EC_POINT }])[0].value as Buffer;
      return new Uint8Array(v.subarray(2));
    };
    const sig = Buffer.alloc(64);
    const sign = (mechanism: number, key: Buffer, data: Uint8Array) => {
      p.C_SignInit(session, { mechanism }, key);
      return new Uint8Array(p.C_Sign(session, Buffer.from(data.buffer, data.byteOffset, data.byteLength), sig));
    };
    return {
      token: {
        signEd25519: (m) => sign(CKM_EDDSA, ed.privateKey, m),
        signP256: (d) => sign(pkcs11js.CKM_ECDSA, ec.privateKey, d),
        ed25519Public: point(ed.publicKey),
        p256Public: point(ec.publicKey),
        version: `SoftHSM ${info.libraryVersion.major}.${info.libraryVersion.minor}`,
        close() {
          try {
            p.C_CloseAllSessions(slot);
            p.C_Finalize();
          } finally {
            cleanup();
          }
        },
      },
    };
  } catch (e) {
    try {
      p.C_Finalize();
    } catch {
      // already finalized or never initialized: nothing to undo
    }
    cleanup();
    return { skipped: `SoftHSM2 token setup failed: ${(e as Error).message}` };
  }
}
