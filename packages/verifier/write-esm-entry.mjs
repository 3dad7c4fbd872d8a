// Writes dist/index.mjs: the ESM entry, re-exporting the CommonJS build by name, so `import` and
// `require` consumers get the same objects (one VerifierError class, not two).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const names = Object.keys(require('./dist/index.js')).filter((name) => name !== '__esModule');
writeFileSync(
  new URL('./dist/index.mjs', import.meta.url),
  `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\n`,
);
