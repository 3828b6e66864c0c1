// The code tables (firmware/protocol/codes.ts) and the message table: unique one-byte codes, a hint per status, a schema and a file per command.
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Status, FrameType, Alg, Origin, STATUS_HINTS, ALG_NAMES, PROTOCOL_VERSION, nameOf, algId } from '../../firmware/protocol/codes.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import pinned from '../vectors/code_tables_v1.json' with { type: 'json' };

const MESSAGES_DIR = fileURLToPath(new URL('../../firmware/protocol/commands/', import.meta.url));

const TABLES: { [name: string]: { [k: string]: number } } = { Command, Status, FrameType, Alg, Origin };

/** KEY_GENERATE → key_generate: the file naming rule for protocol/commands/*.ts. */
const snake = (name: string) => name.toLowerCase();

describe('code tables', () => {
  for (const [tableName, table] of Object.entries(TABLES)) {
    describe(tableName, () => {
      it('has unique codes', () => {
        const codes = Object.values(table);
        expect(codes.length).toBeGreaterThan(0);
        expect(new Set(codes).size).toBe(codes.length);
      });
      it('codes fit in one byte', () => {
        for (const [k, v] of Object.entries(table)) {
          expect(Number.isInteger(v), k).toBe(true);
          expect(v, k).toBeGreaterThanOrEqual(0);
          expect(v, k).toBeLessThanOrEqual(0xff);
        }
      });
      it('names are UPPER_SNAKE_CASE and nameOf inverts the table', () => {
        for (const [k, v] of Object.entries(table)) {
          expect(k).toMatch(/^[A-Z][A-Z0-9_]*$/);
          expect(nameOf(table, v)).toBe(k);
        }
      });
    });
  }

  it('nameOf gives undefined for a code that is not in the table', () => {
    const used = new Set<number>(Object.values(Command));
    let free = 0;
    while (used.has(free)) free++;
    expect(nameOf(Command, free)).toBeUndefined();
    expect(nameOf(Status, 0x100)).toBeUndefined();
  });

  it('status OK is 0 and every other status is non-zero (a zero status byte means success on the wire)', () => {
    expect(Status.OK).toBe(0);
    for (const [k, v] of Object.entries(Status)) if (k !== 'OK') expect(v, k).not.toBe(0);
  });

  it('command code 0 is never used (a zeroed body must not be a valid command)', () => {
    expect(Object.values(Command)).not.toContain(0);
  });

  it('frame types and the protocol version are non-zero single bytes', () => {
    expect(Object.values(FrameType)).not.toContain(0);
    expect(Number.isInteger(PROTOCOL_VERSION)).toBe(true);
    expect(PROTOCOL_VERSION).toBeGreaterThan(0);
    expect(PROTOCOL_VERSION).toBeLessThanOrEqual(0xff);
  });
});

describe('add-at-end (never renumber, rename or reuse)', () => {
  // test/vectors/code_tables_v1.json pins the tables as protocol version 1 shipped them
  const pin = pinned as unknown as { [table: string]: { [k: string]: number } };
  for (const tableName of Object.keys(TABLES)) {
    it(tableName + ' keeps every pinned name with its pinned code', () => {
      const table = TABLES[tableName];
      for (const [k, v] of Object.entries(pin[tableName])) expect(table[k], tableName + '.' + k).toBe(v);
    });
  }
  it('ALG_NAMES keeps its pinned names and the protocol version never goes back', () => {
    const names = (pinned as unknown as { ALG_NAMES: { [id: string]: string } }).ALG_NAMES;
    for (const [id, n] of Object.entries(names)) expect(ALG_NAMES[Number(id)]).toBe(n);
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(pinned.protocolVersion);
  });
});

describe('STATUS_HINTS', () => {
  it('has an entry for every status and nothing else', () => {
    expect(Object.keys(STATUS_HINTS).sort()).toEqual(Object.keys(Status).sort());
  });
  it('every hint is a non-empty sentence a person can act on', () => {
    for (const [k, hint] of Object.entries(STATUS_HINTS)) {
      expect(typeof hint, k).toBe('string');
      expect(hint.trim().length, k).toBeGreaterThan(5);
    }
  });
  it('hints are distinct (each status tells the user something different)', () => {
    const hints = Object.values(STATUS_HINTS);
    expect(new Set(hints).size).toBe(hints.length);
  });
});

