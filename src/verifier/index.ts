/**
 * The downstream verifier, as the gateway's own code and tests use it: the package of its own
 * in packages/verifier (`entra-functions-gateway-verifier`), which a downstream installs.
 *
 * docs/downstream-trust.md shows the same check in C#, Python and Java.
 */
export * from '../../packages/verifier/src/index';
