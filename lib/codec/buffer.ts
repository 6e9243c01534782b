/**
 * A tiny reader/writer over plain Buffer, in the style of pg-protocol's BufferReader/Writer.
 * IPMI is little-endian everywhere except the RMCP header (which has no multi-byte fields we use).
 */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

export class BufferReader {
  offset: number;
  constructor(
    readonly buffer: Buffer,
    offset = 0,
    readonly end = buffer.length,
  ) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.end) {
      throw new CodecError(`truncated: need ${n} byte(s) at offset ${this.offset}, have ${this.remaining}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buffer[this.offset++]!;
  }

  u16le(): number {
    this.need(2);
    const v = this.buffer.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u32le(): number {
    this.need(4);
    const v = this.buffer.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  u24le(): number {
    this.need(3);
    const v = this.buffer.readUIntLE(this.offset, 3);
    this.offset += 3;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }
}

export class BufferWriter {
  private buffer: Buffer;
  private offset = 0;

  constructor(initialSize = 64) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + n));
    this.buffer.copy(next, 0, 0, this.offset);
    this.buffer = next;
  }

  get length(): number {
    return this.offset;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = v & 0xff;
    return this;
  }

  u16le(v: number): this {
    this.ensure(2);
    this.buffer.writeUInt16LE(v & 0xffff, this.offset);
    this.offset += 2;
    return this;
  }

  u24le(v: number): this {
    this.ensure(3);
    this.buffer.writeUIntLE(v & 0xffffff, this.offset, 3);
    this.offset += 3;
    return this;
  }

  u32le(v: number): this {
    this.ensure(4);
    this.buffer.writeUInt32LE(v >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buffer.set(b, this.offset);
    this.offset += b.length;
    return this;
  }

  fill(value: number, n: number): this {
    this.ensure(n);
    this.buffer.fill(value, this.offset, this.offset + n);
    this.offset += n;
    return this;
  }

  /** A copy of what was written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.offset));
  }
}

export function hex(buf: Uint8Array): string {
  return Buffer.from(buf).toString('hex');
}

export function fromHex(text: string): Buffer {
  const clean = text.replace(/#[^\n]*/g, '').replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2 !== 0) throw new CodecError('odd number of hex digits');
  return Buffer.from(clean, 'hex');
}
