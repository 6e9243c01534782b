/**
 * A SolHost with no session behind it, and a scripted BMC on its far side: what a SolStream sends arrives at
 * FakeSolBmc, what the BMC sends arrives at the stream (on the next macrotask, like a datagram would).
 */
import type { IpmiError } from '../../lib/errors.js';
import type { IpmiCommand, IpmiCommandResponse, SolHost } from '../../lib/sol/sol-host.js';
import { Cmd, encodeActivatePayloadResponse } from '../../lib/codec/commands.js';
import { decodeSolPacket, encodeSolPacket, nextSolSequence, SolOperation, type SolPacket } from '../../lib/codec/sol-payload.js';

export type Responder = (command: IpmiCommand) => IpmiCommandResponse | Promise<IpmiCommandResponse>;

export function activateOk(fields: { inboundPayloadSize?: number; outboundPayloadSize?: number; port?: number } = {}): IpmiCommandResponse {
  return {
    completionCode: 0,
    data: encodeActivatePayloadResponse({
      inboundPayloadSize: fields.inboundPayloadSize ?? 259,
      outboundPayloadSize: fields.outboundPayloadSize ?? 259,
      port: fields.port ?? 623,
      vlan: undefined,
    }),
  };
}

export function cc(code: number): IpmiCommandResponse {
  return { completionCode: code, data: Buffer.alloc(0) };
}

/** Answers Activate with success and Deactivate with 0x00, unless `responder` says otherwise. */
export const defaultResponder: Responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk() : cc(0));

export class FakeSolHost implements SolHost {
  address = '127.0.0.1';
  port = 623;
  integrity = true;
  confidentiality = false;
  bmcSessionId = 0x01020304;
  closed = false;
  readonly requests: IpmiCommand[] = [];
  readonly sent: { payload: Buffer; options: { encrypt: boolean; authenticate: boolean; port: number } }[] = [];
  responder: Responder = defaultResponder;
  /** Receives every SOL payload the stream sends (the BMC side). */
  onSend: ((payload: Buffer) => void) | undefined;
  private readonly solHandlers = new Set<(payload: Buffer, sessionSequence: number) => void>();
  /** Session sequence numbers of delivered payloads, increasing as a BMC's would. */
  private sessionSequence = 0;
  private readonly closeHandlers = new Set<(reason: IpmiError | undefined) => void>();

  get subscribers(): number {
    return this.solHandlers.size + this.closeHandlers.size;
  }

  async request(command: IpmiCommand): Promise<IpmiCommandResponse> {
    this.requests.push(command);
    return this.responder(command);
  }

  sendSolPayload(payload: Buffer, options: { encrypt: boolean; authenticate: boolean; port: number }): void {
    this.sent.push({ payload: Buffer.from(payload), options: { ...options } });
    this.onSend?.(Buffer.from(payload));
  }

  onSolPayload(handler: (payload: Buffer, sessionSequence: number) => void): () => void {
    this.solHandlers.add(handler);
    return () => this.solHandlers.delete(handler);
  }

  onClose(handler: (reason: IpmiError | undefined) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** A SOL payload from the BMC, delivered on the next macrotask. */
  deliver(payload: Buffer, sessionSequence = ++this.sessionSequence): void {
    setImmediate(() => {
      for (const h of [...this.solHandlers]) h(payload, sessionSequence);
    });
  }

  close(reason?: IpmiError): void {
    this.closed = true;
    for (const h of [...this.closeHandlers]) h(reason);
  }
}

/**
 * The BMC end of a FakeSolHost: ACKs our data packets (by default all characters), records what arrived,
 * and sends serial output with its own sequence numbers.
 */
export class FakeSolBmc {
  /** Characters that reached the serial port, in order. */
  received = Buffer.alloc(0);
  readonly packets: SolPacket[] = [];
  /** ACKs (ack sequence != 0) the console sent us. */
  readonly acks: SolPacket[] = [];
  breaks = 0;
  /** How many characters of a data packet to accept; undefined = do not answer at all. */
  accept: (p: SolPacket) => number | undefined = (p) => p.data.length;
  /** Status bits to add to every ACK we send. */
  ackFlags = 0;
  private seq = 0;

  constructor(readonly host: FakeSolHost) {
    host.onSend = (payload) => this.onPacket(decodeSolPacket(payload));
  }

  /** Serial output: one BMC data packet with the next sequence number. Returns the sequence used. */
  output(chars: string | Buffer, flags = 0): number {
    this.seq = nextSolSequence(this.seq);
    this.host.deliver(encodeSolPacket({ sequence: this.seq, ackSequence: 0, acceptedCount: 0, flags, data: Buffer.from(chars) }));
    return this.seq;
  }

  /** Resend a data packet with a given sequence number (a retransmission). */
  resend(seq: number, chars: string | Buffer, flags = 0): void {
    this.host.deliver(encodeSolPacket({ sequence: seq, ackSequence: 0, acceptedCount: 0, flags, data: Buffer.from(chars) }));
  }

  status(flags: number): void {
    this.host.deliver(encodeSolPacket({ sequence: 0, ackSequence: 0, acceptedCount: 0, flags, data: Buffer.alloc(0) }));
  }

  private onPacket(p: SolPacket): void {
    this.packets.push(p);
    if (p.ackSequence !== 0) this.acks.push(p);
    if (p.sequence === 0) return;
    if (p.flags & SolOperation.GENERATE_BREAK) this.breaks++;
    const n = this.accept(p);
    if (n === undefined) return;
    this.received = Buffer.concat([this.received, p.data.subarray(0, n)]);
    this.host.deliver(encodeSolPacket({ sequence: 0, ackSequence: p.sequence, acceptedCount: n, flags: this.ackFlags, data: Buffer.alloc(0) }));
  }
}

/** Wait until `cond()` holds, polling every few ms; fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
