// X25519 on the device (RFC 7748): public key (u-coordinate) from the 32-byte scalar, ECDH with a 32-byte peer key refusing an all-zero result, no signing, and its known answer.
import type { Crypto } from '../../hal/index.ts';
import type { Mechanism } from './index.ts';
import { Reason } from '../../protocol/reasons.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import { check, h } from './kat.ts';

// RFC 7748 §6.1: Alice's key pair, Bob's public key and the shared secret K.
const X_A_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const X_A_PK = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const X_B_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const X_K = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

/** RFC 7748 §6.1 through the HAL, and the refusal of a low-order peer (its name is what tools/engines/kaluma/probe_bundle.mjs marks). */
function katX25519(c: Crypto): void {
  const a = h(X_A_SK);
  check(equalBytes(c.x25519PublicKey(a), h(X_A_PK)), "Alice's public key of RFC 7748 §6.1 does not match");
  check(equalBytes(c.x25519(a, h(X_B_PK)), h(X_K)), 'shared secret of RFC 7748 §6.1 does not match');
  // RFC 7748 §6.1: an all-zero result (low-order peer point, here u = 0) must be refused.
  let refused = false;
  try {
    c.x25519(a, new Uint8Array(32));
  } catch (e) {
    refused = true;
  }
  check(refused, 'a low-order public key (u = 0) is not refused');
}

export const x25519: Mechanism = {
  // any 32 bytes are a valid scalar, clamped when used (RFC 7748 §5)
  publicKey(c, sk) {
    return c.x25519PublicKey(sk);
  },
  ecdh: {
    peerLengths: [32],
    // the HAL throws on an all-zero shared secret (RFC 7748 §6.1)
    refused: Reason.PEER_KEY_LOW_ORDER,
    derive(c, sk, peer) {
      return c.x25519(sk, peer);
    },
  },
  selftest(c) {
    katX25519(c);
  },
};
