/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Every integration answer read with fetch is checked against the OpenAPI document.
  setupFilesAfterEnv: ['<rootDir>/test/setup/openapi-conformance.ts'],
  // Two cores here: integration suites start real servers, so keep workers to the core count.
  maxWorkers: 2,
  testTimeout: 30000,
};
