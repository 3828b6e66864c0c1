// What host/ and sim/ may import at run time (docs/architecture.md §2): the driver loads only itself, the wire protocol, Node and its serial packages, and the simulator only when asked; the simulator loads only itself and Node.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tsFiles } from '../helpers/files.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// the serial link; and, loaded on first use, the WebCrypto provider's base and the X.509 library (host/webcrypto.ts, host/x509.ts)
const HOST_PACKAGES = ['serialport', '@serialport/bindings-cpp', 'webcrypto-core', '@peculiar/x509'];

interface Import {
  line: number;
  spec: string;
  dynamic: boolean;
}

/** The imports of a file that exist at run time: `import type` and type-only exports are erased by the build. */
function runtimeImports(text: string): Import[] {
  const sf = ts.createSourceFile('x.ts', text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const line = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            c.namedBindings !== undefined &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push({ line: line(n), spec: n.moduleSpecifier.text, dynamic: false });
    }
    if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) && !n.isTypeOnly) {
      const allTypes = n.exportClause !== undefined && ts.isNamedExports(n.exportClause) && n.exportClause.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push({ line: line(n), spec: n.moduleSpecifier.text, dynamic: false });
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments.length > 0 && ts.isStringLiteral(n.arguments[0]))
      out.push({ line: line(n), spec: n.arguments[0].text, dynamic: true });
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

/** Where a runtime import of `file` goes, as a path from the repository root, or the package / builtin name. */
function target(file: string, spec: string): string {
  return spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : spec;
}

/** host/: itself, firmware/protocol/, Node builtins but node:vm, its serial packages; sim/ only by a dynamic import. */
function hostFindings(file: string, text: string): string[] {
  const out: string[] = [];
  for (const i of runtimeImports(text)) {
    const t = target(file, i.spec);
    const ok =
      t.startsWith('host/') ||
      t.startsWith('firmware/protocol/') ||
      (isBuiltin(t) && t !== 'node:vm' && t !== 'vm') ||
      HOST_PACKAGES.includes(t) ||
      (i.dynamic && t.startsWith('sim/'));
    if (!ok) out.push(relative(ROOT, file) + ':' + i.line + ' ' + (i.dynamic ? 'import()' : 'import') + ' ' + t);
  }
  return out;
}

/** sim/: itself and Node builtins (the firmware comes in as the built bundle, not as sources; type imports are free). */
function simFindings(file: string, text: string): string[] {
  const out: string[] = [];
  for (const i of runtimeImports(text)) {
    const t = target(file, i.spec);
    if (!(t.startsWith('sim/') || isBuiltin(t))) out.push(relative(ROOT, file) + ':' + i.line + ' import ' + t);
  }
  return out;
}

describe('host/ and sim/ imports', () => {
  it('host/ loads at run time only itself, firmware/protocol, Node (not node:vm), the serial and X.509 packages; the simulator only when a "sim" device is opened', () => {
    const files = tsFiles(join(ROOT, 'host'));
    expect(files.length).toBeGreaterThan(10);
    expect(files.flatMap((f) => hostFindings(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('sim/ loads at run time only itself and Node: the firmware reaches it as the built bundle', () => {
    const files = tsFiles(join(ROOT, 'sim'));
    expect(files.length).toBeGreaterThan(5);
    expect(files.flatMap((f) => simFindings(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('the checkers catch what they are meant to catch, and let type-only imports through', () => {
    const host = join(ROOT, 'host', 'x.ts');
    expect(
      hostFindings(
        host,
        [
          "import { Simulator } from '../sim/simulator.ts';",
          "import vm from 'node:vm';",
          "import { Store } from '../firmware/core/store/index.ts';",
          "export { Simulator } from '../sim/index.ts';",
          "import type { Simulator as S } from '../sim/simulator.ts';",
          "import { type Flash } from '../firmware/hal/index.ts';",
          "export type { SimulatorOptions } from '../sim/simulator.ts';",
          "const m = await import('../sim/simulator.ts');",
          "import { Command } from '../firmware/protocol/index.ts';",
          "import { SerialPort } from 'serialport';",
        ].join('\n'),
      ),
    ).toEqual([
      'host/x.ts:1 import sim/simulator.ts',
      'host/x.ts:2 import node:vm',
      'host/x.ts:3 import firmware/core/store/index.ts',
      'host/x.ts:4 import sim/index.ts',
    ]);
    const sim = join(ROOT, 'sim', 'x.ts');
    expect(
      simFindings(sim, "import { HsmClient } from '../host/index.ts';\nimport type { Flash } from '../firmware/hal/index.ts';\nimport vm from 'node:vm';"),
    ).toEqual(['sim/x.ts:1 import host/index.ts']);
  });
});
