// STUB: replaced by the Entra validation work (helper). Shape only.
import type { Config } from '../../config/load-config';
import type { Clock } from '../../clock';
import type { Logger } from '../../logger';
import type { Principal } from '../principal';

export interface DependencyHealth {
  readonly status: 'ok' | 'degraded' | 'down';
  readonly detail?: string;
}

export interface EntraTokenValidatorOptions {
  readonly config: Config['entra'];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
}

export class EntraTokenValidator {
  constructor(readonly options: EntraTokenValidatorOptions) {}
  warmUp(): Promise<void> {
    return Promise.resolve();
  }
  verify(_token: string): Promise<Principal> {
    return Promise.reject(new Error('not implemented'));
  }
  health(): DependencyHealth {
    return { status: 'down' };
  }
}
