import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTING_NAMES } from '../../../src/config/defaults';
import { loadConfig } from '../../../src/config/load-config';
import {
  DEV_API_AUDIENCE,
  DEV_API_CLIENT_ID,
  DEV_IDP_PORT,
  DEV_TENANT_ID,
} from '../../../src/host/local/dev-identity-provider';
import {
  EMBEDDED_COSMOS_CERT_DIR,
  EMBEDDED_COSMOS_KEY,
  EMBEDDED_COSMOS_PORT,
} from '../../../src/host/local/embedded-cosmos';
import { DEFAULTS } from '../../../src/config/defaults';
import { statementKeySetting } from '../../../src/config/signing-keys';
import { devStatementKey } from '../../../src/host/local/local-key-files';
import { DEV_ORDERS_KEY } from '../../../src/host/local/local-stack';

interface LocalSettings {
  IsEncrypted: boolean;
  Values: Record<string, string>;
  Host: { LocalHttpPort: number };
}

const sample = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', 'local.settings.sample.json'), 'utf8'),
) as LocalSettings;

describe('local.settings.sample.json', () => {
  // On-behalf-of takes a secret or a certificate; the sample gives the dev IdP's secret. REDIS_URL
  // has no local default: `func start` counts quotas per instance unless one is set.
  const optional = ['GATEWAY_CLIENT_CERTIFICATE_PATH', 'REDIS_URL'];
  it.each(SETTING_NAMES.filter((name) => !optional.includes(name)))('lists %s', (name) => {
    expect(typeof sample.Values[name]).toBe('string');
    expect(sample.Values[name]).not.toBe('');
  });

  it('is accepted by loadConfig as it would be under the Functions host', () => {
    const config = loadConfig(sample.Values, { mode: 'functions' });
    expect(config.sas.keysGenerated).toBe(false);
  });

  it('points at the fixed ports and identities of `npm run dev:deps`', () => {
    const v = sample.Values;
    expect(v.ENTRA_AUTHORITY).toBe(`https://127.0.0.1:${DEV_IDP_PORT}`);
    expect(v.ENTRA_TENANT_ID).toBe(DEV_TENANT_ID);
    expect(v.ENTRA_AUDIENCES).toBe(`${DEV_API_CLIENT_ID},${DEV_API_AUDIENCE}`);
    expect(v.COSMOS_ENDPOINT).toBe(`https://127.0.0.1:${EMBEDDED_COSMOS_PORT}`);
    expect(v.COSMOS_KEY).toBe(EMBEDDED_COSMOS_KEY);
    expect(v.NODE_EXTRA_CA_CERTS).toBe(`${EMBEDDED_COSMOS_CERT_DIR}/ca.pem`);
    expect(v.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(sample.Host.LocalHttpPort).toBe(DEFAULTS.port);
    expect(v.SAS_SIGNING_KEYS).toMatch(/^dev-only=/);
    // The statement key is the dev-only one derived from a public seed, never a real secret.
    expect(v.STATEMENT_SIGNING_KEYS).toBe(statementKeySetting([devStatementKey()]));
    expect(v.ORDERS_KEY).toBe(DEV_ORDERS_KEY);
    expect(v.GATEWAY_ISSUER).toBe(`http://127.0.0.1:${DEFAULTS.port}/api`);
  });
});
