// The device: power-on self-tests, the flash store, its name and keys, and the frame loop on the transport (DESIGN.md "Wire protocol", "Storage"; issues 2 §3, 3 §4).
import type { Env } from '../hal/index.ts';
import { Alg, FrameType, PROTOCOL_VERSION, Status, nameOf, type StatusCode } from '../protocol/codes.ts';
import { crc32 } from '../protocol/crc32.ts';
import { DEFAULT_MAX_PACKET, FrameReader, encodeArmorLine, encodeFrame, type Frame, type ReaderEvent } from '../protocol/frame.ts';
import { MAX_LIST, MAX_LABEL, MAX_PUBLIC_KEY, MAX_KEY_ID } from '../protocol/messages/limits.ts';
import type { DeviceContext } from './context.ts';
import { KeyStore } from './keystore.ts';
import { Store } from './store/index.ts';
import { RamFlash } from './ram_flash.ts';
import { loadOrCreateName } from './identity.ts';
import { runSelftests, type SelftestReport } from './selftest.ts';
import { dispatch, errorBody } from './dispatch.ts';
import { SessionTable, type SessionLimits } from './session/index.ts';

export const DEFAULT_SLOTS = 16;
export const DEFAULT_FIRMWARE_VERSION = '0.1.0';

export interface DeviceOptions {
  /** Number of key slots (default 16). Bounded so that a full KEY_LIST still fits in one packet. */
  slots?: number;
  firmwareVersion?: string;
  /** Session table limits (docs/session.md §6); tests lower them to reach the cap and the timeout quickly. */
  sessionLimits?: Partial<SessionLimits>;
}

/** The running device, as the platform entry point and tests see it. */
export interface Device {
  /** Random 16-byte id made at first boot and kept in flash (DESIGN.md "Identity"). */
  readonly deviceId: Uint8Array;
  /** The Ed25519 identity public key, the device's name; undefined where Ed25519 is not offered. */
  readonly identityPublicKey: Uint8Array | undefined;
  /** True when env.flash was absent and the store lives in RAM: nothing survives power-off. */
  readonly flashVolatile: boolean;
  /** Key records on flash that did not load (corrupt, unknown, or beyond the slots); left untouched. */
  readonly skippedRecords: number;
  /** Why the device id or identity is incomplete this boot, if it is; undefined normally. */
  readonly bootProblem: string | undefined;
  readonly selftest: SelftestReport;
  readonly maxPacket: number;
  readonly slots: number;
  readonly firmwareVersion: string;
}

// Worst-case encoded size of one KEY_LIST entry: map head, five keys, a 16-bit id, alg, a full label,
// origin and a 65-byte public key, each with its CBOR head.
const LIST_ENTRY_MAX = 1 + 5 + 3 + 2 + (2 + MAX_LABEL) + 2 + (2 + MAX_PUBLIC_KEY);
// header + CRC + status byte + {1: [ … ]} heads, plus the session envelope around the answer (issue 4 §1):
// outer status, map head, {1: counter ≤ 2^53} (1 + 9), {2: bytes} head (1 + 3) and the 16-byte tag
const LIST_OVERHEAD = 4 + 4 + 1 + 1 + 1 + 3 + (1 + 1 + 10 + 4 + 16);

/** The most slots whose full KEY_LIST answer still fits in one packet of this size. */
export function maxSlotsFor(maxPacket: number): number {
  const n = Math.floor((maxPacket - LIST_OVERHEAD) / LIST_ENTRY_MAX);
  return n < MAX_LIST ? n : MAX_LIST;
}

function frameTypeName(t: number): string {
  const n = nameOf(FrameType, t);
  return '0x' + (t < 16 ? '0' : '') + t.toString(16) + (n === undefined ? '' : ' (' + (n as string) + ')');
}

/**
 * Boot the device on an Env: self-tests first, then open the store on env.flash (a RAM flash when the
 * platform has none), load or make the device id and identity, load the keys, then serve frames from
 * env.transport. Throws on a platform configuration error (a maxPacket or slot count outside the
 * protocol's bounds), and when the flash itself throws (a power cut during boot: the board is off).
 */
