// The ES2015+ library pieces Espruino lacks that the protocol code, noble's sha256 and TypeScript's ES5 helpers use; installed only where missing.
//
// Espruino (espruino/Espruino src/jswrap_*.c) has no Map, Symbol, RangeError, Number.isSafeInteger/isInteger,
// Array.from, TypedArray.from/of, ArrayBuffer.isView, Object.hasOwn or Object.freeze (noble's sha256 calls the
// last two while its module loads, and throws RangeError on bad input), no Array.prototype.slice to call on other
// values, its typed arrays' slice returns a plain Array, and its Math.pow is inexact (measured in the 2v29 twin). The bundle is downlevelled to ES5 by tools/build.mjs,
// whose for-of and spread helpers look for `Symbol.iterator`: the minimal Symbol below gives them a string key,
// and MapPolyfill implements iteration under it, so `for (const [k, v] of map)` works too.
// Maps here are small (CBOR maps of a few integer keys, key slots), so linear search is fine.
// Must be evaluated before any module that uses these (entry.ts imports it right after hal/global_crypto.ts).

type AnyGlobal = { [name: string]: unknown };

const G = globalThis as unknown as AnyGlobal;

let symbolCount = 0;
if (typeof G.Symbol === 'undefined') {
  const SymbolPolyfill = function (description?: string): string {
    symbolCount++;
    return '@@' + (description === undefined ? '' : String(description)) + '@' + symbolCount;
  } as unknown as { (d?: string): string; iterator: string; asyncIterator: string };
  SymbolPolyfill.iterator = '@@iterator';
  SymbolPolyfill.asyncIterator = '@@asyncIterator';
  G.Symbol = SymbolPolyfill;
}

const ITERATOR = (G.Symbol as { iterator: string }).iterator;

interface IterResult<T> {
  value: T | undefined;
  done: boolean;
}

function arrayIterator<T>(items: T[]): { next(): IterResult<T> } {
  let i = 0;
  const it = {
    next(): IterResult<T> {
      if (i < items.length) return { value: items[i++], done: false };
      return { value: undefined, done: true };
    },
  };
  (it as unknown as AnyGlobal)[ITERATOR] = function (this: unknown) {
    return this;
  };
  return it;
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b);
}

/** Insertion-ordered Map with SameValueZero keys (ECMA-262 §24.1), enough of it for our code and noble's. */
class MapPolyfill<K, V> {
  private ks: K[] = [];
  private vs: V[] = [];
  constructor(entries?: ArrayLike<[K, V]> | null) {
    if (entries) for (let i = 0; i < entries.length; i++) this.set(entries[i][0], entries[i][1]);
  }
  private indexOf(k: K): number {
    for (let i = 0; i < this.ks.length; i++) if (sameValueZero(this.ks[i], k)) return i;
    return -1;
  }
  get size(): number {
    return this.ks.length;
  }
  get(k: K): V | undefined {
    const i = this.indexOf(k);
    return i < 0 ? undefined : this.vs[i];
  }
  set(k: K, v: V): this {
    const i = this.indexOf(k);
    if (i < 0) {
      this.ks.push(k);
      this.vs.push(v);
    } else this.vs[i] = v;
    return this;
  }
  has(k: K): boolean {
    return this.indexOf(k) >= 0;
  }
  delete(k: K): boolean {
    const i = this.indexOf(k);
    if (i < 0) return false;
    this.ks.splice(i, 1);
    this.vs.splice(i, 1);
    return true;
  }
  clear(): void {
    this.ks = [];
    this.vs = [];
  }
  forEach(fn: (v: V, k: K, m: MapPolyfill<K, V>) => void, thisArg?: unknown): void {
    const ks = this.ks.slice();
    const vs = this.vs.slice();
    for (let i = 0; i < ks.length; i++) fn.call(thisArg, vs[i], ks[i], this);
  }
  keys(): { next(): IterResult<K> } {
    return arrayIterator(this.ks.slice());
  }
  values(): { next(): IterResult<V> } {
    return arrayIterator(this.vs.slice());
  }
  entries(): { next(): IterResult<[K, V]> } {
    const out: [K, V][] = [];
    for (let i = 0; i < this.ks.length; i++) out.push([this.ks[i], this.vs[i]]);
    return arrayIterator(out);
  }
}
(MapPolyfill.prototype as unknown as AnyGlobal)[ITERATOR] = MapPolyfill.prototype.entries;

if (typeof G.Map === 'undefined') G.Map = MapPolyfill;

const NumberCtor = Number as unknown as AnyGlobal;
if (typeof NumberCtor.MAX_SAFE_INTEGER !== 'number') NumberCtor.MAX_SAFE_INTEGER = 9007199254740991;
if (typeof NumberCtor.isInteger !== 'function') NumberCtor.isInteger = (x: unknown): boolean => typeof x === 'number' && isFinite(x) && Math.floor(x) === x;
if (typeof NumberCtor.isSafeInteger !== 'function')
  NumberCtor.isSafeInteger = (x: unknown): boolean => typeof x === 'number' && isFinite(x) && Math.floor(x) === x && Math.abs(x) <= 9007199254740991;

const ArrayCtor = Array as unknown as AnyGlobal;
if (typeof ArrayCtor.from !== 'function')
  ArrayCtor.from = (src: ArrayLike<unknown>, map?: (v: unknown, i: number) => unknown): unknown[] => {
    const out: unknown[] = [];
    const n = src && typeof src.length === 'number' ? src.length : 0;
    for (let i = 0; i < n; i++) out.push(map ? map(src[i], i) : src[i]);
    return out;
  };

