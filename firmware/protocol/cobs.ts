// Consistent Overhead Byte Stuffing (Cheshire & Baker 1999): removes every 0x00 so that 0x00 can end a frame.
import { Status } from './codes.ts';
import { type Result, ok, err } from './result.ts';
import { Reason } from './reasons.ts';

/** COBS-encode (no trailing delimiter). Output is at most len + ceil(len/254) + 1 bytes. */
export function cobsEncode(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length + Math.ceil(src.length / 254) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = src[i];
      code++;
      if (code === 0xff) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** COBS-decode one frame's bytes (without the 0x00 delimiter). Never throws. */
export function cobsDecode(src: Uint8Array): Result<Uint8Array> {
  const out = new Uint8Array(src.length);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const code = src[i++];
    if (code === 0) return err(Status.INVALID_FRAME, Reason.COBS_ZERO);
    const end = i + code - 1;
    if (end > src.length) return err(Status.INVALID_FRAME, Reason.COBS_OVERRUN);
    for (; i < end; i++) {
      if (src[i] === 0) return err(Status.INVALID_FRAME, Reason.COBS_ZERO);
      out[o++] = src[i];
    }
    if (code !== 0xff && i < src.length) out[o++] = 0;
  }
  return ok(out.subarray(0, o));
}
