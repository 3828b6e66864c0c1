// Installs globalThis.crypto.getRandomValues from the HAL RNG so that noble keeps scalar blinding (docs/architecture.md §3).
//
// Why this module exists: @noble/curves probes `crypto.getRandomValues` ONCE, while its modules are being
// evaluated. If the probe fails, noble silently falls back to unblinded scalar multiplication and
// unblinded nonce inversion. Boards (Kaluma, Espruino, XS, QuickJS) have no WebCrypto, so a platform
// entry point must, before any module that loads noble is evaluated:
//   1. import this module (it installs the shim if the engine has no getRandomValues), and
//   2. call setGlobalRandomSource(fill) with the board's TRNG,
// both from a module that is imported before firmware/hal/crypto_noble.ts (ES modules evaluate in
// import order, and esbuild keeps that order in a bundle). Where the engine already has a real
// getRandomValues (Node, browsers), nothing is replaced.

/** Fills a buffer with cryptographically strong random bytes (the HAL Rng's fill). */
export type RandomFill = (buf: Uint8Array) => void;

let source: RandomFill | undefined;

/** Set (or replace) the random source behind the shim. Call it before noble loads (see above). */
export function setGlobalRandomSource(fill: RandomFill): void {
  source = fill;
}

/** Whether a source has been set (platform entry points assert it before they load noble). */
export function hasGlobalRandomSource(): boolean {
  return source !== undefined;
}

/**
 * WebCrypto-shaped getRandomValues that delegates to the source set by setGlobalRandomSource.
 * Throws (as WebCrypto does for bad input) rather than ever returning non-random bytes.
 */
export function getRandomValues<T extends ArrayBufferView | null>(array: T): T {
  if (source === undefined)
    throw new Error('crypto.getRandomValues: no random source yet; the platform must call setGlobalRandomSource() before loading noble');
  if (array === null || !ArrayBuffer.isView(array)) throw new TypeError('crypto.getRandomValues: expected an integer typed array');
  // WebCrypto §10.1.1 limits a single request to 65536 bytes; keep the same contract.
  if (array.byteLength > 65536) throw new RangeError('crypto.getRandomValues: at most 65536 bytes per call');
  source(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return array;
}

/**
 * Install the shim on `target` (globalThis by default) unless it already has a working
 * crypto.getRandomValues. Returns true when the shim was installed.
 */
export function installRandomShim(target: { crypto?: unknown } = globalThis as { crypto?: unknown }): boolean {
  const existing = target.crypto as { getRandomValues?: unknown } | undefined;
  if (existing && typeof existing.getRandomValues === 'function') return false;
  if (existing && typeof existing === 'object') {
    // An object without getRandomValues (some engines expose a partial crypto): add the method.
    try {
      (existing as { getRandomValues: typeof getRandomValues }).getRandomValues = getRandomValues;
      if (typeof (existing as { getRandomValues?: unknown }).getRandomValues === 'function') return true;
    } catch (e) {
      // frozen or accessor-only: fall through and replace the whole object
    }
  }
  try {
    target.crypto = { getRandomValues };
  } catch (e) {
    Object.defineProperty(target, 'crypto', { value: { getRandomValues }, configurable: true, writable: true });
  }
  return true;
}

installRandomShim();
