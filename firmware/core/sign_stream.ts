// A streamed Ed25519 signature in progress: the message read twice, each pass checked against the SHA-256 that SIGN_BEGIN named, so one nonce never signs two messages (docs/protocol.md §4.1).
import type { Ed25519TwoPass, StreamHash } from '../hal/index.ts';
import type { KeyRecord } from './keystore.ts';

/**
 * Held by the session that opened it (SessionState.work), so a logout, the session's end or a new SIGN_BEGIN wipes it.
 * The nonce r comes from pass 1's bytes and the challenge from pass 2's; both passes must hash to `expect`, which
 * makes them the same message, or the signature is never released: an r used over two messages would give the
 * private key away (RFC 8032 §8.1 on why the nonce is derived from the message).
 */
export class SignStream {
  /** 1 while hashing the nonce, 2 while hashing the challenge. */
  pass = 1;
  /** Bytes this pass has received. */
  offset = 0;
  constructor(
    readonly key: KeyRecord,
    readonly length: number,
    readonly expect: Uint8Array,
    readonly signer: Ed25519TwoPass,
    public check: StreamHash,
  ) {}

  wipe(): void {
    this.signer.wipe();
  }
}
