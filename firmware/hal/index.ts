// The hardware abstraction: narrow interfaces the core needs (docs/architecture.md §2, hal/); platforms implement them.

/** The byte link to the host (USB CDC, UART, a pty in the simulator). */
export interface Transport {
  /** 'binary': COBS frames ending in 0x00. 'armor': the same packets as '*'base64 lines (Kaluma's REPL owns USB CDC). */
  readonly mode: 'binary' | 'armor';
  /** Queue bytes for the host. Must not throw; a platform drops what it cannot send. */
  write(bytes: Uint8Array): void;
  /** Register the one receiver of bytes from the host. */
  onData(receiver: (bytes: Uint8Array) => void): void;
}

/** A cryptographically strong random source (hardware TRNG on boards; seeded only in the simulator's test mode). */
export interface Rng {
  fill(buf: Uint8Array): void;
}

export type TimerHandle = unknown;

/** Time is timers and a monotonic millisecond count, never wall-clock dates. */
export interface Clock {
  /** Milliseconds since boot, monotonic. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(h: TimerHandle): void;
}

/** The user-presence button. */
export interface Presence {
  isPressed(): boolean;
}

export interface Led {
  set(on: boolean): void;
}

/**
 * NOR flash as pages (docs/storage.md §2): write may only clear bits (1→0) on aligned words;
 * erase sets a whole page to 0xFF.
 */
export interface Flash {
  readonly pageSize: number;
  readonly pageCount: number;
  readonly wordSize: number;
  /** A fresh copy the caller owns (the store zeroes what it read from secret records). */
  read(page: number, offset: number, length: number): Uint8Array;
  write(page: number, offset: number, data: Uint8Array): void;
  erase(page: number): void;
}

/**
 * A counter that only goes up and that a flash image does not carry (OTP fuses, a secure element's counter, a file the
 * simulator keeps beside its image): the store binds every transaction to it, so an old image written back is
 * refused (core/rollback.ts, docs/storage.md §12). An implementation must take one advance per store transaction.
 */
export interface MonotonicCounter {
  read(): number;
  /** Raise the counter to `value` (never lowers it); throws if the hardware refuses. */
  advance(value: number): void;
}

export type EcCurve = 'p256' | 'secp256k1';

/**
 * An expanded Ed25519 signing key (RFC 8032 §5.1.5: the scalar s, the prefix, and A = s·B), made once per key so
 * that a signature costs one base-point multiply instead of two. `publicKey` is computed from the seed, never
 * taken from storage: signing with a wrong A and the same nonce would give the private key away.
 */
export interface Ed25519Signer {
  readonly publicKey: Uint8Array;
  /**
   * RFC 8032 §5.1.6 over `message`, with `dom` (RFC 8032 §2 dom2(x, y)) hashed first into both r and k: absent, PureEdDSA,
   * byte for byte what ed25519Sign(message, seed) gives; dom2(1, context) with message = SHA-512(M), Ed25519ph (§5.1).
   */
  sign(message: Uint8Array, dom?: Uint8Array): Uint8Array;
  /** PureEdDSA over a message that arrives in pieces, read twice (docs/protocol.md §4.1): the same signature as sign(). */
  twoPass(): Ed25519TwoPass;
  /** Zero the prefix and drop the scalar; sign() throws afterwards. */
  wipe(): void;
}

/**
 * RFC 8032 §5.1.6 in two passes over a message M that is never whole in memory: pass 1 hashes r = H(prefix ‖ M),
 * commit() makes R = r·B, pass 2 hashes k = H(R ‖ A ‖ M), finish() gives R ‖ S. It holds its own copy of the prefix
 * and scalar, wiped by finish() and wipe(). It does not know whether both passes read the same M: the caller must
 * check that before it lets the signature out (core/commands/sign_update.ts), or two different messages under one
 * r would give the private key away.
 */
export interface Ed25519TwoPass {
  nonce(chunk: Uint8Array): void;
  commit(): void;
  challenge(chunk: Uint8Array): void;
  finish(): Uint8Array;
  wipe(): void;
}

/** A hash fed in pieces (noble's Hash shape): update() any number of times, then digest() once. */
export interface StreamHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

/**
 * Crypto primitives. The default is noble (the same code on every target); a platform may install an
 * accelerated one. Every function throws on invalid key material; the core turns that into INVALID_KEY.
 */
export interface Crypto {
  readonly name: string;
  sha256(data: Uint8Array): Uint8Array;
  /** SHA-256 fed in pieces (the streamed SIGN's check, docs/protocol.md §4.1). */
  sha256Stream(): StreamHash;
  /** RFC 8032: public key from the 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  /** Optional: expand a seed once for repeated signing (see Ed25519Signer); absent where Ed25519 is unavailable. */
  ed25519Expand?(seed: Uint8Array): Ed25519Signer;
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** RFC 7748 §4.1's birational map: the X25519 public key (u) of an Ed25519 public key; throws if it is not a valid point. */
  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array;
  /** The X25519 private key of an Ed25519 seed: the first 32 bytes of SHA-512(seed) (RFC 8032 §5.1.5; X25519 clamps them). */
  ed25519SeedToX25519(seed: Uint8Array): Uint8Array;
  /** Uncompressed SEC1 (65 bytes). Throws if the scalar is 0 or ≥ n. */
  ecdsaPublicKey(curve: EcCurve, privateKey: Uint8Array): Uint8Array;
  /** Raw r‖s over a 32-byte digest, low-S. */
  ecdsaSign(curve: EcCurve, digest: Uint8Array, privateKey: Uint8Array): Uint8Array;
  ecdsaVerify(curve: EcCurve, signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean;
  /** RFC 7748 X25519 public key (u-coordinate) of a 32-byte scalar. */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** RFC 7748 X25519; throws on an all-zero result (low-order peer point, RFC 7748 §6.1). */
  x25519(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  /** P-256 ECDH: x-coordinate of priv·Peer; throws if the peer point is not on the curve. */
  ecdhP256(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  /** RFC 2104 HMAC-SHA-256 (32 bytes). */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** RFC 5869 HKDF-SHA-256 (extract then expand); throws if length is not 1..8160 (255 · 32). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** RFC 8018 PBKDF2 with HMAC-SHA-256; throws if iterations or length is not a positive integer. */
  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array;
  /**
   * RFC 8439 ChaCha20-Poly1305: ciphertext ‖ 16-byte tag. Throws unless the key is 32 bytes and the nonce 12.
   * The caller owns nonce uniqueness per key (a repeated nonce reveals the XOR of two plaintexts and the MAC key).
   */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /**
   * RFC 8439 ChaCha20-Poly1305 open: the plaintext, or undefined when the tag does not verify (tampered data, wrong
   * key, nonce or AAD) or the input is shorter than a tag. The tag is checked before anything is decrypted.
   * Throws unless the key is 32 bytes and the nonce 12.
   */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

/** Everything the core may touch, injected by the platform entry point (OpenSK `Env`, trussed `Platform`). */
export interface Env {
  /** Platform name reported by INFO: 'node-sim', 'kaluma', 'espruino', 'generic'. */
  readonly platform: string;
  readonly transport: Transport;
  readonly rng: Rng;
  readonly clock: Clock;
  readonly crypto: Crypto;
  readonly presence?: Presence;
  readonly led?: Led;
  readonly flash?: Flash;
  /** Absent where the board has none: INFO then says rollbackProtection false (docs/security.md §9). */
  readonly monotonic?: MonotonicCounter;
  /** Largest packet the device accepts (≥ 2048); defaults to 2048. */
  readonly maxPacket?: number;
}
