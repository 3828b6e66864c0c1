// The one interface every host link implements (serial, socket, in-process), so HsmClient does not care which it has (docs/architecture.md §7).

export interface HostTransport {
  /** Send bytes; resolves once the OS (or the simulator) has taken them. */
  write(bytes: Uint8Array): Promise<void>;
  /** Register the receiver of bytes from the device (one receiver; a second call replaces it). */
  onData(cb: (b: Uint8Array) => void): void;
  /** Called once if the link closes or fails by itself (port unplugged, socket reset, simulator closed). */
  onClose?(cb: (reason?: Error) => void): void;
  close(): Promise<void>;
  /**
   * Write at once, synchronously, or throw (optional). Used only when the process is ending, to send the last
   * SESSION_CLOSE (HsmClient.closeSync); links that cannot do it leave the session to the device's idle timeout.
   */
  writeSync?(bytes: Uint8Array): void;
  /** 'binary': COBS frames; 'armor': '*'base64 lines (Kaluma). */
  readonly mode: 'binary' | 'armor';
  /** A short description for messages: the path, 'sim', … */
  readonly description?: string;
  /**
   * True when the device behind this link was created by this very process (the in-process simulator): the
   * client then pins its identity in memory instead of the known-devices file, and still verifies every handshake.
   */
  readonly selfHosted?: boolean;
}
