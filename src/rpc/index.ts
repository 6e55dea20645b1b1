/**
 * tcp-teardown rpc: a connection layer where a server closing idle connections never leaks
 * CLOSE_WAIT and never loses or duplicates a call (seeds 002-g..k, 003-a..l). The wire
 * protocol is in docs/protocol.md.
 */
export * from './frame.js';
export * from './errors.js';
export type * from './types.js';
export {
  createClient,
  type ClientOptions,
  type ClientCommonOptions,
  type SingleServerTarget,
  type EndpointsTarget,
  type ResolverTarget,
  type CallOptions,
  type RpcClient,
  type PoolSnapshot,
  type ConnectionSnapshot,
  type ConnectionState,
} from './client.js';
export { ENDPOINT_TRANSITIONS, type EndpointAddress, type EndpointState, type EndpointStats } from './endpoint.js';
export { dnsResolver, DEFAULT_RESOLVE_INTERVAL_MS, type Resolver, type DnsResolverOptions, type LookupAll } from './resolver.js';
export { pickEndpoint, PICK_POLICIES, type PickPolicy, type PickResult } from './pick.js';
export * from './interceptors/index.js';
export * from './server.js';
export { systemClock, type Clock, type ClockTimer } from './clock.js';
export { backoffMs, type BackoffPolicy } from './backoff.js';
export { decideResend, RESEND_RULES, type ResendDecision, type ResendRule, type ResendCounts, type FailedAttempt } from './resend.js';
