/**
 * Capture mode of a bridge (`capture: true`): the console layer (lib/console) joined to the bridge, as DESIGN.md
 * "The console layer" draws it. The console stays open whether or not a client is connected, and the record
 * is its primary reader: every byte goes into the history ring, the console log file (when `logDir` is set) and
 * the viewers' queues, and none of them ever pauses the console. A viewer that falls behind its queue bound is
 * dropped and counted; a slow disk drops log output and counts it.
 *
 * The bridge keeps what it had: its admission seats the writer (one client, grace, takeover), its hold and
 * flow control carry the writer's keystrokes to the console. This file adds the spectators, the replay on
 * attach, the gap markers when the BMC is lost and back, and the counters.
 */
import type net from 'node:net';
import type { Clock } from '../clock.js';
import { IpmiError } from '../errors.js';
import { checkHistoryBytes, type ConsoleTail, type TailOptions } from '../console/history.js';
import { openConsoleLog, type ConsoleLogFileOptions, type ConsoleLogSink } from '../console/log-sink.js';
import { ConsoleRecord } from '../console/record.js';
import { DEFAULT_VIEWER_POLICY, ViewerSet, checkReplay, checkViewerPolicy, type ReplayOption, type Viewer, type ViewerPolicy } from '../console/viewers.js';
import type { ConsoleStream } from './console-source.js';
import type { ConsoleMetricsSample } from '../console/metrics.js';

export type { ConsoleLogFileOptions };

export interface CaptureOptions {
  /** keep the console open and record everything it prints, client or not; default false */
  capture?: boolean;
  /** history ring per console; default 256 KiB (needs capture) */
  historyBytes?: number;
  /** what a connecting client gets first from the history; default none (needs capture) */
  replay?: ReplayOption;
  /** one writer and spectators; default { max: 1, onExtra: 'refuse' } (anything else needs capture) */
  viewers?: Partial<ViewerPolicy>;
  /** bytes queued for one viewer before it is dropped; default 1 MiB */
  viewerQueueBytes?: number;
  /** write `<logDir>/<logName>.log` and `.audit.log` (needs capture) */
  logDir?: string;
  log?: ConsoleLogFileOptions;
  /** the console log's file name (the manager passes the node ID); default 'console' */
  logName?: string;
  /** wall time for stamps (ms since the epoch); default Date.now */
  wallTime?: () => number;
}

export interface CaptureMetrics {
  /** console output recorded */
  recordedBytes: number;
  /** bytes the history holds now */
  historyBytes: number;
  /** BMC outages marked in the record */
  gaps: number;
  /** clients connected (writer and spectators) */
  viewers: number;
  spectators: number;
  /** clients dropped for falling behind their queue bound */
  viewersDropped: number;
  /** spectator keystroke bytes discarded */
  keystrokesDiscarded: number;
  /** history bytes sent to clients on attach */
  replayedBytes: number;
  logBytesWritten: number;
  logBytesDropped: number;
  /** SOL packets, all consoles opened so far (sources that report them) */
  packetsReceived: number;
  packetsSent: number;
  retransmits: number;
}

interface PacketStats {
  packetsReceived: number;
  packetsSent: number;
  retransmits: number;
}

function needsCapture(name: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console option ${name} needs capture: true.`);
}

/** Throws IPMI_ERR_BAD_ARGUMENT for a bad capture option, or one given without capture. */
export function checkCaptureOptions(options: CaptureOptions): void {
  const capture = options.capture ?? false;
  if (typeof capture !== 'boolean') throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console option capture must be true or false, not ${String(capture)}.`);
  checkHistoryBytes(options.historyBytes);
  checkReplay(options.replay);
  const policy = checkViewerPolicy(options.viewers);
  new ViewerSet({ viewers: policy, queueBytes: options.viewerQueueBytes }); // checks viewerQueueBytes
  if (options.logDir !== undefined && (typeof options.logDir !== 'string' || options.logDir === '')) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'Console option logDir must be a directory path.');
  }
  if (capture) return;
  if (options.replay !== undefined) throw needsCapture('replay');
  if (options.logDir !== undefined) throw needsCapture('logDir');
  if (policy.max !== DEFAULT_VIEWER_POLICY.max || policy.onExtra !== DEFAULT_VIEWER_POLICY.onExtra) throw needsCapture('viewers');
}

