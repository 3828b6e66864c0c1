// The host driver's public API: HsmClient, its errors, transports and discovery (DESIGN.md "Host").
export { HsmClient, algName, resolveAlg, openTransport } from './client.ts';
export type { ClientOptions, CallOptions, OpenOptions, KeyPair, SignInput, PinState } from './client.ts';
export { KnownDevices, TrustError, defaultKnownDevicesPath } from './known-devices.ts';
export type { KnownDevice } from './known-devices.ts';
export { SessionError } from './session.ts';
export { HsmError } from './errors.ts';
export type { HsmErrorCode, TransportErrorCode } from './errors.ts';
export type { HostTransport } from './transports/types.ts';
export { SerialTransport } from './transports/serial.ts';
export type { SerialOptions } from './transports/serial.ts';
export { SocketTransport } from './transports/socket.ts';
export { InProcessTransport } from './transports/inprocess.ts';
export { discoverDevices, listCandidatePorts, probePort } from './discovery.ts';
export type { DiscoveredDevice, DiscoveryOptions } from './discovery.ts';
export { ALG_NAMES, Alg, Command, Status, STATUS_HINTS, Origin } from '../firmware/protocol/index.ts';
export type { InfoResponse, KeyListEntry } from '../firmware/protocol/index.ts';
