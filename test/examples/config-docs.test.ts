/**
 * docs/configuration.md is generated from the schema's descriptions: the committed file must
 * be exactly what `npx tsx scripts/gen-config-docs.ts` writes today, and cover every key.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, connectionSchema, serverSchema } from '../../src/config/schema.js';
import { render } from '../../scripts/gen-config-docs.js';

const committed = readFileSync(resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');

describe('docs/configuration.md', () => {
  it('is up to date with src/config/schema.ts (regenerate with: npx tsx scripts/gen-config-docs.ts)', async () => {
    expect(committed).toBe(await render());
  });

  it('documents every key of the schema, with its description', () => {
    for (const k of Object.keys(configSchema.shape)) expect(committed).toContain(`| \`${k}\``);
    for (const k of Object.keys(serverSchema.shape)) expect(committed).toContain(`| \`server.${k}\``);
    for (const k of Object.keys(connectionSchema.shape)) expect(committed).toContain(`| \`connections.<name>.${k}\``);
    expect(committed).toContain('Google: in testing, refresh tokens die 7 days after consent.');
  });
});
