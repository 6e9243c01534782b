/**
 * ViewerSet: the clients of one captured console. One writer (its keystrokes reach the console) and read-only
 * spectators, all fed from the ConsoleRecord's fan-out. Works on an abstract ViewerSocket (a net.Socket or
 * tls.TLSSocket fits it as is), so it is specced with no TCP. Pure: no I/O of its own, no timer.
 *
 * - Admission (`viewers: { max, onExtra }`): the first client becomes the writer. While there is a writer, another
 *   client is refused ('refuse', the default: today's behaviour), admitted as a spectator ('spectate'), or becomes
 *   the writer ('takeover': the previous writer is told in one line, TAKEN_OVER_NOTICE, and disconnected). At most
 *   `max` clients at once (writer included); beyond it a client is refused ('full').
 * - A spectator's keystrokes are discarded; the first one is answered with one line (SPECTATOR_NOTICE).
 * - Never stalls the console: each viewer's queue is its socket's own write buffer, bounded by `queueBytes`
 *   (DEFAULT_VIEWER_QUEUE_BYTES). A viewer whose queue would exceed it is dropped (destroyed, counted), and the
 *   console and the other viewers go on untouched. The writer is no exception once the console is captured.
 * - Replay on attach (`replay: { bytes } | { lines }`, default off): a new viewer first gets that much of the
 *   history, then the live output, with nothing lost or repeated between the two (both happen in one turn). A
 *   replay is at most half the queue bound, so that it cannot by itself get the viewer dropped.
 * - Audit: attach, detach and takeover are noted on the record given (its log sink writes them).
 */
import { EventEmitter } from 'node:events';
import { IpmiError } from '../errors.js';
import { MAX_HISTORY_BYTES, type ConsoleTail, type TailOptions } from './history.js';
import type { RecordEventKind, RecordSink } from './record.js';

export type ExtraClientPolicy = 'refuse' | 'spectate' | 'takeover';
export type ViewerRole = 'writer' | 'spectator';
export type ReplayOption = { bytes: number } | { lines: number };

export interface ViewerPolicy {
  /** clients at once, writer included */
  max: number;
  /** what a client gets while there is a writer */
  onExtra: ExtraClientPolicy;
}

/** One client, refused while another is connected: the bridge as it was. */
export const DEFAULT_VIEWER_POLICY: Readonly<ViewerPolicy> = Object.freeze({ max: 1, onExtra: 'refuse' });
/** Upper bound of `viewers.max`. */
export const MAX_VIEWERS = 32;
/** Bytes queued for one viewer before it is dropped. */
export const DEFAULT_VIEWER_QUEUE_BYTES = 1024 * 1024;
export const MIN_VIEWER_QUEUE_BYTES = 1024;
export const MAX_VIEWER_QUEUE_BYTES = 64 * 1024 * 1024;
/** Upper bound of `replay: { lines }`. */
export const MAX_REPLAY_LINES = 100_000;
export const SPECTATOR_NOTICE = 'read-only: another client has this console; your keystrokes are discarded\r\n';
export const TAKEN_OVER_NOTICE = 'console taken over by another client\r\n';

/** What a viewer needs from its connection; net.Socket fits it. */
export interface ViewerSocket {
  write(chunk: Buffer): unknown;
  /** bytes queued in the socket, not yet handed to the kernel */
  readonly writableLength: number;
  /** close after what is queued */
  end(): void;
  /** close now, dropping what is queued */
  destroy(): void;
}

export interface Viewer<S extends ViewerSocket = ViewerSocket> {
  readonly id: number;
  readonly socket: S;
  /** who it is in audit lines (an address) */
  readonly label: string;
  readonly role: ViewerRole;
  bytesSent: number;
  keystrokesDiscarded: number;
}

export type ViewerRemoval = 'left' | 'dropped' | 'bumped' | 'closed';

export type AdmitResult<S extends ViewerSocket> =
  | { admitted: true; viewer: Viewer<S>; bumped?: Viewer<S> }
  | { admitted: false; reason: 'in-use' | 'full' };

export interface ViewerStats {
  viewers: number;
  spectators: number;
  admitted: number;
  refused: number;
  /** viewers dropped for falling behind their queue bound */
  dropped: number;
  takeovers: number;
  /** spectator keystroke bytes discarded */
  keystrokesDiscarded: number;
  replayedBytes: number;
}

/** Where replay comes from and audit events go (a ConsoleRecord fits). */
export interface ViewerRecord {
  tail(options: TailOptions): ConsoleTail;
  note(kind: RecordEventKind, detail?: string): void;
}

