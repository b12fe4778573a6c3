import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
// The compiler API of TypeScript 5.9, installed beside the build's compiler under the name `typescript-api`
// (package.json): TypeScript 7, the native compiler the project builds with, ships no such API, only an
// `unstable/` one that talks to a compiler process and may change in any 7.x. This test needs the checker
// itself (exports through re-exports, aliases resolved, JSDoc as the language service reads it), which 5.9's
// stable API gives in-process; the sources it reads are the ones TypeScript 7 compiles.
import * as ts from 'typescript-api';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/synth-app';

/**
 * What a consumer's `require('cdk8s-private-registry')` gives: the constructs, the material functions,
 * the defaults and the error class. Growing it is a decision, made here.
 */
const PUBLIC_RUNTIME_EXPORTS = [
  // Constructs.
  'LocalRegistryHosting',
  'NodeHostsDaemonSet',
  'PrivateApp',
  'RegistryAuth',
  'RegistryCache',
  'RegistryChart',
  'RegistryGarbageCollection',
  'RegistryServer',
  'RegistryStorage',
  'serviceDnsName',
  // The material directory.
  'MATERIAL_FILES',
  'addMaterialUser',
  'describeMaterialCertificates',
  'generateMaterial',
  'listMaterialUsers',
  'loadOrCreateMaterial',
  'readMaterial',
  'readMaterialStorage',
  'removeMaterialUser',
  'renewCertificates',
  'verifyMaterialUser',
  'writeNewMaterial',
  // Material made in code.
  'createCertificateAuthority',
  'createServerCertificate',
  'registrySubjectAltNames',
  // Defaults and errors.
  'DEFAULT_BCRYPT_COST',
  'DEFAULT_MATERIAL_DIR',
  'DEFAULT_NAMESPACE',
  'DEFAULT_NODE_PORT',
  'DEFAULT_REGISTRY_HOSTNAME',
  'DEFAULT_REGISTRY_IMAGE',
  'DEFAULT_REGISTRY_PORT',
  'DEFAULT_SERVICE_NAME',
  'DEFAULT_USERNAME',
  'ValidationError',
];

describe('the public surface', () => {
  it('is exactly the intended list: the package root (the build, test/global-setup.ts made it) exports no CLI internals', () => {
    const root = createRequire(__filename)(join(REPO_ROOT, 'build', 'lib', 'index.js'));
    expect(Object.keys(root).sort()).toEqual([...PUBLIC_RUNTIME_EXPORTS].sort());
    for (const internal of ['shellQuote', 'shellCommandLine', 'tomlString', 'writeFileAtomic', 'applyCommand']) {
      expect(root).not.toHaveProperty(internal);
    }
  });

  it('documents every export of every lib/ module with a doc comment', () => {
    const files = readdirSync(join(REPO_ROOT, 'lib'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(REPO_ROOT, 'lib', name));
    // lib/'s own files only: doc comments and exports (re-exports between lib/ files included) need no
    // declarations of Node or cdk8s, whose 270 files made this test 2.8 s of parsing instead of 0.3 s. An
    // export that resolved outside lib/ would have no doc comment here and fail, never pass unread.
    const program = ts.createProgram(files, {
      strict: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      noResolve: true,
      noLib: true,
      types: [],
    });
    const checker = program.getTypeChecker();
    const undocumented: string[] = [];
    let exports = 0;
    for (const file of files) {
      const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file) as ts.SourceFile);
      for (const exported of moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol)) {
        exports++;
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        if (ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '') {
          undocumented.push(`${file.slice(REPO_ROOT.length + 1)}: ${exported.name}`);
        }
      }
    }
    expect(exports).toBeGreaterThan(PUBLIC_RUNTIME_EXPORTS.length);
    expect(undocumented).toEqual([]);
  });
});
