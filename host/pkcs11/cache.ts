// The public-object cache of the PKCS#11 server: per device id, the keys seen at the last C_Login, C_GenerateKeyPair or C_DestroyObject, so public objects can be listed before login (docs/pkcs11.md §4.2).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { MAX_ORIGINAL, type DeviceKey } from './objects.ts';

/** $TINYHSM_PKCS11_CACHE, else $XDG_STATE_HOME/tinyhsm/pkcs11-public.json, else ~/.local/state/tinyhsm/pkcs11-public.json. */
export function defaultCachePath(): string {
  if (process.env.TINYHSM_PKCS11_CACHE) return process.env.TINYHSM_PKCS11_CACHE;
  const state = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(state, 'tinyhsm', 'pkcs11-public.json');
}

interface CachedKey {
  keyId: number;
  alg: number;
  label: string;
  publicKey: string;
  capabilities: number;
  sensitive: boolean;
  neverExtractable: boolean;
  local: boolean;
  /** A digest-form key's original CKA_LABEL and CKA_ID in hex, recorded by the server that made it (docs/pkcs11.md §4.1); absent in older files. */
  p11Label?: string;
  p11Id?: string;
}

interface CacheFile {
  version: 1;
  devices: { [deviceId: string]: { updated: string; keys: CachedKey[] } };
}

const MAX_CACHE_FILE = 1 << 20;

/** An optional original: absent, or hex of at most MAX_ORIGINAL bytes. */
const isOriginal = (h: unknown) => h === undefined || (typeof h === 'string' && h.length <= 2 * MAX_ORIGINAL && /^([0-9a-f]{2})*$/.test(h));
const hexOf = (b: Uint8Array | undefined) => (b && b.length <= MAX_ORIGINAL ? Buffer.from(b).toString('hex') : undefined);

function isCachedKey(k: unknown): k is CachedKey {
  const o = k as CachedKey;
  return (
    typeof o === 'object' &&
    o !== null &&
    Number.isInteger(o.keyId) &&
    o.keyId > 0 &&
    o.keyId <= 0xffff &&
    Number.isInteger(o.alg) &&
    typeof o.label === 'string' &&
    typeof o.publicKey === 'string' &&
    /^([0-9a-f]{2}){32,65}$/.test(o.publicKey) &&
    Number.isInteger(o.capabilities) &&
    typeof o.sensitive === 'boolean' &&
    typeof o.neverExtractable === 'boolean' &&
    typeof o.local === 'boolean' &&
    isOriginal(o.p11Label) &&
    isOriginal(o.p11Id)
  );
}

/** The cache file: read whole, written whole through a temporary file renamed over it (mode 0600, directory 0700). */
export class PublicCache {
  constructor(
    readonly path: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  private read(): CacheFile {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return { version: 1, devices: {} };
    }
    try {
      if (text.length > MAX_CACHE_FILE) throw new Error(`over ${MAX_CACHE_FILE} bytes`);
      const f = JSON.parse(text) as CacheFile;
      if (f.version !== 1 || typeof f.devices !== 'object' || f.devices === null) throw new Error('not a version 1 cache');
      return f;
    } catch (e) {
      this.log(`the public-object cache ${this.path} is unreadable (${(e as Error).message}); it is rewritten at the next login`);
      return { version: 1, devices: {} };
    }
  }

  /** The keys cached for a device (hex id); empty when none are. */
  keys(deviceId: string): DeviceKey[] {
    const entry = this.read().devices[deviceId];
    if (!entry || !Array.isArray(entry.keys)) return [];
    return entry.keys.filter(isCachedKey).map(({ p11Label, p11Id, ...k }) => {
      const key: DeviceKey = { ...k, publicKey: new Uint8Array(Buffer.from(k.publicKey, 'hex')) };
      if (p11Label !== undefined) key.p11Label = new Uint8Array(Buffer.from(p11Label, 'hex'));
      if (p11Id !== undefined) key.p11Id = new Uint8Array(Buffer.from(p11Id, 'hex'));
      return key;
    });
  }

  /** Replace a device's keys (public data only: ids, labels, public keys, policy flags, and a digest-form key's original CKA_LABEL and CKA_ID). */
  store(deviceId: string, keys: readonly DeviceKey[]): void {
    const f = this.read();
    f.devices[deviceId] = {
      updated: new Date().toISOString(),
      keys: keys.map((k) => ({
        keyId: k.keyId,
        alg: k.alg,
        label: k.label,
        publicKey: Buffer.from(k.publicKey).toString('hex'),
        capabilities: k.capabilities,
        sensitive: k.sensitive,
        neverExtractable: k.neverExtractable,
        local: k.local,
        p11Label: hexOf(k.p11Label),
        p11Id: hexOf(k.p11Id),
      })),
    };
    const tmp = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, JSON.stringify(f, null, 1) + '\n', { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      this.log(`cannot write the public-object cache ${this.path}: ${(e as Error).message}`);
    }
  }
}
