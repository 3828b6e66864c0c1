// The simulator's link faults and RNG on their own: exact bytes in, exact bytes out.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { FaultPipe, LinkFaults, createRandomSource, parseSeed } from '../../sim/index.ts';

const b = (...x: number[]) => Uint8Array.from(x);
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe('FaultPipe (binary delimiter 0x00)', () => {
  it('passes everything through untouched when no fault is queued', () => {
    const p = new FaultPipe(0);
    const x = b(1, 2, 0, 3, 0);
    expect(p.apply(x)).toBe(x);
  });

  it('drops exactly the next frame, even when it arrives in pieces or shares a chunk', () => {
    const p = new FaultPipe(0);
    p.add('drop', 'frame', 1);
    expect(hex(p.apply(b(0, 1, 2)))).toBe('00'); // a bare delimiter is not a frame: it passes and is not counted
    expect(hex(p.apply(b(3, 0, 4, 5, 0)))).toBe('040500');
    expect(p.pending).toBe(0);
  });

  it('corrupts one byte in the middle of a frame, never into a delimiter', () => {
    for (let v = 0; v < 256; v++) {
      if (v === 0) continue;
      const p = new FaultPipe(0);
      p.add('corrupt', 'frame', 1);
      const out = p.apply(b(9, v, 9, 0));
      expect(out.length).toBe(4);
      expect(out[3]).toBe(0);
      expect([...out.subarray(0, 3)].includes(0)).toBe(false);
      expect([...out].filter((x, i) => x !== [9, v, 9, 0][i]).length).toBe(1);
    }
  });

  it('duplicates a frame, and byte faults count bytes across chunks, in the order queued', () => {
    const p = new FaultPipe(0);
    p.add('duplicate', 'frame', 1);
    p.add('drop', 'byte', 2);
    p.add('corrupt', 'byte', 1);
    p.add('duplicate', 'byte', 1);
    expect(hex(p.apply(b(7, 0, 1)))).toBe('07000700');
    expect(hex(p.apply(b(2, 3, 4, 5)))).toBe(hex(b(3 ^ 0x55, 4, 4, 5)));
    expect(p.pending).toBe(0);
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => new FaultPipe(0).add('drop', 'byte', 0)).toThrow(RangeError);
  });

  it('LinkFaults: armor mode counts lines, default direction is device to host', () => {
    const f = new LinkFaults('armor');
    f.dropFrames(1);
    const line = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    expect(f.toDevice.apply(line('*AAAA\n'))).toEqual(line('*AAAA\n'));
    expect(Buffer.from(f.toHost.apply(line('*AAAA\n*BBBB\n'))).toString()).toBe('*BBBB\n');
    f.corruptBytes(1, 'toDevice');
    expect(f.pending).toBe(1);
    f.clear();
    expect(f.pending).toBe(0);
  });
});

describe('simulator RNG', () => {
  it('a seed gives the stream SHA-256(seed ‖ counter64be) ‖ …, however it is read', () => {
    const seed = '00ff10';
    const want = Buffer.concat(
      [0n, 1n, 2n].map((i) => {
        const ctr = Buffer.alloc(8);
        ctr.writeBigUInt64BE(i);
        return createHash('sha256').update(Buffer.from(seed, 'hex')).update(ctr).digest();
      }),
    );
    const one = new Uint8Array(96);
    createRandomSource(seed)(one);
    expect(hex(one)).toBe(want.toString('hex'));
    const r = createRandomSource(seed);
    const parts = [5, 27, 1, 63].map((n) => {
      const u = new Uint8Array(n);
      r(u);
      return Buffer.from(u);
    });
    expect(Buffer.concat(parts).toString('hex')).toBe(want.toString('hex'));
  });

  it('without a seed it is the OS CSPRNG; bad seeds are refused', () => {
    const r = createRandomSource();
    const a = new Uint8Array(32);
    const c = new Uint8Array(32);
    r(a);
    r(c);
    expect(hex(a)).not.toBe(hex(c));
    // reads that cross the 4 KiB pool boundary, and one larger than the pool, are all fresh bytes
    const chunks = [3000, 3000, 5000].map((n) => {
      const u = new Uint8Array(n);
      r(u);
      return u;
    });
    const seen = new Set<string>();
    for (const u of chunks) for (let i = 0; i + 16 <= u.length; i += 16) seen.add(hex(u.subarray(i, i + 16)));
    expect(seen.size).toBe(Math.floor(3000 / 16) * 2 + Math.floor(5000 / 16));
    expect(parseSeed('0xAbCd')).toEqual(b(0xab, 0xcd));
    for (const bad of ['', 'abc', 'zz', '00'.repeat(65)]) {
      expect(parseSeed(bad)).toBeUndefined();
      expect(() => createRandomSource(bad)).toThrow(/seed must be 1 to 64 bytes of hex/);
    }
  });
});
