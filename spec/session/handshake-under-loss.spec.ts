/**
 * 10 000 randomized handshakes of the session state machine against the in-memory BMC, under loss, duplication
 * and reordering (random delays), with no socket and no real time. Each one either opens or ends with a coded
 * IpmiError; none hangs (the simulation has a step bound) and none throws. With the right credentials a
 * failure may only be silence: a timeout, an unreachable BMC, or an error marked `inferred` - never a stated
 * authentication error.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { IpmiError, type IpmiErrorCode } from '../../lib/errors.js';
import { SUPPORTED_CIPHER_SUITE_IDS } from '../../lib/crypto/cipher-suites.js';
import { MemoryBmc } from './memory-bmc.js';
import { Sim, seededRandom, type Faults } from './sim.js';
import { runs } from '../fuzz/fuzz-helpers.js';

const users = [{ name: 'admin', password: 'password', privilege: 4 }];
const SILENCE: IpmiErrorCode[] = ['IPMI_ERR_TIMEOUT', 'IPMI_ERR_UNREACHABLE'];

interface Case {
  seed: number;
  suite: number | 'auto';
  credentials: 'right' | 'wrong-password';
  loss: number;
  duplication: number;
  jitterMs: number;
  retries: number;
  timeoutMs: number;
  /** A duplicated RAKP 1: the BMC repeats its RAKP 2, or answers with a new random (the fake BMC does). */
  rakp1Repeats: 'same-answer' | 'fresh-answer';
}

const cases: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  suite: fc.constantFrom<number | 'auto'>('auto', ...SUPPORTED_CIPHER_SUITE_IDS),
  credentials: fc.constantFrom<Case['credentials']>('right', 'right', 'right', 'wrong-password'),
  loss: fc.double({ min: 0, max: 0.5, noNaN: true }),
  duplication: fc.double({ min: 0, max: 0.3, noNaN: true }),
  jitterMs: fc.integer({ min: 0, max: 1500 }),
  retries: fc.integer({ min: 0, max: 4 }),
  timeoutMs: fc.constantFrom(100, 250, 1000),
  rakp1Repeats: fc.constantFrom<Case['rakp1Repeats']>('same-answer', 'fresh-answer'),
});

/** Loss, duplication and reordering (each copy gets its own random delay) from one seeded stream. */
function lossyLink(c: Case): Faults {
  const bytes = seededRandom(c.seed ^ 0x5bd1e995);
  const uniform = () => bytes(4).readUInt32LE(0) / 0x100000000;
  return {
    deliveries: () => {
      if (uniform() < c.loss) return [];
      const copies = uniform() < c.duplication ? 2 : 1;
      return Array.from({ length: copies }, () => Math.floor(uniform() * c.jitterMs));
    },
  };
}

function handshake(c: Case): Sim {
  const bmc = new MemoryBmc({ users, random: seededRandom(c.seed ^ 0x27d4eb2f), freshRakp2OnRepeat: c.rakp1Repeats === 'fresh-answer' });
  const sim = new Sim({
    session: { cipherSuite: c.suite, password: c.credentials === 'right' ? 'password' : 'wrong', retries: c.retries, timeoutMs: c.timeoutMs },
    bmc,
    faults: lossyLink(c),
    random: seededRandom(c.seed),
  });
  return sim.open(20_000);
}

describe('session/handshake under loss, duplication and reordering (fast-check)', function () {
  this.timeout(120_000);

  it('10 000 handshakes: each opens or ends with a coded error; never hangs, never throws', () => {
    const outcomes = { opened: 0, failed: 0 };
    fc.assert(
      fc.property(cases, (c) => {
        const sim = handshake(c);
        if (sim.opened && !sim.closed) {
          // cipher suite 0 authenticates nothing (RAKP-none): any password opens it
          if (c.credentials !== 'right') expect(sim.machine.suite?.id).to.equal(0);
          expect(sim.machine.state).to.equal('active');
          outcomes.opened++;
          return;
        }
        const err = sim.closeReason;
        expect(err).to.be.instanceOf(IpmiError);
        expect(sim.machine.state).to.equal('closed');
        expect(sim.machine.nextDeadline(), 'nothing pending once closed').to.equal(undefined);
        if (c.credentials === 'right') {
          expect(SILENCE.includes(err!.code) || err!.inferred, `${err!.code} (${err!.message}) under loss alone`).to.equal(true);
        } else {
          expect([...SILENCE, 'IPMI_ERR_AUTH'].includes(err!.code) || err!.inferred, `${err!.code} (${err!.message})`).to.equal(true);
        }
        outcomes.failed++;
      }),
      { numRuns: runs(10_000) },
    );
    // The loss model is not so harsh that nothing opens, nor so mild that nothing fails.
    expect(outcomes.opened).to.be.greaterThan(outcomes.failed / 10);
    expect(outcomes.failed).to.be.greaterThan(0);
  });

  it('with no faults, every suite opens at the first try', () => {
    for (const suite of SUPPORTED_CIPHER_SUITE_IDS) {
      const sim = handshake({ seed: suite + 1, suite, credentials: 'right', loss: 0, duplication: 0, jitterMs: 0, retries: 0, timeoutMs: 100, rakp1Repeats: 'same-answer' });
      expect(sim.machine.state, `suite ${suite}`).to.equal('active');
      expect(sim.machine.stats.retransmits + sim.machine.stats.handshakeRestarts).to.equal(0);
    }
  });
});
