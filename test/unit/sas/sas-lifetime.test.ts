import { sasLifetime, type LifetimeInputs } from '../../../src/sas/issue-sas-token';

const NOW = 1_000_000;
const base: LifetimeInputs = {
  asked: undefined,
  defaultTtlSeconds: 300,
  maxTtlSeconds: 3600,
  policyCapSeconds: undefined,
  subjectExpiresAt: NOW + 7200,
  now: NOW,
};

describe('sasLifetime: min(asked or default, max, policy cap, subject exp - now)', () => {
  it.each<[string, Partial<LifetimeInputs>, number, string]>([
    ['default', {}, 300, 'default'],
    ['asked below default', { asked: 60 }, 60, 'asked'],
    ['asked above default', { asked: 900 }, 900, 'asked'],
    ['asked above max', { asked: 99_999 }, 3600, 'max'],
    ['policy cap', { asked: 900, policyCapSeconds: 600 }, 600, 'policy'],
    ['policy cap above asked', { asked: 120, policyCapSeconds: 600 }, 120, 'asked'],
    ['subject token expiring first', { asked: 900, subjectExpiresAt: NOW + 45 }, 45, 'subject'],
    ['subject token already expired', { subjectExpiresAt: NOW - 5 }, -5, 'subject'],
  ])('%s', (_name, overrides, seconds, limitedBy) => {
    expect(sasLifetime({ ...base, ...overrides })).toEqual({ seconds, limitedBy });
  });
});
