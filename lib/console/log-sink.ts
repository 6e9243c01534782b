/**
 * ConsoleLogSink: one node's console log on disk, fed by its ConsoleRecord.
 *
 * - `<dir>/<node>.log`: exactly the bytes the node printed, append-only (with `timestamps`, each line start gets
 *   `[2026-12-03T22:00:00.123Z] `, the wall time its first byte arrived). Without timestamps the file is
 *   byte-exact: the console output and nothing else.
 * - `<dir>/<node>.audit.log`, a sibling: one line per event (attach, detach, takeover, break, BMC lost, BMC back,
 *   log overflow), `<ISO time> <event> (<detail>)`. A sibling rather than the same file, so that the console log
 *   stays byte-exact and an audit line never lands inside a console line.
 * - Rotation by size, classical logrotate style (`node.log` -> `node.log.1` ... `node.log.<keep>`, the oldest
 *   removed), by rotating-file-stream: zero dependencies, types included, maintained, size rotation with a kept
 *   count and no compression or timers unless asked. A single write is never split between two files, so a file
 *   can exceed `maxFileBytes` by one write (at most `flushBytes` of console output, see below).
 * - Writing never blocks the console: `write()` queues and returns; when the sink holds `pendingBytes` (a slow or
 *   stuck disk), further output is dropped and counted (`bytesDropped`), and one audit line says how much once
 *   writing resumes. Memory per sink is bounded by `pendingBytes` per file.
 * - "Coalesced log writes": console output is gathered for up to `flushMs` (250 ms) or `flushBytes` (64 KiB) and
 *   handed to the file stream as one chunk. A SOL packet carries at most a few hundred bytes and, at line rate, a
 *   console's packets come ~22 ms apart: one file write each cost ~35 us of CPU (rotating-file-stream awaits a
 *   FileHandle.write per chunk: a libuv thread-pool round trip), about a quarter of the bridge's CPU per packet in a
 *   boot storm. Gathered, it is one write per ~11 packets. What a crash loses is bounded by the same two figures;
 *   `close()` writes everything. `flushMs: 0` writes every chunk at once.
 * - A directory that cannot be created or written fails `openConsoleLog()` with IPMI_ERR_LOG (before any console
 *   starts). An error later (disk gone) ends the sink: it is reported once (`lastError`, an 'error' event when
 *   someone listens) and every later byte is counted as dropped; the console goes on.
 * - Node IDs become file names by percent-encoding every byte outside [A-Za-z0-9._-] (and a leading '.'), so
 *   that two nodes never share a file and no node ID leaves the directory.
 */
import { EventEmitter } from 'node:events';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { systemClock, type Clock, type ClockTimer } from '../clock.js';
import { IpmiError } from '../errors.js';
import { eventWords, type RecordEvent, type RecordSink } from './record.js';

/** Rotate a console log when it reaches 10 MiB. */
export const DEFAULT_LOG_FILE_BYTES = 10 * 1024 * 1024;
/** Rotated files kept per console log (node.log.1 .. node.log.5). */
export const DEFAULT_LOG_KEEP = 5;
/** Bounds of `maxFileBytes` and `keep`. */
export const MIN_LOG_FILE_BYTES = 1024;
export const MAX_LOG_FILE_BYTES = 1024 * 1024 * 1024;
export const MAX_LOG_KEEP = 100;
/** Bytes a log file may have queued for a slow disk before output is dropped (and counted). */
export const DEFAULT_LOG_PENDING_BYTES = 1024 * 1024;
export const MAX_LOG_PENDING_BYTES = 64 * 1024 * 1024;
/** Console output is gathered this long before one file write (0: every chunk at once). */
export const DEFAULT_LOG_FLUSH_MS = 250;
export const MAX_LOG_FLUSH_MS = 10_000;
/** ... or until this many bytes are gathered. */
export const DEFAULT_LOG_FLUSH_BYTES = 64 * 1024;
export const MAX_LOG_FLUSH_BYTES = 16 * 1024 * 1024;

