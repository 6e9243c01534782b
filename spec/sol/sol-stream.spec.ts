import { expect } from 'chai';
import { SolStream, type SolStreamOptions } from '../../lib/sol/sol-stream.js';
import { SOL_PRIME_SEQUENCE } from '../../lib/sol/sol-engine.js';
import { Cmd } from '../../lib/codec/commands.js';
import { NetFn } from '../../lib/codec/ipmi-message.js';
import { SolOperation, SolStatus } from '../../lib/codec/sol-payload.js';
import { IpmiError } from '../../lib/errors.js';
import { ManualClock } from '../../lib/clock.js';
import { FakeSolBmc, FakeSolHost, cc, until } from './fake-sol-host.js';

/** Let the FakeSolHost's datagrams (delivered on the next macrotask) arrive. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function open(options: Partial<SolStreamOptions> = {}) {
  const clock = options.clock ?? new ManualClock();
  const host = new FakeSolHost();
  const bmc = new FakeSolBmc(host);
  const stream = new SolStream(host, {
    instance: 1,
    port: 623,
    encrypt: false,
    authenticate: true,
    maxOutboundChars: 255,
    retransmitIntervalMs: 20,
    maxRetransmits: 3,
    ownershipCheckMs: 0,
    ...options,
    clock,
  });
  const closes: (IpmiError | undefined)[] = [];
  const errors: Error[] = [];
  stream.on('close', (reason) => closes.push(reason));
  stream.on('error', (e) => errors.push(e));
  return { host, bmc, stream, closes, errors, clock: clock as ManualClock };
}

function write(stream: SolStream, chunk: string): Promise<Error | null | undefined> {
  return new Promise((resolve) => stream.write(chunk, (err) => resolve(err)));
}

describe('SolStream', () => {
  it('sends the priming packet, then characters with the options Activate Payload asked for', async () => {
    const { host, bmc, stream } = open({ port: 40623, encrypt: true, authenticate: true });
    await write(stream, 'ls\r');
    expect(bmc.packets[0]!.sequence).to.equal(SOL_PRIME_SEQUENCE);
    expect(bmc.received.toString()).to.equal('ls\r');
    expect(host.sent.every((s) => s.options.port === 40623 && s.options.encrypt && s.options.authenticate)).to.equal(true);
    stream.destroy();
  });

  it('"one send-options object": every packet and ACK to one port goes with the same options object', async () => {
    const { host, bmc, stream } = open();
    const seen = new Set<object>();
    const send = host.sendSolPayload.bind(host);
    host.sendSolPayload = (payload, options) => {
      seen.add(options);
      send(payload, options);
    };
    for (let i = 0; i < 5; i++) await write(stream, `line ${i}\r`);
    bmc.output('some output');
    await until(() => host.sent.length >= 7);
    expect(seen.size).to.equal(1);
    stream.destroy();
  });

  it('calls a write callback only once the BMC acknowledged all its characters', async () => {
    // The fixed timer: this FakeSolBmc keeps every copy it accepts (no duplicate check) and ACKs asynchronously,
    // while advance(20) would fire several adaptive retransmissions (a few ms apart) in one go.
    const { bmc, stream, clock } = open({ maxOutboundChars: 4, adaptiveRetransmit: false });
    await until(() => stream.stats.packetsReceived === 1); // the priming packet's ACK
    const held: number[] = [];
    bmc.accept = (p) => (held.push(p.sequence), undefined); // the BMC sits on it
    let done = false;
    stream.write('abcdefgh', () => (done = true));
    expect(held).to.have.length(1); // sent at once, and no timer can fire: time stands still
    await settle();
    expect(done).to.equal(false);
    bmc.accept = (p) => p.data.length;
    clock.advance(20); // the retransmission gets its ACK, the rest follows
    await until(() => done);
    expect(bmc.received.toString()).to.equal('abcdefgh');
    expect(stream.stats.bytesOut).to.equal(8);
    stream.destroy();
  });

  it('keeps what is queued within the writable highWaterMark while the BMC does not acknowledge', async () => {
    const { bmc, stream, clock } = open({ writableHighWaterMark: 8, retransmitIntervalMs: 1000 });
    bmc.accept = () => undefined;
    const results: boolean[] = [];
    for (let i = 0; i < 6; i++) results.push(stream.write('abc'));
    expect(results.indexOf(false)).to.be.within(1, 3); // write() says stop once 8 bytes are queued
    expect(stream.writableNeedDrain).to.equal(true);
    let drained = false;
    stream.once('drain', () => (drained = true));
    bmc.accept = (p) => p.data.length;
    clock.advance(1000); // the retransmission of the outstanding packet now gets its ACK; the rest follows
    await until(() => drained, 3000);
    expect(bmc.received.toString()).to.equal('abc'.repeat(6));
    stream.destroy();
  });

  it('delivers the same characters for every split of a write', async () => {
    const text = 'echo hi\r\n';
    for (let i = 1; i < text.length; i++) {
      const { bmc, stream } = open({ maxOutboundChars: 3 });
      stream.write(text.slice(0, i));
      await write(stream, text.slice(i));
      expect(bmc.received.toString(), `split at ${i}`).to.equal(text);
      stream.destroy();
    }
  });

  it('reads BMC output and stops acknowledging when the reader does not keep up, then resumes', async () => {
    const { bmc, stream } = open({ readableHighWaterMark: 8 });
    bmc.output('12345678'); // fills the readable buffer
    await until(() => bmc.acks.length === 1);
    const before = stream.stats.packetsReceived;
    const seq2 = bmc.output('abcd'); // no room: held, not acknowledged (and no timer can fire)
    await until(() => stream.stats.packetsReceived === before + 1);
    expect(bmc.acks).to.have.length(1);
    expect(stream.readableLength).to.equal(8);
    const got: string[] = [];
    stream.on('data', (c: Buffer) => got.push(c.toString()));
    await until(() => got.join('') === '12345678abcd');
    expect(stream.stats.bytesIn).to.equal(12);
    expect(bmc.acks.at(-1)).to.deep.include({ ackSequence: seq2, acceptedCount: 4 });
    stream.destroy();
  });

  it('sendBreak resolves on the BMC ACK; a break from the BMC is a "break" event', async () => {
    const { bmc, stream } = open();
    await stream.sendBreak();
    expect(bmc.breaks).to.equal(1);
    expect(bmc.packets.at(-1)!.flags & SolOperation.GENERATE_BREAK).to.equal(SolOperation.GENERATE_BREAK);
    let breaks = 0;
    stream.on('break', () => breaks++);
    stream.resume();
    bmc.output('x', SolStatus.BREAK_DETECTED);
    await until(() => breaks === 1);
    stream.destroy();
  });

  it('deactivate(): Deactivate Payload for its instance, ends with no reason, idempotent', async () => {
    const { host, stream, closes, errors } = open({ instance: 2 });
    const a = stream.deactivate();
    const b = stream.deactivate();
    expect(a).to.equal(b);
    await a;
    await until(() => closes.length === 1);
    const deact = host.requests.filter((r) => r.cmd === Cmd.DEACTIVATE_PAYLOAD);
    expect(deact).to.have.length(1);
    expect(deact[0]!.netFn).to.equal(NetFn.APP);
    expect([...deact[0]!.data!]).to.deep.equal([0x01, 0x02, 0, 0, 0, 0]);
    expect(closes).to.deep.equal([undefined]);
    expect(errors).to.have.length(0);
    expect(host.subscribers).to.equal(0);
    await stream.deactivate();
    expect(host.requests.filter((r) => r.cmd === Cmd.DEACTIVATE_PAYLOAD)).to.have.length(1);
  });

  it('deactivate() does not reject when the BMC refuses or the session is gone', async () => {
    const { host, stream, closes } = open();
    host.responder = () => cc(0xd4);
    await stream.deactivate();
    await until(() => closes.length === 1);
    const again = open();
    again.host.close();
    await again.stream.deactivate();
    expect(again.host.requests).to.have.length(0);
  });

  it('a local destroy() deactivates the payload, best effort', async () => {
    const { host, stream, closes } = open();
    stream.destroy();
    await until(() => closes.length === 1 && host.requests.length === 2);
    // who holds it first (section 24.5; this fake cannot say), then Deactivate Payload
    expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.GET_PAYLOAD_INSTANCE_INFO, Cmd.DEACTIVATE_PAYLOAD]);
  });

  it('the session closing destroys the stream with its reason and unsubscribes', async () => {
    const { host, stream, closes, errors } = open();
    const pending = write(stream, 'lost');
    host.onSend = undefined; // nothing answers any more
    const reason = new IpmiError('IPMI_ERR_TIMEOUT', 'the BMC stopped answering', { fatal: true });
    host.close(reason);
    await until(() => closes.length === 1);
    expect(closes[0]).to.equal(reason);
    expect(errors).to.deep.equal([reason]);
    expect(stream.closeReason).to.equal(reason);
    expect(host.subscribers).to.equal(0);
    expect((await pending)?.message).to.equal(reason.message);
    expect(host.requests).to.have.length(0); // no Deactivate into a dead session
  });

  it('a clean session close ends the stream with no reason', async () => {
    const { host, closes, errors } = open();
    host.close(undefined);
    await until(() => closes.length === 1);
    expect(closes).to.deep.equal([undefined]);
    expect(errors).to.have.length(0);
  });

  it('the BMC deactivating (status 0x10) closes with IPMI_ERR_SOL_DEACTIVATED, without a Deactivate of ours', async () => {
    const { host, bmc, closes } = open();
    bmc.status(SolStatus.DEACTIVATING);
    await until(() => closes.length === 1);
    expect(closes[0]!.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
    expect(host.requests).to.have.length(0);
  });

  it('an unanswered packet ends the stream with IPMI_ERR_SOL_TIMEOUT after exactly its retransmissions', async () => {
    const { bmc, stream, closes, clock } = open({ retransmitIntervalMs: 10, maxRetransmits: 2 });
    await until(() => stream.stats.packetsReceived === 1); // primed
    bmc.accept = () => undefined;
    stream.write('x');
    clock.advance(29);
    await settle();
    expect(closes).to.have.length(0);
    expect(bmc.packets.filter((p) => p.data.toString() === 'x')).to.have.length(3); // 1 + 2 retransmissions
    clock.advance(1); // the third interval ends unanswered
    await until(() => closes.length === 1);
    expect(closes[0]!.code).to.equal('IPMI_ERR_SOL_TIMEOUT');
    expect(bmc.packets.filter((p) => p.data.toString() === 'x')).to.have.length(3);
  });

  describe('takeUnacknowledged(): the one ledger of what the BMC never acknowledged (C2)', () => {
    it('the BMC lost mid-packet: exactly the unacknowledged tail, queued and still buffered, in write order', async () => {
      const { bmc, stream, clock, closes } = open({ maxOutboundChars: 4, retransmitIntervalMs: 10, maxRetransmits: 2 });
      await until(() => stream.stats.packetsReceived === 1); // primed
      let packets = 0;
      // the BMC takes "ab" of the first packet "abcd", then hears nothing more
      bmc.accept = () => (++packets === 1 ? 2 : undefined);
      stream.write('abcdefghij');
      stream.write('XYZ'); // waits in the Writable's buffer behind the first write
      await until(() => packets === 2); // "cdef" went out as a new packet, unanswered
      expect(stream.takeUnacknowledged()).to.deep.equal(Buffer.alloc(0)); // open: on its way, nothing taken
      expect(bmc.received.toString()).to.equal('ab');
      clock.advance(30); // two retransmissions, then the give-up
      await until(() => closes.length === 1);
      expect(closes[0]!.code).to.equal('IPMI_ERR_SOL_TIMEOUT');
      expect(stream.takeUnacknowledged().toString()).to.equal('cdefghijXYZ');
      expect(stream.takeUnacknowledged()).to.deep.equal(Buffer.alloc(0)); // taking empties it
    });

    it('after deactivate(): what was queued, plus writes made while Deactivate Payload was on its way', async () => {
      const { bmc, stream } = open({ maxOutboundChars: 4 });
      await until(() => stream.stats.packetsReceived === 1);
      bmc.accept = () => undefined;
      stream.write('1234');
      const done = stream.deactivate();
      stream.write('56');
      await done;
      expect(stream.takeUnacknowledged().toString()).to.equal('123456');
    });

    it('everything acknowledged: an empty Buffer', async () => {
      const { stream } = open();
      await write(stream, 'all of it');
      await stream.deactivate();
      expect(stream.takeUnacknowledged()).to.deep.equal(Buffer.alloc(0));
      expect('acknowledgedBytes' in stream).to.equal(false); // the ledger is one, not reconstructed from a count
    });
  });
});
