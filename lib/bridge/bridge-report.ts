/**
 * What a console bridge reports: its states, its events (typed, see lib/typed-events.ts) and its metrics.
 */
import type { IpmiError } from '../errors.js';
import type { ClientInfo } from './client-admission.js';
import type { ReconnectEvent } from './console-supervisor.js';
import type { CaptureMetrics } from './console-capture.js';

export type BridgeState = 'idle' | 'connecting' | 'active' | 'reconnecting' | 'closed';
/** 'too-slow': with capture, the client fell behind its queue bound (viewerQueueBytes) and was dropped. */
export type DisconnectReason = 'client-closed' | 'idle-timeout' | 'takeover' | 'console-failed' | 'bridge-closed' | 'too-slow';

/** The events of a ConsoleBridge and their listener arguments (typed `on`/`once`, see lib/typed-events.ts). */
export interface BridgeEvents {
  state: [state: BridgeState, previous: BridgeState];
  'client-connected': [client: ClientInfo];
  'client-disconnected': [client: ClientInfo & { reason: DisconnectReason }];
  'client-refused': [client: ClientInfo];
  reconnect: [event: ReconnectEvent];
  /** emitted only when someone listens: a BMC hiccup never crashes a conductor */
  error: [error: IpmiError];
}

export interface BridgeMetrics {
  state: BridgeState;
  clientConnected: boolean;
  /** sockets waiting (inUseGraceMs) for the current client to leave */
  waitingClients: number;
  /** console -> client bytes written to the socket */
  bytesToClient: number;
  /** client -> console bytes accepted (written to the console or held) */
  bytesFromClient: number;
  /** console output read while no client was connected */
  bytesDiscarded: number;
  /** console re-opened after a lost console or a failed attempt */
  reconnects: number;
  /** clients accepted */
  clients: number;
  /** clients refused with the in-use line */
  refused: number;
  /** consoles opened */
  activations: number;
  /** consoles released by the bridge (deactivate() called) */
  deactivations: number;
  /** opens retried with steal after IPMI_ERR_SOL_IN_USE */
  steals: number;
  /** consoles that closed on their own while wanted */
  consoleLosses: number;
  /** bytes currently held for a console being reopened (<= holdBytes, plus what a lost console never took) */
  heldBytes: number;
  /** bytes a lost console never acknowledged, written again to the next one */
  replayedBytes: number;
  /** bytes queued in the client socket */
  pendingToClient: number;
  /** bytes queued in the console's writable side */
  pendingToConsole: number;
  /** bytes buffered in the console's readable side */
  pendingFromConsole: number;
  /** capture mode only: the record, the viewers, the log file */
  capture?: CaptureMetrics;
}
