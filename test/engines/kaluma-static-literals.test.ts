// The static-snapshot preparation of a Kaluma bundle (tools/engines/kaluma/static_literals.mjs): rewritten numbers keep their values and keys, what a static snapshot cannot hold is refused, and the magic-string list is ordered as JerryScript requires.
import { describe, it, expect } from 'vitest';
import { runInNewContext } from 'node:vm';
// @ts-expect-error: a plain ES module of the build tools, without type declarations
import * as sl from '../../tools/engines/kaluma/static_literals.mjs';

const { rewriteForStaticSnapshot, parseLiteralList, formatLiteralList, sortMagicStrings, cString, DIRECT_MAX, DIRECT_MIN } = sl as {
  rewriteForStaticSnapshot(src: string, name?: string): { code: string; constants: { name: string; value: number }[] };
  parseLiteralList(b: Buffer): string[];
  formatLiteralList(s: string[]): Buffer;
  sortMagicStrings(s: string[]): string[];
  cString(s: string): string;
  DIRECT_MAX: number;
  DIRECT_MIN: number;
};

describe('rewriteForStaticSnapshot', () => {
  it('moves every number outside the direct range into a variable and keeps every value, key and directive', () => {
    const src = [
      '"use strict";',
      `var out = [4294967295, 0xffffffff, ${DIRECT_MAX}, ${DIRECT_MAX + 1}, -${-DIRECT_MIN}, -${-DIRECT_MIN + 1}, 0.5, 1e21, 9007199254740991, 1779033703];`,
      'var obj = { 4294967296: "key", 7: "small" };',
      'class C { 4294967290() { return 1; } }',
      'out.push(obj["4294967296"], obj[7], new C()[4294967290](), (function () { return this; })() === undefined);',
      'out;',
    ].join('\n');
    const expected = runInNewContext(src);
    const r = rewriteForStaticSnapshot(src);
    // 0xffffffff and 4294967295 are one value, one variable; DIRECT_MAX and -2^27 stay literals
    expect(r.constants.map((c) => c.value).sort((a, b) => a - b)).toEqual(
      [0.5, DIRECT_MAX + 1, -DIRECT_MIN + 1, 1779033703, 4294967290, 4294967295, 4294967296, 9007199254740991, 1e21].sort((a, b) => a - b),
    );
    expect(r.code.startsWith('"use strict";var ')).toBe(true);
    expect(runInNewContext(r.code)).toEqual(expected);
    // no decimal array-index string is left for a number (JerryScript keeps those in the heap, not as magic strings)
    for (const c of r.constants) if (Number.isSafeInteger(c.value)) expect(r.code).toContain(`Number("0x${c.value.toString(16)}")`);
  });

  it('leaves a bundle with only direct numbers as it is', () => {
    // (-134217728 would be rewritten: the literal is 134217728, the minus an operator)
    const src = 'var a = [0, 1, -1, 134217727, -134217727, "4294967295"];';
    expect(rewriteForStaticSnapshot(src)).toEqual({ code: src, constants: [] });
  });

  it('refuses what a static snapshot cannot hold, with where it is', () => {
    expect(() => rewriteForStaticSnapshot('var r = /a+/g;', 'b.js')).toThrow(/b\.js:1:9: regular expression literal/);
    expect(() => rewriteForStaticSnapshot('var n = 10n;')).toThrow(/BigInt literal 10n/);
    expect(() => rewriteForStaticSnapshot('var t = tag`x`;')).toThrow(/tagged template/);
    expect(() => rewriteForStaticSnapshot('var f = () => 1;')).toThrow(/arrow function/);
  });
});

describe('magic-string lists', () => {
  it('sorts by byte length, then by bytes, without duplicates', () => {
    expect(sortMagicStrings(['b', 'ab', 'a', 'B', 'ab', '\u00ff', 'aa'])).toEqual(['B', 'a', 'b', '\u00ff', 'aa', 'ab']);
  });

  it("reads and writes jerry-snapshot's list format, strings with newlines and spaces included", () => {
    const strings = ['a', 'x y', 'line\nbreak', ''];
    expect(formatLiteralList(strings).toString('latin1')).toBe('1 a\n3 x y\n10 line\nbreak\n0 \n');
    expect(parseLiteralList(formatLiteralList(strings))).toEqual(strings);
  });

  it('writes C string literals with quotes, backslashes, control and non-ASCII bytes and trigraph starts escaped', () => {
    expect(cString('plain')).toBe('"plain"');
    expect(cString('q"b\\\n\u00e9??=')).toBe('"q\\"b\\\\\\012\\351\\077?="');
  });
});
