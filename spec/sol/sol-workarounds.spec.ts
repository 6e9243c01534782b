/**
 * The vendor workarounds of SolWorkarounds that change what the engine sends or takes (lib/sol/sol-workarounds.ts
 * and their use in SolEngine), driven with no socket and a hand-made clock. The fake BMC quirks they answer are
 * proven end to end in spec/fixtures/fake-bmc-quirks.spec.ts and spec/interop/pyghmi-bmc.spec.ts.
 */
import { expect } from 'chai';
import { decodeSolPacket, encodeSolPacket } from '../../lib/codec/sol-payload.js';
import { SOL_OVERSIZED_MAX_CHARACTERS, SolEngine, type SolEngineOptions } from '../../lib/sol/sol-engine.js';
import {
  bumpSequenceNow,
  DEFAULT_SOL_SERIAL_KEEPALIVE_MS,
  MIN_SOL_SERIAL_KEEPALIVE_MS,
  renumberSolPayload,
  serialKeepaliveInterval,
} from '../../lib/sol/sol-workarounds.js';

function engine(options: Partial<SolEngineOptions> = {}): { e: SolEngine; sent: Buffer[]; got: Buffer[] } {
  const sent: Buffer[] = [];
  const got: Buffer[] = [];
  const e = new SolEngine({ send: (p) => sent.push(p), maxOutboundChars: 32, retransmitIntervalMs: 100, maxRetransmits: 10, onData: (d) => got.push(d), ...options });
  return { e, sent, got };
}

/** A BMC data packet of n characters, built by hand: our encoder refuses more than 255 (table 15-2). */
const bmcData = (seq: number, n: number): Buffer => Buffer.concat([Buffer.from([seq, 0, 0, 0]), Buffer.alloc(n, 0x41)]);
const ack = (seq: number, count: number): Buffer => encodeSolPacket({ sequence: 0, ackSequence: seq, acceptedCount: count, flags: 0, data: Buffer.alloc(0) });

describe('sol/sol-workarounds', () => {
  it('renumberSolPayload changes only bits 3:0 of byte 0', () => {
    const p = encodeSolPacket({ sequence: 3, ackSequence: 2, acceptedCount: 7, flags: 0, data: Buffer.from('xy') });
    const q = renumberSolPayload(p, 4);
    expect(decodeSolPacket(q)).to.deep.include({ sequence: 4, ackSequence: 2, acceptedCount: 7 });
    expect(q.subarray(1).equals(p.subarray(1))).to.equal(true);
    expect(decodeSolPacket(p).sequence).to.equal(3); // the original is untouched
  });

  it('bumpSequenceNow: every `after` transmissions, never when unset', () => {
    expect([1, 2, 3, 4].map((n) => bumpSequenceNow(n, 2))).to.deep.equal([false, true, false, true]);
    expect(bumpSequenceNow(2, undefined)).to.equal(false);
    expect(bumpSequenceNow(2, 0)).to.equal(false);
  });

  it('serialKeepaliveInterval: default, and the minimum', () => {
    expect(serialKeepaliveInterval(undefined)).to.equal(DEFAULT_SOL_SERIAL_KEEPALIVE_MS);
    expect(serialKeepaliveInterval(1)).to.equal(MIN_SOL_SERIAL_KEEPALIVE_MS);
    expect(serialKeepaliveInterval(250)).to.equal(250);
  });

  describe('acceptOversizedPackets (pyghmi sends 256 characters a packet)', () => {
    it('off: a 256-character packet is malformed and dropped, unacknowledged', () => {
      const { e, sent, got } = engine({ workarounds: { skipSequencePrime: true } });
      e.start(0);
      e.receive(bmcData(1, 256), 1);
      expect(e.stats.malformed).to.equal(1);
      expect(got).to.have.length(0);
      expect(sent).to.have.length(0);
    });

    it('on: delivered whole and ACKed with 255 (the count is one byte); above the bound still malformed', () => {
      const { e, sent, got } = engine({ workarounds: { skipSequencePrime: true, acceptOversizedPackets: true } });
      e.start(0);
      e.receive(bmcData(1, 256), 1);
      expect(Buffer.concat(got).length).to.equal(256);
      expect(decodeSolPacket(sent.at(-1)!)).to.deep.include({ sequence: 0, ackSequence: 1, acceptedCount: 255 });
      e.receive(bmcData(2, SOL_OVERSIZED_MAX_CHARACTERS + 1), 2);
      expect(e.stats.malformed).to.equal(1);
    });
  });

  it('bumpSequenceAfterSends: the unacknowledged packet is resent under the next number, same characters', () => {
    const { e, sent } = engine({ workarounds: { skipSequencePrime: true, bumpSequenceAfterSends: 2 } });
    e.start(0);
    e.write(Buffer.from('ab'), 0);
    e.poll(100); // second transmission: same number
    e.poll(200); // third: renumbered
    const seqs = sent.map((p) => decodeSolPacket(p).sequence);
    expect(seqs).to.deep.equal([1, 1, 2]);
    expect(decodeSolPacket(sent[2]!).data.toString()).to.equal('ab');
    expect(e.stats.sequenceBumps).to.equal(1);
    e.receive(ack(2, 2), 250);
    expect(e.idle).to.equal(true);
  });

  for (const mode of ['nul', 'empty'] as const) {
    it(`serialKeepalive '${mode}': a packet after a quiet interval, none while the BMC talks or we send`, () => {
      const { e, sent } = engine({ workarounds: { skipSequencePrime: true, serialKeepalive: mode, serialKeepaliveMs: 1000 } });
      e.start(0);
      expect(e.nextDeadline()).to.equal(1000);
      e.receive(bmcData(1, 3), 600); // the BMC talks: the quiet interval starts again
      expect(e.nextDeadline()).to.equal(1600);
      e.poll(1599);
      const acks = sent.length;
      e.poll(1600);
      expect(sent).to.have.length(acks + 1);
      const k = decodeSolPacket(sent.at(-1)!);
      expect(k.sequence).to.equal(1);
      expect(k.data.equals(mode === 'nul' ? Buffer.from([0]) : Buffer.alloc(0))).to.equal(true);
      // in flight: no keepalive deadline (the retransmission deadline rules)
      expect(e.nextDeadline()).to.equal(1700);
      e.receive(ack(1, mode === 'nul' ? 1 : 0), 1650);
      expect(e.nextDeadline()).to.equal(2600);
      expect(e.stats.serialKeepalives).to.equal(1);
    });
  }
});