export interface LogStreamOptions {
  /** rotate when the file reaches this size */
  maxFileBytes: number;
  /** rotated files kept */
  keep: number;
}

/** How a console log file behaves: rotation, timestamps, bounds and write coalescing (ConsoleManager's `log`). */
export interface ConsoleLogFileOptions {
  /** rotate when the file reaches this size; default DEFAULT_LOG_FILE_BYTES (10 MiB) */
  maxFileBytes?: number;
  /** rotated files kept; default DEFAULT_LOG_KEEP (5) */
  keep?: number;
  /** prefix each line with its wall time (the file is then no longer byte-exact); default false */
  timestamps?: boolean;
  /** bytes queued per file for a slow disk before output is dropped; default DEFAULT_LOG_PENDING_BYTES (1 MiB) */
  pendingBytes?: number;
  /** gather console output this long before one file write; default DEFAULT_LOG_FLUSH_MS (250), 0 = never gather */
  flushMs?: number;
  /** ... or until this many bytes are gathered; default DEFAULT_LOG_FLUSH_BYTES (64 KiB) */
  flushBytes?: number;
}

export interface ConsoleLogOptions extends ConsoleLogFileOptions {
  /** directory of the log files; created if missing */
  dir: string;
  nodeId: string;
  /** the flush timer's clock; default systemClock */
  clock?: Clock;
  /** wall time, ms since the epoch; default Date.now */
  wallTime?: () => number;
  /** opens a rotating file stream; default rotating-file-stream (specs inject a slow disk here) */
  streamFactory?: (file: string, options: LogStreamOptions) => Writable | Promise<Writable>;
}

export interface ConsoleLogStats {
  /** console bytes accepted for the file (handed to the file stream, or gathered for its next write) */
  bytesWritten: number;
  /** console bytes dropped (slow disk over pendingBytes, or the sink failed) */
  bytesDropped: number;
  chunksDropped: number;
  auditLines: number;
  auditDropped: number;
  /** bytes gathered or queued in the file streams now */
  pendingBytes: number;
  /** chunks handed to the console log's file stream (each one file write) */
  fileWrites: number;
  /** files rotated */
  rotations: number;
  failed: boolean;
}

