// The command table (firmware/protocol/commands/): each command declared once, in its own file, and no second list of commands anywhere else in the tree.
import { describe, it, expect, expectTypeOf } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, nameOf } from '../../firmware/protocol/codes.ts';
import * as protocol from '../../firmware/protocol/commands/index.ts';
import {
  COMMANDS,
  Gate,
  needsRole,
  sentInClear,
  type InfoResponse,
  type KeyListResponse,
  type KeySetPolicyRequest,
  type SignRequest,
} from '../../firmware/protocol/commands/index.ts';
import { HANDLERS } from '../../firmware/core/dispatch.ts';
import { tsFiles } from '../helpers/files.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const camel = (name: string) =>
  name
    .toLowerCase()
    .split('_')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');

/** Request fields that carry a PIN or a private key (docs/security.md §4, §5): a command with one is `secret`. */
const SECRET_FIELD = /^(pin|userPin|soPin|oldPin|newPin|newUserPin|privateKey|auditorPin)$/;

describe('COMMANDS', () => {
  it('has exactly the codes of codes.ts Command, each the declaration its own file exports as <Name>Command', () => {
    const exported = protocol as unknown as { [k: string]: unknown };
    for (const [name, code] of Object.entries(Command)) {
      expect(COMMANDS[code], name).toBeDefined();
      expect(COMMANDS[code], name + ' is ' + camel(name) + 'Command').toBe(exported[camel(name) + 'Command']);
    }
    expect(Object.keys(COMMANDS).length).toBe(Object.keys(Command).length);
  });

  it('gives every command one known gate, and the device a handler for each', () => {
    const gates = new Set(Object.values(Gate).filter((v) => typeof v === 'number'));
    for (const [name, code] of Object.entries(Command)) {
      expect(gates.has(COMMANDS[code].gate), name).toBe(true);
      expect(typeof HANDLERS[code], name).toBe('function');
    }
  });

  it('marks secret exactly the commands whose request carries a PIN or a private key', () => {
    for (const [name, code] of Object.entries(Command)) {
      const carries = COMMANDS[code].request.some((f) => SECRET_FIELD.test(f.name));
      expect(COMMANDS[code].secret === true, name).toBe(carries);
    }
  });

  it('derives the host rules from the gate: in the clear only what the device serves without a session, a role only where the gate asks one', () => {
    const clear = Object.entries(Command)
      .filter(([, c]) => sentInClear(COMMANDS[c]))
      .map(([n]) => n);
    expect(clear.sort()).toEqual(['ECHO', 'INFO', 'SESSION_MESSAGE', 'SESSION_OPEN']);
    const noRole = Object.entries(Command)
      .filter(([, c]) => !needsRole(COMMANDS[c]))
      .map(([n]) => n);
    expect(noRole.sort()).toEqual([
      'APPROVAL_CHALLENGE',
      'ECHO',
      'INFO',
      'INIT',
      'LOGIN',
      'LOGOUT',
      'RANDOM',
      'RESET',
      'SESSION_CLOSE',
      'SESSION_MESSAGE',
      'SESSION_OPEN',
    ]);
  });
});

describe('message types', () => {
  // type-level: `npm run typecheck` fails when a derived type drifts from these (schema.ts MessageOf)
  it('are derived from the schemas: required fields as they are, optional ones with ?, lists and nested policies', () => {
    expectTypeOf<SignRequest>().toEqualTypeOf<{ keyId: number; message?: Uint8Array; digest?: Uint8Array; prehashed?: boolean; context?: Uint8Array }>();
    expectTypeOf<KeySetPolicyRequest>().toEqualTypeOf<{
      keyId: number;
      capabilities?: number;
      sensitive?: boolean;
      touch?: boolean;
      challenge?: Uint8Array;
      approvals?: { officer: number; signature: Uint8Array }[];
      protected?: boolean;
    }>();
    expectTypeOf<KeyListResponse['keys'][number]['neverExtractable']>().toEqualTypeOf<boolean>();
    expectTypeOf<InfoResponse['selftestFailures']>().toEqualTypeOf<{ [k: number]: string } | undefined>();
    expectTypeOf<InfoResponse['algorithms']>().toEqualTypeOf<number[]>();
  });
});

describe('no second list of commands', () => {
  // A set, array or map naming two or more commands outside the table is a copy that drifts (it did: the host once
  // sent SESSION_CLOSE in the clear while the device gated it as session-only). The table itself, the device's
  // handler map and tests that enumerate commands on purpose are the exceptions.
  const ALLOWED = new Set(['firmware/protocol/commands/index.ts', 'firmware/core/dispatch.ts']);
  const SOURCES = [
    ...tsFiles(ROOT + 'firmware'),
    ...tsFiles(ROOT + 'host'),
    ...tsFiles(ROOT + 'sim'),
    ...tsFiles(ROOT + 'tools'),
    ...tsFiles(ROOT + 'test/helpers'),
  ];

  it('lists nothing outside protocol/commands/index.ts and the handler map', () => {
    const found: string[] = [];
    for (const path of SOURCES) {
      const rel = path.slice(ROOT.length);
      if (ALLOWED.has(rel)) continue;
      const text = readFileSync(path, 'utf8');
      // a literal ([…], new Set([…]), {…}) holding two or more Command.X entries
      const literal = /[[{]([^[\]{}]*?\bCommand\.[A-Z_]+\b[^[\]{}]*?\bCommand\.[A-Z_]+\b[^[\]{}]*)[\]}]/g;
      for (const m of text.matchAll(literal)) {
        // two commands in one comparison chain (a === Command.X || a === Command.Y) are not a list; a literal is
        if (/\|\||&&|===|!==/.test(m[1])) continue;
        found.push(rel + ': ' + m[0].slice(0, 120));
      }
    }
    expect(found).toEqual([]);
  });

  it('test helpers name commands, never by bare number', () => {
    const found: string[] = [];
    for (const path of tsFiles(ROOT + 'test/helpers')) {
      const text = readFileSync(path, 'utf8');
      for (const m of text.matchAll(/\b(call|callClear|send|requestFrame|requestBodyOf|run)\((0x[0-9a-f]+|\d+)\b/gi)) {
        found.push(path.slice(ROOT.length) + ': ' + m[0] + ' (' + String(nameOf(Command, Number(m[2]))) + ')');
      }
    }
    expect(found).toEqual([]);
  });
});
