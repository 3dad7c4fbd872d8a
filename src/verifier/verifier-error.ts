// The verifier package's error type (packages/verifier): one definition, which the gateway's own
// SAS checks use too, so a downstream and the gateway report a bad credential alike.
export * from '../../packages/verifier/src/verifier-error';