/** `node-1.log`, with every byte outside [A-Za-z0-9._-] (and a leading '.') percent-encoded. */
export function logFileBase(nodeId: string): string {
  let out = '';
  for (const byte of Buffer.from(nodeId, 'utf8')) {
    const c = String.fromCharCode(byte);
    const plain = /[A-Za-z0-9_-]/.test(c) || (c === '.' && out !== '');
    out += plain ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function checkInteger(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console log option ${name} must be an integer in ${min}..${max}, not ${String(value)}.`);
  }
  return value;
}

async function defaultStreamFactory(file: string, options: LogStreamOptions): Promise<Writable> {
  let rfs: typeof import('rotating-file-stream');
  try {
    rfs = await import('rotating-file-stream');
  } catch (error) {
    throw new IpmiError('IPMI_ERR_LOG', 'Console log files need the package rotating-file-stream (npm install rotating-file-stream).', {
      cause: error,
    });
  }
  return rfs.createStream(path.basename(file), {
    path: path.dirname(file) + path.sep,
    size: `${options.maxFileBytes}B`,
    rotate: options.keep,
  });
}

/** Create the directory if needed and prove both files can be opened for appending; else IPMI_ERR_LOG. */
async function checkWritable(dir: string, files: string[]): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    for (const file of files) await (await open(file, 'a')).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new IpmiError('IPMI_ERR_LOG', `Console log directory ${dir} is not writable${code ? ` (${code})` : ''}.`, { cause: error });
  }
}

/** Open a node's console log (and its audit sibling). Rejects with IPMI_ERR_LOG or IPMI_ERR_BAD_ARGUMENT. */
export async function openConsoleLog(options: ConsoleLogOptions): Promise<ConsoleLogSink> {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'Console log option dir must be a directory path.');
  }
  if (typeof options.nodeId !== 'string' || options.nodeId === '') {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'Console log option nodeId must be a non-empty string.');
  }
  const streamOptions: LogStreamOptions = {
    maxFileBytes: checkInteger('maxFileBytes', options.maxFileBytes, MIN_LOG_FILE_BYTES, MAX_LOG_FILE_BYTES, DEFAULT_LOG_FILE_BYTES),
    keep: checkInteger('keep', options.keep, 1, MAX_LOG_KEEP, DEFAULT_LOG_KEEP),
  };
  const pendingBytes = checkInteger('pendingBytes', options.pendingBytes, 1, MAX_LOG_PENDING_BYTES, DEFAULT_LOG_PENDING_BYTES);
  const flush = {
    ms: checkInteger('flushMs', options.flushMs, 0, MAX_LOG_FLUSH_MS, DEFAULT_LOG_FLUSH_MS),
    // never more than half the pending bound gathered, so a gathered write alone never fills it
    bytes: Math.min(checkInteger('flushBytes', options.flushBytes, 1, MAX_LOG_FLUSH_BYTES, DEFAULT_LOG_FLUSH_BYTES), Math.ceil(pendingBytes / 2)),
    clock: options.clock ?? systemClock,
  };
  const dir = path.resolve(options.dir);
  const base = path.join(dir, logFileBase(options.nodeId));
  const file = `${base}.log`;
  const auditFile = `${base}.audit.log`;
  await checkWritable(dir, [file, auditFile]);
  const factory = options.streamFactory ?? defaultStreamFactory;
  const log = await factory(file, streamOptions);
  const audit = await factory(auditFile, streamOptions);
  return new ConsoleLogSink({
    file,
    auditFile,
    log,
    audit,
    pendingBytes,
    flush,
    timestamps: options.timestamps ?? false,
    wallTime: options.wallTime ?? Date.now,
  });
}

interface SinkParts {
  file: string;
  auditFile: string;
  log: Writable;
  audit: Writable;
  pendingBytes: number;
  flush: { ms: number; bytes: number; clock: Clock };
  timestamps: boolean;
  wallTime: () => number;
}

export class ConsoleLogSink extends EventEmitter implements RecordSink {
  readonly file: string;
  readonly auditFile: string;
  readonly pendingBytes: number;
  readonly #log: Writable;
  readonly #audit: Writable;
  readonly #timestamps: boolean;
  readonly #wallTime: () => number;
  readonly #flush: { ms: number; bytes: number; clock: Clock };
  /** coalesced log writes: console output gathered for the next file write */
  #gathered: Buffer[] = [];
  #gatheredBytes = 0;
  /** the console bytes among them (without timestamps) */
  #gatheredConsoleBytes = 0;
  #flushTimer: ClockTimer | undefined;
  #atLineStart = true;
  #unreported = 0;
  #lastError: IpmiError | undefined;
  #closed = false;
  readonly #stats = { bytesWritten: 0, bytesDropped: 0, chunksDropped: 0, auditLines: 0, auditDropped: 0, rotations: 0, fileWrites: 0 };

  constructor(parts: SinkParts) {
    super();
    this.file = parts.file;
    this.auditFile = parts.auditFile;
    this.pendingBytes = parts.pendingBytes;
    this.#log = parts.log;
    this.#audit = parts.audit;
    this.#timestamps = parts.timestamps;
    this.#wallTime = parts.wallTime;
    this.#flush = parts.flush;
    for (const stream of [this.#log, this.#audit]) {
      stream.on('error', (error: Error) => this.#fail(error));
      stream.on('rotated', () => this.#stats.rotations++);
    }
  }

  get stats(): ConsoleLogStats {
    return {
      ...this.#stats,
      pendingBytes: this.#gatheredBytes + this.#log.writableLength + this.#audit.writableLength,
      failed: this.#lastError !== undefined,
    };
  }

  get lastError(): IpmiError | undefined {
    return this.#lastError;
  }

  /** Console output. Never blocks; drops (counted) what the disk cannot take within pendingBytes. */
  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const data = this.#timestamps ? this.#stamp(chunk) : chunk;
    if (this.#lastError || this.#closed || this.#gatheredBytes + this.#log.writableLength + data.length > this.pendingBytes) {
      this.#stats.bytesDropped += chunk.length;
      this.#stats.chunksDropped++;
      this.#unreported += chunk.length;
      return;
    }
    if (this.#unreported > 0) {
      this.#auditLine(`log overflow: ${this.#unreported} bytes of console output dropped (disk too slow)`);
      this.#unreported = 0;
    }
    this.#stats.bytesWritten += chunk.length;
    this.#gathered.push(data);
    this.#gatheredBytes += data.length;
    this.#gatheredConsoleBytes += chunk.length;
    if (this.#flush.ms === 0 || this.#gatheredBytes >= this.#flush.bytes) this.#writeGathered();
    else this.#flushTimer ??= this.#flush.clock.setTimeout(() => this.#writeGathered(), this.#flush.ms);
  }

  /** One file write of everything gathered (coalesced log writes). */
  #writeGathered(): void {
    if (this.#gatheredBytes === 0) return;
    const chunk = this.#gathered.length === 1 ? this.#gathered[0]! : Buffer.concat(this.#gathered, this.#gatheredBytes);
    this.#dropGathered();
    this.#log.write(chunk);
    this.#stats.fileWrites++;
  }

  /** Empty the gathered output and stop its flush timer (armed only while something is gathered). */
  #dropGathered(): void {
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    this.#gathered = [];
    this.#gatheredBytes = 0;
    this.#gatheredConsoleBytes = 0;
  }

  /** An audit line. */
  event(event: RecordEvent): void {
    this.#auditLine(eventWords(event), event.at);
  }

  /** Flush and close both files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#writeGathered();
    this.#closed = true;
    await Promise.all([this.#log, this.#audit].map((s) => endStream(s)));
  }

  /** One line: `2026-12-03T22:00:00.000Z attach (writer 127.0.0.1:5000)`. */
  #auditLine(words: string, at = this.#wallTime()): void {
    const line = Buffer.from(`${new Date(at).toISOString()} ${words}\n`, 'utf8');
    if (this.#lastError || this.#closed || this.#audit.writableLength + line.length > this.pendingBytes) {
      this.#stats.auditDropped++;
      return;
    }
    this.#audit.write(line);
    this.#stats.auditLines++;
  }

  #stamp(chunk: Buffer): Buffer {
    const stamp = Buffer.from(`[${new Date(this.#wallTime()).toISOString()}] `, 'latin1');
    const parts: Buffer[] = [];
    let from = 0;
    while (from < chunk.length) {
      if (this.#atLineStart) parts.push(stamp);
      const lf = chunk.indexOf(0x0a, from);
      const end = lf === -1 ? chunk.length : lf + 1;
      parts.push(chunk.subarray(from, end));
      this.#atLineStart = lf !== -1;
      from = end;
    }
    return Buffer.concat(parts);
  }

  #fail(error: Error): void {
    if (this.#lastError) return;
    this.#lastError = new IpmiError('IPMI_ERR_LOG', `Console log ${this.file} failed: ${error.message}`, { cause: error });
    if (this.#gatheredBytes > 0) {
      // accepted but never written: they move from written to dropped
      this.#stats.bytesWritten -= this.#gatheredConsoleBytes;
      this.#stats.bytesDropped += this.#gatheredConsoleBytes;
      this.#stats.chunksDropped += this.#gathered.length;
      this.#dropGathered();
    }
    if (this.listenerCount('error') > 0) this.emit('error', this.#lastError);
  }
}

function endStream(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableFinished) return resolve();
    stream.once('close', () => resolve());
    stream.once('finish', () => resolve());
    stream.once('error', () => resolve());
    stream.end();
  });
}
