// What JerryScript 2.4 (Kaluma 1.2) lacks and the bundle's dependencies call at load; imported first by entry.ts, before noble.
//
// Object.hasOwn (ES2022) is absent in JerryScript 2.4 and @noble/hashes calls it at module load (measured in the
// Kaluma twin: "TypeError: Expected a function."). Defined as the spec's steps (ECMA-262 §20.1.2.13: ToObject, then
// HasOwnProperty), non-enumerable like the built-ins.
const O = Object as unknown as { hasOwn?: (o: unknown, k: PropertyKey) => boolean };
if (typeof O.hasOwn !== 'function') {
  Object.defineProperty(Object, 'hasOwn', {
    value: function hasOwn(o: unknown, k: PropertyKey): boolean {
      if (o === null || o === undefined) throw new TypeError('Cannot convert undefined or null to object');
      return Object.prototype.hasOwnProperty.call(Object(o), k);
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });
}
