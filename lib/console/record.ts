/**
 * ConsoleRecord: what one console printed and what happened to it. It is the primary reader of a captured
 * console: output goes into the bounded history (ConsoleHistory) and is fanned out, in order, to the sinks (the
 * log file, the viewers). A sink never blocks the record: each sink bounds its own memory and drops what it
 * cannot take, counting it. Pure: no I/O and no timer of its own; time comes from the injected clocks.
 *
 * Events (attach, detach, takeover, break, BMC lost, BMC back) are stamped with wall time and passed to the
 * sinks (the log sink writes them as audit lines). A BMC loss continues the same record with a marked gap: the
 * history gets one marker line when the BMC is lost and one when it is back, so `tail()` and replay show where
 * output may be missing. Live viewers and the console log file get the node's bytes only, never a marker.
 */
import { systemClock, type Clock } from '../clock.js';
import { ConsoleHistory, DEFAULT_HISTORY_BYTES, type ConsoleTail, type TailOptions } from './history.js';

export type RecordEventKind = 'attach' | 'detach' | 'takeover' | 'break' | 'bmc-lost' | 'bmc-back';

export interface RecordEvent {
  kind: RecordEventKind;
  /** wall time, milliseconds since the epoch */
  at: number;
  /** one short operator-facing detail: a client address and role, an error code; never a secret */
  detail?: string;
}

/** Where a record's output goes besides the history. `write` must not block and must not throw. */
export interface RecordSink {
  write(chunk: Buffer): void;
  event?(event: RecordEvent): void;
}

export interface ConsoleRecordOptions {
  /** history ring size; default DEFAULT_HISTORY_BYTES (256 KiB) */
  historyBytes?: number;
  /** monotonic time (gap durations); default systemClock */
  clock?: Clock;
  /** wall time for stamps (ms since the epoch); default Date.now */
  wallTime?: () => number;
}

export interface RecordStats {
  /** node output recorded since creation */
  bytes: number;
  /** bytes the history holds now */
  historyBytes: number;
  /** gaps marked (BMC lost) */
  gaps: number;
  /** sink calls that threw (a bug in a sink; counted, never propagated) */
  sinkErrors: number;
}

const CRLF = Buffer.from('\r\n');

export class ConsoleRecord {
  readonly history: ConsoleHistory;
  readonly #clock: Clock;
  readonly #wallTime: () => number;
  readonly #sinks = new Set<RecordSink>();
  #lostAt: number | undefined;
  #gaps = 0;
  #sinkErrors = 0;
  #markerBytes = 0;

  constructor(options: ConsoleRecordOptions = {}) {
    this.history = new ConsoleHistory(options.historyBytes ?? DEFAULT_HISTORY_BYTES);
    this.#clock = options.clock ?? systemClock;
    this.#wallTime = options.wallTime ?? Date.now;
  }

  /** true between 'bmc-lost' and 'bmc-back' */
  get lost(): boolean {
    return this.#lostAt !== undefined;
  }

  get stats(): RecordStats {
    return {
      bytes: this.history.totalBytes - this.#markerBytes,
      historyBytes: this.history.length,
      gaps: this.#gaps,
      sinkErrors: this.#sinkErrors,
    };
  }

  /** Node output: into the history, then to every sink in the order they were added. */
  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.history.append(chunk);
    for (const sink of this.#sinks) {
      try {
        sink.write(chunk);
      } catch {
        this.#sinkErrors++;
      }
    }
  }

  /**
   * Something happened to the console. 'bmc-lost' while already lost, and 'bmc-back' while not lost, are ignored
   * (one gap per outage).
   */
  note(kind: RecordEventKind, detail?: string): void {
    if (kind === 'bmc-lost') {
      if (this.#lostAt !== undefined) return;
      this.#lostAt = this.#clock.now();
      this.#gaps++;
    } else if (kind === 'bmc-back') {
      if (this.#lostAt === undefined) return;
      const seconds = (this.#clock.now() - this.#lostAt) / 1000;
      this.#lostAt = undefined;
      detail = [detail, `gap ${seconds.toFixed(1)} s`].filter(Boolean).join(', ');
    }
    const event: RecordEvent = { kind, at: this.#wallTime(), ...(detail ? { detail } : {}) };
    if (kind === 'bmc-lost' || kind === 'bmc-back') this.#mark(event);
    for (const sink of this.#sinks) {
      if (!sink.event) continue;
      try {
        sink.event(event);
      } catch {
        this.#sinkErrors++;
      }
    }
  }

  tail(options?: TailOptions): ConsoleTail {
    return this.history.tail(options);
  }

  /** Add a sink; returns the function that removes it. */
  addSink(sink: RecordSink): () => void {
    this.#sinks.add(sink);
    return () => {
      this.#sinks.delete(sink);
    };
  }

  /** A marker line in the history only, on a line of its own. */
  #mark(event: RecordEvent): void {
    const text = `[ipmi-sol-bridge: ${eventWords(event)} at ${new Date(event.at).toISOString()}]`;
    const lead = this.history.length > 0 && this.history.lastByte !== 0x0a ? CRLF : Buffer.alloc(0);
    const marker = Buffer.concat([lead, Buffer.from(text, 'utf8'), CRLF]);
    this.history.append(marker);
    this.#markerBytes += marker.length;
  }
}

/** "BMC lost (IPMI_ERR_TIMEOUT)": the words of an audit line and of a gap marker, without the time. */
export function eventWords(event: RecordEvent): string {
  const words: Record<RecordEventKind, string> = {
    attach: 'attach',
    detach: 'detach',
    takeover: 'takeover',
    break: 'break',
    'bmc-lost': 'BMC lost',
    'bmc-back': 'BMC back',
  };
  return `${words[event.kind]}${event.detail ? ` (${event.detail})` : ''}`;
}
