/**
 * Console port ranges, with Ironic's semantics (`[console] port_range = start:end`, iterated as
 * `range(start, end)`: the end is EXCLUDED), extended to several comma-separated segments
 * ('10000:10010,11000:11005').
 *
 * A port is handed out only once a real bind on it succeeded (no check-then-bind race as with a probe
 * socket): `PortAllocator.acquire(bind)` calls `bind(port)` on each free candidate, lowest first, moving on
 * when the port is taken by someone else (EADDRINUSE, EACCES).
 */
import { IpmiError } from '../errors.js';

/** A half-open interval of TCP ports: start <= port < end. */
export interface PortRangeSegment {
  readonly start: number;
  readonly end: number;
}

/** Highest TCP port. A segment's end may be MAX_PORT + 1 so that MAX_PORT itself can be handed out. */
export const MAX_PORT = 65535;

const SEGMENT_PATTERN = /^(\d{1,5}):(\d{1,5})$/;

function badRange(spec: string, why: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Invalid console port range '${spec}': ${why}.`);
}

/**
 * Parse 'start:end[,start:end...]' (end excluded, as Ironic's range(start, end)). Whitespace around segments
 * is ignored. Throws IpmiError IPMI_ERR_BAD_ARGUMENT with a sentence naming the problem: bad syntax, a port
 * out of 1..65535 (end up to 65536, being excluded), start >= end (an empty range), overlapping segments.
 */
export function parsePortRange(spec: string): PortRangeSegment[] {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw badRange(String(spec), "expected 'start:end' (end excluded), e.g. '10000:20000'");
  }
  const segments: PortRangeSegment[] = [];
  for (const raw of spec.split(',')) {
    const text = raw.trim();
    const match = SEGMENT_PATTERN.exec(text);
    if (!match) {
      throw badRange(spec, `segment '${text}' is not 'start:end' with decimal port numbers`);
    }
    const start = Number(match[1]);
    const end = Number(match[2]);
    if (start < 1 || start > MAX_PORT) {
      throw badRange(spec, `start port ${start} is outside 1..${MAX_PORT}`);
    }
    if (end > MAX_PORT + 1) {
      throw badRange(spec, `end port ${end} is outside 2..${MAX_PORT + 1} (the end is excluded)`);
    }
    if (start >= end) {
      throw badRange(spec, `segment '${text}' is empty: the start must be below the end, which is excluded`);
    }
    segments.push({ start, end });
  }
  const sorted = [...segments].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const current = sorted[i]!;
    if (current.start < previous.end) {
      throw badRange(
        spec,
        `segments ${previous.start}:${previous.end} and ${current.start}:${current.end} overlap`,
      );
    }
  }
  return segments;
}

/** Number of ports in the segments. */
export function portRangeSize(segments: readonly PortRangeSegment[]): number {
  return segments.reduce((sum, s) => sum + (s.end - s.start), 0);
}

export function portInRange(segments: readonly PortRangeSegment[], port: number): boolean {
  return segments.some((s) => port >= s.start && port < s.end);
}

/** Error codes that mean "this port is not for us, try the next one". */
const PORT_TAKEN_CODES = new Set(['EADDRINUSE', 'EACCES']);

/** True when `error` (or its `cause`) is a bind failure because the port is taken or not allowed. */
export function isPortTaken(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && PORT_TAKEN_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export interface AcquireOptions {
  /** Try this port first (e.g. the one a restarted console had), if it is in the range and free. */
  prefer?: number;
}

/**
 * Hands out ports of a range. A port is "allocated" from the moment `bind(port)` is attempted on it (so two
 * concurrent `acquire` calls never try the same port) and stays so until `release(port)`, which makes it
 * available again at once. Ports taken by other processes are skipped (not remembered: they are tried again
 * on the next `acquire`).
 */
export class PortAllocator {
  readonly segments: readonly PortRangeSegment[];
  readonly size: number;
  readonly #allocated = new Set<number>();

  constructor(range: string | readonly PortRangeSegment[]) {
    // Segments given as objects go through the same validation as a string.
    this.segments = parsePortRange(typeof range === 'string' ? range : range.map((r) => `${r.start}:${r.end}`).join(','));
    this.size = portRangeSize(this.segments);
  }

  /** Ports currently handed out or being tried, ascending. */
  get allocated(): number[] {
    return [...this.#allocated].sort((a, b) => a - b);
  }

  isAllocated(port: number): boolean {
    return this.#allocated.has(port);
  }

  includes(port: number): boolean {
    return portInRange(this.segments, port);
  }

  /**
   * Mark a port as used without binding through the allocator (an explicit port a caller bound itself).
   * Returns false when it was already allocated. Ports outside the range are accepted and tracked too.
   */
  reserve(port: number): boolean {
    if (this.#allocated.has(port)) return false;
    this.#allocated.add(port);
    return true;
  }

  release(port: number): void {
    this.#allocated.delete(port);
  }

  /**
   * Bind on the first free port of the range (lowest first, `prefer` before all) and return what `bind`
   * returned. A bind failing with EADDRINUSE/EACCES moves on to the next port; any other failure (e.g.
   * EADDRNOTAVAIL: the address is not on this host) is rethrown at once, since every port would fail alike.
   * Rejects with IPMI_ERR_NO_FREE_PORTS when no port is left.
   */
  async acquire<T>(bind: (port: number) => Promise<T>, options: AcquireOptions = {}): Promise<{ port: number; value: T }> {
    let tried = 0;
    let taken = 0;
    for (const port of this.#candidates(options.prefer)) {
      if (this.#allocated.has(port)) continue;
      this.#allocated.add(port);
      tried++;
      try {
        const value = await bind(port);
        return { port, value };
      } catch (error) {
        this.#allocated.delete(port);
        if (!isPortTaken(error)) throw error;
        taken++;
      }
    }
    const ranges = this.segments.map((s) => `${s.start}:${s.end}`).join(',');
    throw new IpmiError(
      'IPMI_ERR_NO_FREE_PORTS',
      `No free console port in range ${ranges} (${this.size} ports: ${this.size - tried} already allocated ` +
        `by this process, ${taken} in use by others).`,
    );
  }

  *#candidates(prefer: number | undefined): Generator<number> {
    if (prefer !== undefined && this.includes(prefer)) yield prefer;
    for (const segment of this.segments) {
      for (let port = segment.start; port < segment.end; port++) {
        if (port !== prefer) yield port;
      }
    }
  }
}
