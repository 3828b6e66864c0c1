// Prepares a bundle for a JerryScript 2.4 static snapshot: literals the engine cannot keep in flash are rewritten, and the magic-string list the snapshot and the image share is built.
//
// A static snapshot (jerry-snapshot generate --static) runs its byte code in place and copies nothing into the heap,
// so every literal in it must be a "direct" value (jerry-core/api/jerry-snapshot.c static_snapshot_add_compiled_code):
//   * strings: magic strings only, i.e. JerryScript's own (lit-magic-strings.inc.h) or the external ones an embedder
//     registers with jerry_register_magic_strings; both the snapshot tool and the image must register the SAME list
//     (a magic string is stored as its index), sorted by byte length and then by bytes (lit_magic_strings_ex_set);
//   * numbers: integers within JerryScript's direct range, -2^27 .. 2^27-1 (ecma-globals.h ECMA_INTEGER_NUMBER_MIN/MAX);
//   * no regular expression literals, no BigInt literals, no tagged templates (their objects live in the heap);
//   * and, though the tool accepts them, no arrow functions: JerryScript 2.4 reads a static arrow function's byte code
//     pointer at the wrong offset (ecma_op_function_get_compiled_code casts every static function object to
//     ecma_static_function_t, but an arrow is an ecma_static_arrow_function_t, whose pointer comes after `this` and
//     new.target), so the first call of one crashes the engine; tools/build.mjs has esbuild lower them.
// rewriteForStaticSnapshot moves each other number into one variable at the top of the bundle, computed once from a
// string, so a hot loop reads a variable instead of converting again: `Number("0xffffffff")` gives exactly the
// literal's value (ECMA-262 §7.1.4.1.1 StringToNumber). A call, because JerryScript's parser folds `+"…"` back into
// a number literal; hexadecimal for integers, because a decimal string such as "4294967290" is an array index, which
// JerryScript keeps as a number-string in the heap (ecma_new_ecma_string_from_utf8), never as a magic string. A
// property key becomes a computed key [variable] (the same key: ECMA-262 §7.1.19 ToPropertyKey). It refuses regular
// expressions, BigInt literals, tagged templates and arrow functions.
import ts from 'typescript';

/** JerryScript's direct integer range on 32-bit values (ecma-globals.h, ECMA_DIRECT_SHIFT 4). */
export const DIRECT_MIN = -0x8000000;
export const DIRECT_MAX = 0x7ffffff;

const isDirectNumber = (v) => Number.isInteger(v) && v >= DIRECT_MIN && v <= DIRECT_MAX && !Object.is(v, -0);

/**
 * The bundle with every non-direct number literal replaced by a variable declared right after the directive prologue.
 * Returns { code, constants: [{ name, value }] }. Throws on what a static snapshot cannot hold and this cannot rewrite.
 */
export function rewriteForStaticSnapshot(source, fileName = 'bundle.js') {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2020, true, ts.ScriptKind.JS);
  const refused = [];
  const edits = [];
  const names = new Map();
  // a prefix that no identifier of the bundle starts with, so the new variables shadow nothing and are shadowed by nothing
  let prefix = '__snapN';
  while (source.includes(prefix)) prefix += '_';
  const nameOf = (value) => {
    const key = String(value);
    if (!names.has(key)) names.set(key, prefix + names.size);
    return names.get(key);
  };
  const where = (n) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
    return `${fileName}:${line + 1}:${character + 1}`;
  };
  const visit = (n) => {
    if (ts.isNumericLiteral(n)) {
      const value = Number(n.text);
      if (!isDirectNumber(value)) {
        const p = n.parent;
        const isKey =
          (ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isPropertyDeclaration(p)) &&
          p.name === n;
        edits.push({ start: n.getStart(sf), end: n.getEnd(), text: isKey ? `[${nameOf(value)}]` : nameOf(value) });
      }
    } else if (ts.isBigIntLiteral(n)) refused.push(`${where(n)}: BigInt literal ${n.text} (write BigInt("…") in the source)`);
    else if (ts.isRegularExpressionLiteral(n)) refused.push(`${where(n)}: regular expression literal ${n.text}`);
    else if (ts.isTaggedTemplateExpression(n)) refused.push(`${where(n)}: tagged template`);
    else if (ts.isArrowFunction(n))
      refused.push(`${where(n)}: arrow function (JerryScript 2.4 crashes calling a static one; build with supported.arrow false)`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  if (refused.length) throw new Error(`a static snapshot cannot hold these literals:\n  ${refused.join('\n  ')}`);
  let code = source;
  for (const e of edits.sort((a, b) => b.start - a.start)) code = code.slice(0, e.start) + e.text + code.slice(e.end);
  const constants = [...names].map(([value, name]) => ({ name, value: Number(value) }));
  if (constants.length) {
    // after the directive prologue ("use strict"), which must stay first to keep its meaning
    let at = 0;
    for (const st of sf.statements) {
      if (!(ts.isExpressionStatement(st) && ts.isStringLiteral(st.expression))) break;
      at = st.getEnd();
    }
    // `at` is unchanged by the edits: a directive holds no number literal
    const text = (v) => (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? '0x' + v.toString(16) : String(v));
    const decl = 'var ' + constants.map((c) => `${c.name}=Number(${JSON.stringify(text(c.value))})`).join(',') + ';';
    code = code.slice(0, at) + decl + code.slice(at);
  }
  return { code, constants };
}

/**
 * Reads jerry-snapshot's literal list format (`litdump --format list`, `generate --load-literals-list-format`):
 * "<byte length> <bytes>\n" per string. Strings are returned as latin1 so that one char is one byte.
 */
export function parseLiteralList(buf) {
  const s = buf.toString('latin1');
  const out = [];
  let i = 0;
  while (i < s.length) {
    const m = /^(\d+) /.exec(s.slice(i, i + 16));
    if (!m) throw new Error(`literal list: bad entry at byte ${i}`);
    const len = Number(m[1]);
    out.push(s.substr(i + m[0].length, len));
    i += m[0].length + len + 1;
  }
  return out;
}

/** Sorted, without duplicates, as lit_magic_strings_ex_set requires: by byte length, then by bytes (strings are latin1). */
export function sortMagicStrings(strings) {
  return [...new Set(strings)].sort((a, b) => (a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0));
}

/** The list format of parseLiteralList, as a Buffer. */
export function formatLiteralList(strings) {
  return Buffer.from(strings.map((s) => `${s.length} ${s}\n`).join(''), 'latin1');
}

/** A C string literal with every byte that is not plain printable ASCII escaped (octal, so no hex run-on). */
export function cString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + s[i];
    else if (c >= 0x20 && c < 0x7f && !(c === 0x3f && s[i + 1] === '?')) out += s[i];
    else out += '\\' + c.toString(8).padStart(3, '0');
  }
  return out + '"';
}
