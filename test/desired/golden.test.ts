// Golden scenarios: test/desired/golden/<name>.yaml (inputs: node context, config overrides, Services,
// EndpointSlices) -> <name>.json (the exact plan document). UPDATE_GOLDEN=1 rewrites the JSON files; every
// golden was checked by hand against the kube-proxy reference once, so a diff here is a behaviour change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { defaultProxyConfig, type ProxyConfig } from '../../src/model/config.js';
import { computeDesiredState, type NodeContext } from '../../src/desired/index.js';

// Compiled to dist/test/desired/: the YAML and JSON files stay in the source tree.
const dir = fileURLToPath(new URL('../../../test/desired/golden/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

interface Scenario {
  description?: string;
  node: NodeContext;
  config?: Partial<ProxyConfig> & { ipvs?: Partial<ProxyConfig['ipvs']> };
  services?: unknown[];
  endpointSlices?: unknown[];
}

function configOf(overrides: Scenario['config'] = {}): ProxyConfig {
  const def = defaultProxyConfig();
  return { ...def, ...overrides, ipvs: { ...def.ipvs, ...(overrides.ipvs ?? {}) } };
}

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('golden scenarios exist', () => {
  assert.ok(files.length >= 5, `golden scenarios in ${dir}`);
});

for (const file of files) {
  const name = file.replace(/\.yaml$/, '');
  test(`golden: ${name}`, () => {
    const scenario = parse(readFileSync(join(dir, file), 'utf8')) as Scenario;
    const state = computeDesiredState({
      services: (scenario.services ?? []) as never[],
      endpointSlices: (scenario.endpointSlices ?? []) as never[],
      node: scenario.node,
      config: configOf(scenario.config),
    });
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const jsonPath = join(dir, `${name}.json`);
    if (update) writeFileSync(jsonPath, text);
    assert.ok(existsSync(jsonPath), `${jsonPath} missing: run with UPDATE_GOLDEN=1`);
    assert.deepEqual(JSON.parse(text), JSON.parse(readFileSync(jsonPath, 'utf8')));
    assert.equal(text, readFileSync(jsonPath, 'utf8'), 'same JSON text (key order included)');
  });
}