describe('COMMANDS table', () => {
  it('has a request and a response schema for every command', () => {
    for (const [name, code] of Object.entries(Command)) {
      const pair = COMMANDS[code];
      expect(pair, name).toBeDefined();
      expect(Array.isArray(pair.request), name).toBe(true);
      expect(Array.isArray(pair.response), name).toBe(true);
    }
  });

  it('has no entry for a code that is not a command', () => {
    const codes = new Set<number>(Object.values(Command));
    for (const k of Object.keys(COMMANDS)) expect(codes.has(Number(k)), 'COMMANDS[' + k + ']').toBe(true);
  });

  it('every command has its file firmware/protocol/commands/<snake_case name>.ts', () => {
    for (const name of Object.keys(Command)) {
      const file = MESSAGES_DIR + snake(name) + '.ts';
      expect(existsSync(file), file).toBe(true);
    }
  });

  it('every message file except the shared ones belongs to a command', () => {
    // shared field sets and layouts that several messages use, not a command of their own
    const shared = new Set(['index.ts', 'spec.ts', 'limits.ts', 'policy.ts', 'attestation.ts', 'approvals.ts', 'domain.ts']);
    const commandFiles = new Set(Object.keys(Command).map((n) => snake(n) + '.ts'));
    for (const f of readdirSync(MESSAGES_DIR)) {
      if (shared.has(f)) continue;
      expect(commandFiles.has(f), 'protocol/commands/' + f + ' has no command').toBe(true);
    }
  });

  it('schemas list their fields in ascending, unique key order with unique names (RFC 8949 §4.2.1 key order)', () => {
    const seen = new Set<unknown>();
    const check = (where: string, schema: readonly { key: number; name: string; type: { t: string; of?: unknown } }[]) => {
      if (seen.has(schema)) return;
      seen.add(schema);
      const names = new Set<string>();
      for (let i = 0; i < schema.length; i++) {
        const f = schema[i];
        expect(Number.isSafeInteger(f.key) && f.key >= 0, where + '.' + f.name).toBe(true);
        if (i > 0) expect(f.key, where + '.' + f.name).toBeGreaterThan(schema[i - 1].key);
        expect(names.has(f.name), where + '.' + f.name + ' duplicated').toBe(false);
        names.add(f.name);
        if (f.type.t === 'list') check(where + '.' + f.name, f.type.of as typeof schema);
      }
    };
    for (const [name, code] of Object.entries(Command)) {
      check(name + '.request', COMMANDS[code].request);
      check(name + '.response', COMMANDS[code].response);
    }
  });
});

describe('algorithms', () => {
  it('ALG_NAMES has exactly the ids of Alg, each named after its constant (ECDSA_P256 → ecdsa-p256)', () => {
    const ids = Object.values(Alg).sort((a, b) => a - b);
    expect(
      Object.keys(ALG_NAMES)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(ids);
    for (const [k, id] of Object.entries(Alg)) expect(ALG_NAMES[id], k).toBe(k.toLowerCase().replace(/_/g, '-'));
  });
  it('names are unique and algId inverts ALG_NAMES', () => {
    const names = Object.values(ALG_NAMES);
    expect(new Set(names).size).toBe(names.length);
    for (const id of Object.values(Alg)) expect(algId(ALG_NAMES[id])).toBe(id);
  });
  it('algId rejects unknown and differently spelled names', () => {
    expect(algId('rsa-2048')).toBeUndefined();
    expect(algId('ED25519')).toBeUndefined();
    expect(algId('')).toBeUndefined();
    expect(algId('toString')).toBeUndefined();
  });
  it('the four algorithms of docs/protocol.md §3 are in the wire table', () => {
    expect(Object.values(ALG_NAMES)).toEqual(expect.arrayContaining(['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1', 'x25519']));
  });
});
