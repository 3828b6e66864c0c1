// A message to sign that need not fit in memory: its length and its bytes from the start, as often as a signature needs to read them (docs/protocol.md §4.1).
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { HsmError } from './errors.ts';

/**
 * A message of `length` bytes. `chunks()` yields it from the start, in pieces of any size, every time it is called:
 * a streamed Ed25519 signature reads it three times (the host's SHA-256, then the device's two passes), an ECDSA or
 * Ed25519ph one once (the host hashes it).
 */
export interface MessageSource {
  readonly length: number;
  chunks(): AsyncIterable<Uint8Array>;
}

/** A message held in memory. */
export function bytesSource(bytes: Uint8Array): MessageSource {
  return {
    length: bytes.length,
    async *chunks() {
      yield bytes;
    },
  };
}

/**
 * A file read from disk on each pass, in constant memory. A file whose length or bytes change between passes fails:
 * here when the length differs, and on the device (STREAM_MISMATCH) when the bytes do, so no signature is made.
 */
export function fileSource(path: string): MessageSource {
  const length = statSync(path).size;
  return {
    length,
    async *chunks() {
      let n = 0;
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 16 })) {
        n += (chunk as Buffer).length;
        if (n > length) break;
        yield chunk as Buffer;
      }
      if (n !== length) throw new HsmError('BAD_ARGUMENT', `${path} changed while it was being signed (${length} bytes, then ${n}): nothing was signed`);
    },
  };
}

/** The message's hash with node:crypto ('sha256' for ECDSA and the stream's check, 'sha512' for Ed25519ph). */
export async function hashSource(src: MessageSource, alg: 'sha256' | 'sha512', onBytes?: (n: number) => void): Promise<Uint8Array> {
  const h = createHash(alg);
  let n = 0;
  for await (const chunk of src.chunks()) {
    h.update(chunk);
    n += chunk.length;
    if (onBytes) onBytes(chunk.length);
  }
  if (n !== src.length) throw new HsmError('BAD_ARGUMENT', `the message gave ${n} bytes, not the ${src.length} it said: nothing was signed`);
  return new Uint8Array(h.digest());
}

/** The message in pieces of exactly `size` bytes (the last one shorter), whatever sizes the source yields. */
export async function* pieces(src: MessageSource, size: number): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(size);
  let fill = 0;
  for await (const chunk of src.chunks()) {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(size - fill, chunk.length - at);
      buf.set(chunk.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === size) {
        yield buf.slice();
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.slice(0, fill);
}

/** The whole message in memory (for a message small enough to go in one SIGN). */
export async function readAll(src: MessageSource): Promise<Uint8Array> {
  const out = new Uint8Array(src.length);
  let n = 0;
  for await (const chunk of src.chunks()) {
    if (n + chunk.length > out.length) throw new HsmError('BAD_ARGUMENT', `the message gave more than the ${src.length} bytes it said: nothing was signed`);
    out.set(chunk, n);
    n += chunk.length;
  }
  if (n !== src.length) throw new HsmError('BAD_ARGUMENT', `the message gave ${n} bytes, not the ${src.length} it said: nothing was signed`);
  return out;
}