export function startDevice(env: Env, opts?: DeviceOptions): Device {
  const maxPacket = env.maxPacket || DEFAULT_MAX_PACKET;
  if (!(maxPacket >= DEFAULT_MAX_PACKET && maxPacket <= 65535))
    throw new Error('startDevice: maxPacket must be in 2048..65535 (DESIGN.md "Wire protocol"), got ' + maxPacket);
  const slots = opts && opts.slots !== undefined ? opts.slots : DEFAULT_SLOTS;
  const slotLimit = maxSlotsFor(maxPacket);
  if (!(slots >= 1 && slots <= slotLimit && slots < MAX_KEY_ID))
    throw new Error('startDevice: slots must be in 1..' + slotLimit + ' for a ' + maxPacket + '-byte packet, got ' + slots);
  const firmwareVersion = opts && opts.firmwareVersion !== undefined ? opts.firmwareVersion : DEFAULT_FIRMWARE_VERSION;

  const selftest = runSelftests(env.crypto);
  const offered: boolean[] = [];
  for (let i = 0; i < selftest.passed.length; i++) offered[selftest.passed[i]] = true;

  // DESIGN.md "Storage": the store scans and recovers at open (a blank flash is formatted). Without a
  // flash HAL the same store runs on RAM, and INFO says so (flashVolatile).
  const flashVolatile = env.flash === undefined;
  const flash = env.flash !== undefined ? env.flash : new RamFlash();
  const store = Store.open(flash);
  const name = loadOrCreateName(env, store, offered[Alg.ED25519] === true);
  const keystore = KeyStore.load(slots, store);
  const deviceId = name.deviceId;
  const ctx: DeviceContext = {
    env,
    keystore,
    store,
    flashVolatile,
    selftest,
    offered,
    deviceId,
    identity: name.identity,
    firmwareVersion,
    maxPacket,
    sessions: new SessionTable(opts ? opts.sessionLimits : undefined),
  };

  const transport = env.transport;
  const armor = transport.mode === 'armor';
  const reader = new FrameReader(maxPacket, transport.mode);

  // One-entry reply cache (DESIGN.md "Wire protocol"): the host retransmits a timed-out request with the
  // same seq; the device resends its answer and never executes the request twice. The request is
  // remembered by CRC-32 and length of its body, not by its bytes: a KEY_IMPORT body holds a private key.
  let cacheValid = false;
  let cacheSeq = 0;
  let cacheCrc = 0;
  let cacheLen = 0;
  let cacheFrame: Uint8Array = new Uint8Array(0);

  function wire(type: number, seq: number, body: Uint8Array): Uint8Array {
    if (!armor) return encodeFrame(type, seq, body);
    const line = encodeArmorLine(type, seq, body);
    const out = new Uint8Array(line.length);
    for (let i = 0; i < line.length; i++) out[i] = line.charCodeAt(i);
    return out;
  }

  function send(bytes: Uint8Array): void {
    try {
      transport.write(bytes);
    } catch (e) {
      // the HAL says write must not throw; if a platform's does, the host's timeout recovers
    }
  }

  function sendError(seq: number, status: StatusCode, message: string): void {
    send(wire(FrameType.ERROR, seq, errorBody(status, message)));
  }

  function onRequest(f: Frame): void {
    const crc = crc32(f.body);
    if (cacheValid && f.seq === cacheSeq && f.body.length === cacheLen && crc === cacheCrc) {
      send(cacheFrame);
      return;
    }
    const out = wire(FrameType.RESPONSE, f.seq, dispatch(ctx, f.body));
    // The body is our own copy (decodePacket slices) and may hold a private key (KEY_IMPORT): wipe it.
    // The answer is not wiped: a platform may still be queueing it, and it is the host's data anyway.
    f.body.fill(0);
    cacheValid = true;
    cacheSeq = f.seq;
    cacheCrc = crc;
    cacheLen = f.body.length;
    cacheFrame = out;
    send(out);
  }

  function onEvent(ev: ReaderEvent): void {
    if (ev.kind === 'oversize') {
      // Without a sequence number the bytes may be console noise: drop them (the host's timeout recovers).
      if (ev.seq !== undefined)
        sendError(ev.seq, Status.PACKET_TOO_LARGE, 'frame larger than the maximum packet of ' + maxPacket + ' bytes (header, body and CRC)');
      return;
    }
    const f = ev.frame;
    if (f.version !== PROTOCOL_VERSION) {
      sendError(f.seq, Status.UNSUPPORTED_VERSION, 'protocol version ' + f.version + ' is not supported; this device speaks version ' + PROTOCOL_VERSION);
      return;
    }
    if (f.type === FrameType.REQUEST) onRequest(f);
    else if (f.type === FrameType.CANCEL) return; // nothing runs long yet (issue 2 §3)
    else sendError(f.seq, Status.INVALID_FRAME, 'a host may send REQUEST (0x01) or CANCEL (0x04) frames, not ' + frameTypeName(f.type));
  }

  transport.onData((bytes) => {
    let events: ReaderEvent[];
    try {
      events = reader.push(bytes);
    } catch (e) {
      return;
    }
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      try {
        onEvent(ev);
      } catch (e) {
        // Never let an exception reach the platform's receive loop; answer if we know whom to answer.
        const seq = ev.kind === 'frame' ? ev.frame.seq : ev.seq;
        if (seq !== undefined)
          try {
            sendError(seq, Status.INTERNAL_ERROR, 'the device hit an unexpected error handling this frame');
          } catch (e2) {
            // nothing more to do
          }
      }
    }
  });

  return {
    deviceId,
    identityPublicKey: name.identity === undefined ? undefined : name.identity.publicKey,
    flashVolatile,
    skippedRecords: keystore.skipped,
    bootProblem: name.problem,
    selftest,
    maxPacket,
    slots,
    firmwareVersion,
  };
}
