import { GatewayError } from '../../errors';
import type { Environment } from '../../config/load-config';
import type { DownstreamCredential } from './downstream-credential';

/**
 * `auth.type: functionKey`: `x-functions-key` from the app setting the resource names. Read at
 * every call (an env lookup), so a rotated key in the app settings applies without a restart.
 * A missing setting is an operator error: 502 `ERR_UPSTREAM_CREDENTIAL`, the setting's name in
 * the log only.
 */
export function functionKeyCredential(keySetting: string, env: Environment): DownstreamCredential {
  return {
    headers() {
      const key = env[keySetting];
      if (key === undefined || key.trim() === '') {
        return Promise.reject(
          new GatewayError('ERR_UPSTREAM_CREDENTIAL', undefined, {
            cause: new Error(`app setting ${keySetting} (functionKey) is not set`),
          }),
        );
      }
      return Promise.resolve({ 'x-functions-key': key.trim() });
    },
  };
}
