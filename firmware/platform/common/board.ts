// The `board` global that an embedding host (the simulator, an XS or QuickJS runtime) gives the node and generic bundles.
import type { Clock, Crypto, Env, Transport } from '../../hal/index.ts';

/**
 * What a host program puts on globalThis.board before it evaluates the bundle. It is the whole of the
 * device's contact with the outside: no require, no process, no fs (DESIGN.md "Simulator").
 */
export interface BoardGlobals {
  /** Send bytes to the host link. */
  serialWrite(bytes: Uint8Array): void;
  /** Register the receiver of bytes from the host link. */
  onSerialData(cb: (bytes: Uint8Array) => void): void;
  /** Fill with random bytes from the board's TRNG (or the simulator's RNG). */
  random(buf: Uint8Array): void;
  /** Milliseconds since boot. */
  millis(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** 'binary' (default) or 'armor'. */
  linkMode?: 'binary' | 'armor';
  buttonPressed?(): boolean;
  led?(on: boolean): void;
  /** Largest packet to accept (default 2048). */
  maxPacket?: number;
}

/** Wrap the board globals into the HAL Env. */
export function envFromBoard(board: BoardGlobals, platform: string, crypto: Crypto): Env {
  const transport: Transport = {
    mode: board.linkMode === 'armor' ? 'armor' : 'binary',
    write: (bytes) => board.serialWrite(bytes),
    onData: (cb) => board.onSerialData(cb),
  };
  const clock: Clock = {
    now: () => board.millis(),
    setTimer: (ms, fn) => board.setTimer(ms, fn),
    clearTimer: (h) => board.clearTimer(h),
  };
  const buttonPressed = board.buttonPressed;
  const led = board.led;
  return {
    platform,
    transport,
    rng: { fill: (buf) => board.random(buf) },
    clock,
    crypto,
    presence: buttonPressed ? { isPressed: () => buttonPressed() } : undefined,
    led: led ? { set: (on) => led(on) } : undefined,
    maxPacket: board.maxPacket,
  };
}