export interface ViewerSetOptions<S extends ViewerSocket = ViewerSocket> {
  viewers?: Partial<ViewerPolicy>;
  queueBytes?: number;
  replay?: ReplayOption;
  record?: ViewerRecord;
  /** how a viewer we let go is closed (after `message`, if any); default: write the message, end() */
  close?: (socket: S, message?: string) => void;
}

interface MutableViewer<S extends ViewerSocket> extends Viewer<S> {
  role: ViewerRole;
  noticed: boolean;
}

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

function isCount(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

export function checkViewerPolicy(value: Partial<ViewerPolicy> | undefined): ViewerPolicy {
  const policy = { ...DEFAULT_VIEWER_POLICY, ...(value ?? {}) };
  if (!isCount(policy.max, 1, MAX_VIEWERS)) throw bad(`Console option viewers.max must be an integer in 1..${MAX_VIEWERS}, not ${String(policy.max)}.`);
  if (!['refuse', 'spectate', 'takeover'].includes(policy.onExtra)) {
    throw bad(`Console option viewers.onExtra must be 'refuse', 'spectate' or 'takeover', not ${String(policy.onExtra)}.`);
  }
  return policy;
}

export function checkReplay(value: unknown): ReplayOption | undefined {
  if (value === undefined) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 1) {
    if ('bytes' in v && isCount(v.bytes, 0, MAX_HISTORY_BYTES)) return { bytes: v.bytes };
    if ('lines' in v && isCount(v.lines, 0, MAX_REPLAY_LINES)) return { lines: v.lines };
  }
  throw bad(
    `Console option replay must be { bytes: 0..${MAX_HISTORY_BYTES} } or { lines: 0..${MAX_REPLAY_LINES} }, not ${JSON.stringify(value)}.`,
  );
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, k: 1024, mib: 1024 * 1024, m: 1024 * 1024 };

/** '4KiB', '4096', '512B', '1MiB' -> { bytes }; '50lines', '50 lines' -> { lines } (the CLI's --replay syntax). */
export function parseReplay(text: string): ReplayOption {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2]?.toLowerCase() ?? '';
  if (match && (unit === 'lines' || unit === 'line')) return checkReplay({ lines: Number(match[1]) })!;
  if (match && unit in BYTE_UNITS) return checkReplay({ bytes: Number(match[1]) * BYTE_UNITS[unit]! })!;
  throw bad(`A replay size is bytes (4096, 4KiB, 1MiB) or lines (50lines), not '${text}'.`);
}

export class ViewerSet<S extends ViewerSocket = ViewerSocket> extends EventEmitter implements RecordSink {
  readonly policy: ViewerPolicy;
  readonly queueBytes: number;
  readonly replay: ReplayOption | undefined;
  readonly #record: ViewerRecord | undefined;
  readonly #close: (socket: S, message?: string) => void;
  readonly #viewers = new Map<number, MutableViewer<S>>();
  #writer: MutableViewer<S> | undefined;
  #nextId = 1;
  readonly #stats = { admitted: 0, refused: 0, dropped: 0, takeovers: 0, keystrokesDiscarded: 0, replayedBytes: 0 };

  constructor(options: ViewerSetOptions<S> = {}) {
    super();
    this.policy = checkViewerPolicy(options.viewers);
    const queueBytes = options.queueBytes ?? DEFAULT_VIEWER_QUEUE_BYTES;
    if (!isCount(queueBytes, MIN_VIEWER_QUEUE_BYTES, MAX_VIEWER_QUEUE_BYTES)) {
      throw bad(`Console option viewerQueueBytes must be an integer in ${MIN_VIEWER_QUEUE_BYTES}..${MAX_VIEWER_QUEUE_BYTES}, not ${String(queueBytes)}.`);
    }
    this.queueBytes = queueBytes;
    this.replay = checkReplay(options.replay);
    this.#record = options.record;
    this.#close =
      options.close ??
      ((socket, message) => {
        if (message) socket.write(Buffer.from(message));
        socket.end();
      });
  }

  get writer(): Viewer<S> | undefined {
    return this.#writer;
  }

  get size(): number {
    return this.#viewers.size;
  }