// Espruino finds its built-in methods on the value itself ([].slice), not as properties of Array.prototype, which
// is an empty object there (src/jsparse.c, jspGetNamedFieldInParents: prototype properties first, then built-ins).
// TypeScript's __spreadArray calls Array.prototype.slice.call(x); the native slice serves arrays, `arguments` (an
// Array in Espruino) and typed arrays alike, and putting the same native function on the prototype changes
// nothing for `arr.slice()`.
const ArrayProto = Array.prototype as unknown as AnyGlobal;
if (typeof ArrayProto.slice !== 'function') ArrayProto.slice = ([] as unknown as AnyGlobal).slice;

const ArrayBufferCtor = ArrayBuffer as unknown as AnyGlobal;
if (typeof ArrayBufferCtor.isView !== 'function')
  ArrayBufferCtor.isView = (x: unknown): boolean =>
    !!x && typeof x === 'object' && (x as { buffer?: unknown }).buffer instanceof ArrayBuffer && typeof (x as { byteLength?: unknown }).byteLength === 'number';

// A typed array's slice returns a plain Array in Espruino (ECMA-262 §23.2.3.27 says: a new typed array of the same
// type, with its own copy of the bytes). Code that slices key material and then wipes or sets bytes relies on that.
// One function of each kind serves every typed array type through `this` (a closure per type would cost JsVars
// for each of the eight).
type TypedCtor = AnyGlobal & (new (n: ArrayLike<number> | number) => ArrayLike<number>);
function typedSlice(this: { constructor: TypedCtor; length: number; subarray(s: number, e: number): ArrayLike<number> }, start?: number, end?: number) {
  const C = this.constructor;
  return new C(this.subarray(start === undefined ? 0 : start, end === undefined ? this.length : end));
}
function typedFrom(this: TypedCtor, src: ArrayLike<number>, map?: (v: number, i: number) => number) {
  const n = src && typeof src.length === 'number' ? src.length : 0;
  const out = new this(n) as unknown as { [i: number]: number };
  for (let i = 0; i < n; i++) out[i] = map ? map(src[i], i) : src[i];
  return out;
}
function typedOf(this: TypedCtor) {
  // eslint-disable-next-line prefer-rest-params
  return new this(arguments as unknown as ArrayLike<number>);
}

const typedArrays = [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array];
for (let t = 0; t < typedArrays.length; t++) {
  const C = typedArrays[t] as unknown as TypedCtor;
  if (typeof C !== 'function') continue;
  if (!((new C(1) as unknown as { slice(): unknown }).slice() instanceof C)) (C.prototype as AnyGlobal).slice = typedSlice;
  if (typeof C.from !== 'function') C.from = typedFrom;
  if (typeof C.of !== 'function') C.of = typedOf;
}

// Espruino's Math.pow is inexact even for small powers of two (2v29: Math.pow(2, 16) !== 65536, Math.pow(2, 32) ===
// 4294967295.99999666), and the ES5 pass turns every ** into Math.pow (noble's pbkdf2 bounds dkLen by 2 ** 32 - 1).
// An integer exponent is computed by repeated squaring, exact whenever the result fits a double's 53 bits as
// ECMA-262 §6.1.6.1.3 (Number::exponentiate) gives it; anything else goes to Espruino's own.
const nativePow = Math.pow;
if (nativePow(2, 16) !== 65536)
  (Math as unknown as AnyGlobal).pow = function (x: number, y: number): number {
    if (y !== Math.floor(y) || Math.abs(y) > 1100) return nativePow(x, y);
    let r = 1;
    let b = x;
    let n = y < 0 ? -y : y;
    while (n > 0) {
      if (n % 2 === 1) r *= b;
      b *= b;
      n = Math.floor(n / 2);
    }
    return y < 0 ? 1 / r : r;
  };

const ObjectCtor = Object as unknown as AnyGlobal;
if (typeof ObjectCtor.hasOwn !== 'function') ObjectCtor.hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
// Espruino cannot freeze; noble freezes its hash constructors only as hygiene.
if (typeof ObjectCtor.freeze !== 'function') ObjectCtor.freeze = <T>(o: T): T => o;

// Espruino's Object.assign throws "Expecting Object, got Function" for a function target (src/jswrap_object.c);
// noble's createHasher assigns its info onto the hash function.
const nativeAssign = ObjectCtor.assign as ((t: object, ...s: object[]) => object) | undefined;
ObjectCtor.assign = function (target: Record<string, unknown>) {
  if (typeof target !== 'function' && nativeAssign) return nativeAssign.apply(Object, arguments as unknown as [object, ...object[]]);
  for (let a = 1; a < arguments.length; a++) {
    const src = arguments[a] as Record<string, unknown> | null | undefined;
    if (src == null) continue;
    const ks = Object.keys(src);
    for (let i = 0; i < ks.length; i++) target[ks[i]] = src[ks[i]];
  }
  return target;
};

if (typeof G.RangeError === 'undefined') {
  const RangeErrorPolyfill = function (this: { message: string }, message?: string) {
    this.message = message === undefined ? '' : String(message);
  } as unknown as { prototype: { name: string } };
  RangeErrorPolyfill.prototype = Object.create(Error.prototype);
  RangeErrorPolyfill.prototype.name = 'RangeError';
  G.RangeError = RangeErrorPolyfill;
}

export {};
