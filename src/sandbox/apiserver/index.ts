/**
 * The Kubernetes API emulator of the sandbox: a faithful-enough kube-apiserver on node:http for tests,
 * the demo and benchmarks. Start one with `startSandbox` (`src/sandbox/index.ts`).
 */
export { ApiServer } from './server.js';
export type { ApiServerOptions, ExtensionRoute, RouteContext } from './server.js';
export type { FaultRule } from './faults.js';
export { RequestCounter, type RequestCount } from './requests.js';
export type { SchemaAdmission, AdmissionResult } from './admission.js';
export { ApiError, notFound, badRequest, conflict, invalid, statusForCode } from './errors.js';
export type { FieldCause, StatusObject } from './errors.js';
export type { KubeObject, Json, JsonObject } from './types.js';
