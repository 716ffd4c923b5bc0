import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configFieldPaths } from '../../src/cli/config-file.js';
import { FLAGS } from '../../src/cli/flag-table.js';
import { renderDoc } from '../../src/cli/flags-doc.js';

const DOC = fileURLToPath(new URL('../../../docs/flags.md', import.meta.url));
const text = readFileSync(DOC, 'utf8');

test('docs/flags.md mentions every flag and every config field', () => {
  for (const f of FLAGS) assert.ok(text.includes(`--${f.name}`), `docs/flags.md lacks --${f.name}`);
  for (const { path } of configFieldPaths()) assert.ok(text.includes(`\`${path}\``), `docs/flags.md lacks config field ${path}`);
});

test('the generated tables in docs/flags.md are current (regenerate: node dist/src/cli/flags-doc.js --write)', () => {
  assert.equal(text, renderDoc(text));
});