  list(): Viewer<S>[] {
    return [...this.#viewers.values()];
  }

  get stats(): ViewerStats {
    return { ...this.#stats, viewers: this.#viewers.size, spectators: this.#viewers.size - (this.#writer ? 1 : 0) };
  }

  /** A client connected: admit it (as writer or spectator, replay first) or say why not. */
  admit(socket: S, label = 'client'): AdmitResult<S> {
    let role: ViewerRole = 'writer';
    let bumped: MutableViewer<S> | undefined;
    if (this.#writer && this.policy.onExtra === 'refuse') return this.#refuse('in-use');
    if (this.#writer && this.policy.onExtra === 'takeover') bumped = this.#writer;
    else if (this.#writer) role = 'spectator';
    if (!bumped && this.#viewers.size >= this.policy.max) return this.#refuse('full');
    if (bumped) this.bump(bumped, label);
    const viewer = this.add(socket, role, label);
    return bumped ? { admitted: true, viewer, bumped } : { admitted: true, viewer };
  }

  /**
   * Add a viewer whose role was decided elsewhere (the bridge's own admission): replay first, then live output.
   * A second writer is IPMI_ERR_BAD_ARGUMENT (bump the first).
   */
  add(socket: S, role: ViewerRole, label = 'client'): Viewer<S> {
    if (role === 'writer' && this.#writer) throw bad('This console already has a writer.');
    const viewer: MutableViewer<S> = { id: this.#nextId++, socket, label, role, bytesSent: 0, keystrokesDiscarded: 0, noticed: false };
    this.#stats.admitted++;
    this.#record?.note('attach', `${role} ${label}`);
    this.#sendReplay(viewer);
    this.#viewers.set(viewer.id, viewer);
    if (role === 'writer') this.#writer = viewer;
    return viewer;
  }

  /** The writer loses its place to `by`: told in one line (TAKEN_OVER_NOTICE) and closed. */
  bump(writer: Viewer<S>, by: string): void {
    const v = this.#viewers.get(writer.id);
    if (!v) return;
    this.#stats.takeovers++;
    this.#record?.note('takeover', `${by} took over from ${v.label}`);
    this.#remove(v, 'bumped');
    this.#close(v.socket, TAKEN_OVER_NOTICE);
  }

  /** The viewer's connection closed (or the bridge closes it). Idempotent. */
  remove(viewer: Viewer<S>, reason: ViewerRemoval = 'left'): void {
    const v = this.#viewers.get(viewer.id);
    if (v) this.#remove(v, reason);
  }

  /** Keystrokes from a viewer: true when they go to the console (the writer's), false when discarded. */
  input(viewer: Viewer<S>, chunk: Buffer): boolean {
    const v = this.#viewers.get(viewer.id);
    if (!v) return false;
    if (v.role === 'writer') return true;
    v.keystrokesDiscarded += chunk.length;
    this.#stats.keystrokesDiscarded += chunk.length;
    if (!v.noticed) {
      v.noticed = true;
      this.#send(v, Buffer.from(SPECTATOR_NOTICE));
    }
    return false;
  }

  /** Console output to every viewer; a viewer over its queue bound is dropped. */
  write(chunk: Buffer): void {
    for (const v of [...this.#viewers.values()]) this.#send(v, chunk);
  }

  /** Close every viewer (the console is stopping). */
  closeAll(): void {
    for (const v of [...this.#viewers.values()]) {
      this.#remove(v, 'closed');
      this.#close(v.socket);
    }
  }

  #refuse(reason: 'in-use' | 'full'): AdmitResult<S> {
    this.#stats.refused++;
    return { admitted: false, reason };
  }

  #sendReplay(viewer: MutableViewer<S>): void {
    if (!this.replay || !this.#record) return;
    const cap = Math.floor(this.queueBytes / 2);
    const options: TailOptions = 'lines' in this.replay ? { lines: this.replay.lines, bytes: cap } : { bytes: Math.min(this.replay.bytes, cap) };
    const { data } = this.#record.tail(options);
    if (data.length === 0) return;
    viewer.socket.write(data);
    viewer.bytesSent += data.length;
    this.#stats.replayedBytes += data.length;
  }

  #send(v: MutableViewer<S>, chunk: Buffer): void {
    if (v.socket.writableLength + chunk.length > this.queueBytes) {
      this.#stats.dropped++;
      this.#remove(v, 'dropped');
      v.socket.destroy();
      return;
    }
    v.socket.write(chunk);
    v.bytesSent += chunk.length;
  }

  #remove(v: MutableViewer<S>, reason: ViewerRemoval): void {
    if (!this.#viewers.delete(v.id)) return;
    if (this.#writer === v) this.#writer = undefined;
    if (reason !== 'bumped') this.#record?.note('detach', `${v.role} ${v.label}, ${reason}`);
    this.emit('removed', v, reason);
  }
}
