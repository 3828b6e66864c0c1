// The simulator's RNG: the OS CSPRNG by default, or a reproducible SHA-256 counter stream from a test seed (docs/architecture.md §2).
import { createHash, randomFillSync } from 'node:crypto';

/** Fills a buffer (of any realm) with random bytes. */
export type RandomFill = (buf: Uint8Array) => void;

/** Parse a seed given as hex; returns undefined when it is not 1..64 bytes of hex. */
export function parseSeed(hex: string): Uint8Array | undefined {
  const s = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (s.length === 0 || s.length % 2 !== 0 || s.length > 128 || !/^[0-9a-fA-F]+$/.test(s)) return undefined;
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

/**
 * Without a seed: node:crypto (the OS CSPRNG), as a board's TRNG would be, drawn 4 KiB at a time (noble asks
 * for a few bytes per signature for blinding; one call into OpenSSL per request cost more than the bytes).
 * With a seed: block i = SHA-256(seed ‖ i as 8-byte big-endian), concatenated. Deterministic, so a test
 * run with the same seed and the same requests sees the same device id and keys. Never for real keys.
 */
export function createRandomSource(seedHex?: string): RandomFill {
  if (seedHex === undefined) return pooledCsprng();
  const seed = parseSeed(seedHex);
  if (!seed) throw new Error(`seed must be 1 to 64 bytes of hex, got "${seedHex}"`);
  let counter = 0;
  let block = new Uint8Array(0);
  let used = 0;
  const ctr = new Uint8Array(8);
  return (buf) => {
    for (let i = 0; i < buf.length; i++) {
      if (used === block.length) {
        new DataView(ctr.buffer).setBigUint64(0, BigInt(counter++));
        block = createHash('sha256').update(seed).update(ctr).digest();
        used = 0;
      }
      buf[i] = block[used++];
    }
  };
}

/** The OS CSPRNG through a 4 KiB pool; bytes handed out are zeroed in the pool so no copy of them lingers. */
function pooledCsprng(): RandomFill {
  const pool = new Uint8Array(4096);
  let used = pool.length;
  return (buf) => {
    if (buf.length > pool.length) {
      randomFillSync(buf);
      return;
    }
    let o = 0;
    while (o < buf.length) {
      if (used === pool.length) {
        randomFillSync(pool);
        used = 0;
      }
      const n = Math.min(buf.length - o, pool.length - used);
      buf.set(pool.subarray(used, used + n), o);
      pool.fill(0, used, used + n);
      used += n;
      o += n;
    }
  };
}
