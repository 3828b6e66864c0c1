// The host driver's public API: HsmClient, its errors, transports and discovery (docs/architecture.md §7).
export { HsmClient, algName, resolveAlg, openTransport, roleId, pinBytes } from './client.ts';
export type {
  ClientOptions,
  CallOptions,
  OpenOptions,
  KeyPair,
  SignInput,
  PinState,
  RoleName,
  PinInput,
  KeepaliveEvent,
  KeyPolicyOptions,
  KeyOptions,
  AttestOptions,
} from './client.ts';
export { verifyAttestation, decodeAttestation, attestationSignedBytes } from './attest.ts';
export type { AttestationExpectation, VerifiedAttestation } from './attest.ts';
export { CAPABILITY_LIST, DEFAULT_CAPABILITIES, capabilityBits, capabilityNames, policyJson, policyText, originName } from './policy.ts';
export { KnownDevices, TrustError, defaultKnownDevicesPath } from './known-devices.ts';
export type { KnownDevice } from './known-devices.ts';
export { SessionError } from './session.ts';
export { HsmError } from './errors.ts';
export { RENDER, renderReason, renderDetail, errorDetailOf } from './render.ts';
export type { RenderContext } from './render.ts';
export type { HsmErrorCode, TransportErrorCode } from './errors.ts';
export type { HostTransport } from './transports/types.ts';
export { SerialTransport } from './transports/serial.ts';
export type { SerialOptions } from './transports/serial.ts';
export { SocketTransport } from './transports/socket.ts';
export { InProcessTransport } from './transports/inprocess.ts';
export { discoverDevices, listCandidatePorts, probePort } from './discovery.ts';
export type { DiscoveredDevice, DiscoveryOptions } from './discovery.ts';
export { ALG_NAMES, Alg, Command, Status, STATUS_HINTS, Reason, Origin, Role, Capability, KeepaliveReason } from '../firmware/protocol/index.ts';
export type { InfoResponse, KeyListEntry, KeyPolicy, KeyPublicResponse, AttestationStatement } from '../firmware/protocol/index.ts';
