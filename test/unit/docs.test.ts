import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/errors';

describe('docs/errors.md', () => {
  const doc = readFileSync(join(__dirname, '../../docs/errors.md'), 'utf8');

  it.each(Object.entries(ERROR_CODES))('documents %s with its status', (code, { status }) => {
    expect(doc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
  });
});