/** SOL streams report packets in `stats`; other sources do not. */
function packetStats(stream: ConsoleStream): PacketStats | undefined {
  const stats = (stream as { stats?: Partial<PacketStats> }).stats;
  if (stats === undefined || typeof stats.packetsReceived !== 'number') return undefined;
  return { packetsReceived: stats.packetsReceived, packetsSent: stats.packetsSent ?? 0, retransmits: stats.retransmits ?? 0 };
}

/** TCP keepalive on spectator sockets (as on the writer's), to notice peers that vanished without a FIN. */
export const SPECTATOR_KEEPALIVE_MS = 30_000;

/** 'address:port' of a client, for audit lines. */
export function clientLabel(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

export interface CaptureHooks {
  /** ends a socket we let go, after `message` (the bridge's linger) */
  close(socket: net.Socket, message?: string): void;
  /** the writer fell behind its queue bound and was dropped (its socket destroyed) */
  writerDropped(socket: net.Socket): void;
}

export class ConsoleCapture {
  readonly record: ConsoleRecord;
  readonly viewers: ViewerSet<net.Socket>;
  readonly #options: CaptureOptions;
  readonly #clock: Clock;
  #writer: Viewer<net.Socket> | undefined;
  #log: ConsoleLogSink | undefined;
  #stream: ConsoleStream | undefined;
  readonly #packets: PacketStats = { packetsReceived: 0, packetsSent: 0, retransmits: 0 };

  constructor(options: CaptureOptions, clock: Clock, hooks: CaptureHooks) {
    checkCaptureOptions(options);
    this.#options = options;
    this.#clock = clock;
    this.record = new ConsoleRecord({ historyBytes: options.historyBytes, clock, wallTime: options.wallTime });
    this.viewers = new ViewerSet<net.Socket>({
      viewers: options.viewers,
      queueBytes: options.viewerQueueBytes,
      replay: options.replay,
      record: this.record,
      close: hooks.close,
    });
    this.record.addSink(this.viewers);
    this.viewers.on('removed', (viewer: Viewer<net.Socket>, reason: string) => {
      if (viewer !== this.#writer) return;
      this.#writer = undefined;
      if (reason === 'dropped') hooks.writerDropped(viewer.socket);
    });
  }

  /** The bridge seated `socket` as the writer: replay, then live output. */
  seatWriter(socket: net.Socket): void {
    this.#writer = this.viewers.add(socket, 'writer', clientLabel(socket));
  }

  /** The writer left (or was closed by the bridge). */
  unseatWriter(): void {
    if (this.#writer) this.viewers.remove(this.#writer, 'left');
  }

  /** Takeover: the writer is told in one line and closed; false when there was no writer. */
  bumpWriter(by: net.Socket): boolean {
    if (!this.#writer) return false;
    this.viewers.bump(this.#writer, clientLabel(by));
    return true;
  }

  /** A client while the writer is seated: a spectator if the policy says so and there is room. */
  offerSpectator(socket: net.Socket): boolean {
    if (this.policy.onExtra !== 'spectate' || this.viewers.size >= this.policy.max) return false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, SPECTATOR_KEEPALIVE_MS);
    this.addSpectator(socket, clientLabel(socket));
    return true;
  }

  get policy(): ViewerPolicy {
    return this.viewers.policy;
  }

  /** Open the console log (IPMI_ERR_LOG when its directory cannot be written). Before the bridge listens. */
  async open(): Promise<void> {
    const { logDir, log, logName, wallTime } = this.#options;
    if (logDir === undefined || this.#log) return;
    this.#log = await openConsoleLog({ dir: logDir, nodeId: logName ?? 'console', ...log, wallTime, clock: this.#clock });
    this.#log.on('error', () => undefined); // counted in lastError and the drop counters; the console goes on
    this.record.addSink(this.#log);
  }

  async close(): Promise<void> {
    this.viewers.closeAll();
    await this.#log?.close();
  }

  /** Console output: the record takes it (history, log, viewers); never blocks. */
  write(data: Buffer): void {
    this.record.write(data);
  }

  /** A console opened: after a loss, the record marks the BMC back. Returns what to call when it goes. */
  attached(stream: ConsoleStream): () => void {
    this.#stream = stream;
    this.record.note('bmc-back');
    return () => {
      this.#addPackets(stream);
      if (this.#stream === stream) this.#stream = undefined;
    };
  }

  /** The console was lost while wanted: the record marks a gap. */
  lost(error: IpmiError): void {
    this.record.note('bmc-lost', error.code);
  }

  tail(options?: TailOptions): ConsoleTail {
    return this.record.tail(options);
  }

  /** A spectator connected (the writer's seat is taken): replay, then live output; its keystrokes discarded. */
  addSpectator(socket: net.Socket, label: string): Viewer<net.Socket> {
    const viewer = this.viewers.add(socket, 'spectator', label);
    const onData = (chunk: Buffer): void => void this.viewers.input(viewer, chunk);
    socket.on('data', onData);
    socket.once('close', () => {
      socket.off('data', onData);
      this.viewers.remove(viewer);
    });
    socket.resume();
    return viewer;
  }

  get metrics(): CaptureMetrics {
    const record = this.record.stats;
    const viewers = this.viewers.stats;
    const log = this.#log?.stats;
    const live = this.#stream ? packetStats(this.#stream) : undefined;
    return {
      recordedBytes: record.bytes,
      historyBytes: record.historyBytes,
      gaps: record.gaps,
      viewers: viewers.viewers,
      spectators: viewers.spectators,
      viewersDropped: viewers.dropped,
      keystrokesDiscarded: viewers.keystrokesDiscarded,
      replayedBytes: viewers.replayedBytes,
      logBytesWritten: log?.bytesWritten ?? 0,
      logBytesDropped: log?.bytesDropped ?? 0,
      packetsReceived: this.#packets.packetsReceived + (live?.packetsReceived ?? 0),
      packetsSent: this.#packets.packetsSent + (live?.packetsSent ?? 0),
      retransmits: this.#packets.retransmits + (live?.retransmits ?? 0),
    };
  }

  #addPackets(stream: ConsoleStream): void {
    const s = packetStats(stream);
    if (!s) return;
    this.#packets.packetsReceived += s.packetsReceived;
    this.#packets.packetsSent += s.packetsSent;
    this.#packets.retransmits += s.retransmits;
  }
}

/** What a bridge's metrics (with a capture part or not) and its last error say, as one Prometheus sample. */
export function metricsSample(
  nodeId: string,
  m: { state: string; bytesToClient: number; bytesDiscarded: number; bytesFromClient: number; reconnects: number; clientConnected: boolean; capture?: CaptureMetrics },
  lastErrorCode?: string,
): ConsoleMetricsSample {
  const c = m.capture;
  return {
    nodeId,
    state: m.state,
    bytesFromConsole: c ? c.recordedBytes : m.bytesToClient + m.bytesDiscarded,
    bytesToConsole: m.bytesFromClient,
    ...(c ? { packetsReceived: c.packetsReceived, packetsSent: c.packetsSent, retransmits: c.retransmits } : {}),
    reconnects: m.reconnects,
    viewers: c ? c.viewers : m.clientConnected ? 1 : 0,
    viewersDropped: c?.viewersDropped ?? 0,
    ...(c ? { logBytesDropped: c.logBytesDropped } : {}),
    ...(lastErrorCode ? { lastError: lastErrorCode } : {}),
  };
}
