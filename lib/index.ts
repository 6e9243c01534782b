/// <reference types="node" preserve="true" />
/**
 * ipmi-sol-bridge: IPMI 2.0 / RMCP+ Serial-over-LAN consoles as in-process Node streams, bridged to TCP the way
 * OpenStack Ironic's socat+ipmitool consoles are, without spawning a process. Re-exports only.
 */
export { IpmiError, isIpmiError, completionCodeText, type IpmiErrorCode, type IpmiErrorOptions } from './errors.js';

// RMCP+ session
export { IpmiSession, type SessionStats, type SessionState, type RequestOptions, type IpmiSessionEvents } from './session/rmcpplus-session.js';
export {
  parseKgHex,
  parsePrivilege,
  parseCipherSuite,
  DEFAULT_IPMI_PORT,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_RETRIES,
  DEFAULT_KEEPALIVE_MS,
  type IpmiSessionOptions,
  type PrivilegeOption,
} from './session/options.js';
export { RttEstimator, RTO_FLOOR_MS, RTO_CEILING_MS, RTO_CLOCK_GRANULARITY_MS, RTO_MAX_BACKOFF_SHIFT, RTO_MAX_EARLY_RETRANSMITS, type RttEstimatorOptions } from './session/rtt-estimator.js';
export { UdpTransport, type UdpTransportOptions, type TransportStats } from './transport/udp-transport.js';
export { SUPPORTED_CIPHER_SUITE_IDS, CIPHER_SUITES, cipherSuiteById, type CipherSuite } from './crypto/cipher-suites.js';
export { NetFn } from './codec/ipmi-message.js';
export { Cmd, type DeviceId } from './codec/commands.js';

// Serial-over-LAN
export { SolStream, DEFAULT_SOL_READABLE_HWM, DEFAULT_SOL_WRITABLE_HWM, DEFAULT_SOL_OWNERSHIP_CHECK_MS, type SolStreamEvents } from './sol/sol-stream.js';
export { activateSol, deactivateSol, type ActivateSolOptions, type SolPortPolicy, type SolStealPolicy } from './sol/activate.js';
export { SolSessionRegistry, ownSolSessions, SOL_OWN_SESSIONS_MAX, SOL_OWN_SESSIONS_PER_BMC } from './sol/sol-ownership.js';
export {
  DEFAULT_SOL_RETRANSMIT_INTERVAL_MS,
  DEFAULT_SOL_MAX_RETRANSMITS,
  type SolStats,
  type SolWorkarounds,
  type InboundPausePolicy,
  SOL_OVERSIZED_MAX_CHARACTERS,
} from './sol/sol-engine.js';
export { DEFAULT_SOL_SERIAL_KEEPALIVE_MS, MIN_SOL_SERIAL_KEEPALIVE_MS } from './sol/sol-workarounds.js';
export type { SolHost, IpmiCommand, IpmiCommandResponse } from './sol/sol-host.js';

// TCP bridge and console manager
export {
  ConsoleBridge,
  consoleUrl,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_HOLD_BYTES,
  DEFAULT_RECONNECT,
  DEFAULT_SPREAD_PER_CONSOLE_MS,
  DEFAULT_MAX_SPREAD_MS,
  backoffWindow,
  type ConsoleBridgeOptions,
  type BridgeState,
  type BridgeMetrics,
  type ActivationMode,
  type DisconnectReason,
  type ReconnectOptions,
  type ReconnectEvent,
  type ClientInfo,
  type BridgeSettings,
  type BridgeEvents,
  type ConsoleErrorInfo,
  type ConsoleTlsOptions,
  type StealPolicy,
} from './bridge/console-bridge.js';
export {
  ConsoleManager,
  DEFAULT_PORT_RANGE,
  type ConsoleInfo,
  type ConsoleManagerOptions,
  type StartConsoleOptions,
  type ConsoleListEntry,
  type ConsoleEvent,
  type ConsoleManagerEvents,
  type ConsoleStatus,
  type RestoreNode,
  type RestoreOptions,
  type RestoreResult,
} from './bridge/console-manager.js';
export { TypedEventEmitter, type EventArgs } from './typed-events.js';
export { IpmiConsoleSource, type IpmiConsoleOptions } from './bridge/ipmi-console-source.js';
export type { ConsoleSource, ConsoleStream, ConsoleOpenOptions } from './bridge/console-source.js';
export { parsePortRange, PortAllocator, type PortRangeSegment } from './bridge/port-range.js';

// Console sources beyond IPMI: SSH and WebSocket (their classes: 'ipmi-sol-bridge/ssh', '.../websocket').
// Nothing here loads ssh2 or ws: sourceFor() imports them on first use.
export {
  sourceFor,
  loadConsoleSource,
  LazyConsoleSource,
  OPTIONAL_KIND_PACKAGES,
  type ConsoleKind,
  type ConsoleSourceOptions,
} from './sources/source-for.js';
export {
  SSH_VENDOR_COMMANDS,
  DEFAULT_SSH_KEEPALIVE_MS,
  DEFAULT_SSH_KEEPALIVE_COUNT_MAX,
  type SshConsoleOptions,
  type SshHostKeyOptions,
  type SshVendor,
} from './sources/ssh-options.js';
export type { WebSocketConsoleOptions, WebSocketAuth, WebSocketTlsOptions } from './sources/websocket-options.js';
export { sshFingerprint } from './sources/host-keys.js';
export { RelayConsoleStream, DEFAULT_RELAY_HWM } from './sources/relay-stream.js';

// Console layer: history, console log files, viewers, metrics
export {
  ConsoleHistory,
  DEFAULT_HISTORY_BYTES,
  MIN_HISTORY_BYTES,
  MAX_HISTORY_BYTES,
  HISTORY_SLACK_BYTES,
  type TailOptions,
  type ConsoleTail,
  type HistoryPackingStats,
} from './console/history.js';
export { ConsoleRecord, type RecordEvent, type RecordEventKind, type RecordSink, type RecordStats } from './console/record.js';
export {
  openConsoleLog,
  ConsoleLogSink,
  logFileBase,
  DEFAULT_LOG_FILE_BYTES,
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_PENDING_BYTES,
  type ConsoleLogOptions,
  type ConsoleLogStats,
} from './console/log-sink.js';
export {
  ViewerSet,
  parseReplay,
  DEFAULT_VIEWER_POLICY,
  DEFAULT_VIEWER_QUEUE_BYTES,
  MAX_VIEWERS,
  SPECTATOR_NOTICE,
  TAKEN_OVER_NOTICE,
  type ViewerPolicy,
  type ExtraClientPolicy,
  type ReplayOption,
  type ViewerSocket,
  type Viewer,
  type ViewerStats,
} from './console/viewers.js';
export { createConsoleMetrics, type ConsoleMetrics, type ConsoleMetricsSample, type ConsoleMetricsOptions } from './console/metrics.js';
export { metricsSample, type CaptureOptions, type CaptureMetrics, type ConsoleLogFileOptions } from './bridge/console-capture.js';
