import { expect } from 'chai';
import { parseKgHex, resolveSessionOptions, type IpmiSessionOptions } from '../../lib/session/options.js';
import { IpmiError } from '../../lib/errors.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';

const good: IpmiSessionOptions = { host: '127.0.0.1', username: 'admin', password: 'password' };

function rejects(o: Partial<IpmiSessionOptions> & Record<string, unknown>, pattern: RegExp) {
  try {
    resolveSessionOptions({ ...good, ...o } as IpmiSessionOptions);
    expect.fail('accepted');
  } catch (err) {
    expect(err).to.be.instanceOf(IpmiError);
    expect((err as IpmiError).code).to.equal('IPMI_ERR_BAD_ARGUMENT');
    expect((err as Error).message).to.match(pattern);
  }
}

describe('session/options', () => {
  it('fills in defaults', () => {
    const r = resolveSessionOptions(good);
    expect(r).to.include({ port: 623, cipherSuite: 'auto', privilege: 4, timeoutMs: 1000, retries: 3, keepaliveMs: 10_000, nameOnlyLookup: true });
  });

  it('gives one clear error for each bad value', () => {
    rejects({ host: '' }, /host is required/);
    rejects({ port: 70000 }, /not a UDP port/);
    rejects({ username: 'u'.repeat(17) }, /at most 16/);
    rejects({ password: undefined }, /password is required/);
    rejects({ password: 'p'.repeat(21) }, /20 bytes/);
    rejects({ cipherSuite: 4 }, /cipher suite 4 is not supported/);
    rejects({ privilege: 'root' as never }, /not one of/);
    rejects({ kg: Buffer.alloc(21) }, /K_g/);
    rejects({ timeoutMs: 0 }, /above 0/);
    rejects({ retries: -1 }, /retries/);
  });

  it('parses K_g hex as ipmitool -y does', () => {
    expect(parseKgHex('0x0102ff')).to.deep.equal(Buffer.from([1, 2, 0xff]));
    expect(() => parseKgHex('xyz')).to.throw(/hex/);
    expect(() => parseKgHex('00'.repeat(21))).to.throw(/at most 20/);
  });

  it('IpmiSession.open rejects bad options before touching the network', async () => {
    const t0 = Date.now();
    try {
      await IpmiSession.open({ ...good, cipherSuite: 99 });
      expect.fail('opened');
    } catch (err) {
      expect((err as IpmiError).code).to.equal('IPMI_ERR_BAD_ARGUMENT');
    }
    expect(Date.now() - t0).to.be.lessThan(500);
  });

  it('an aborted signal stops open at once', async () => {
    try {
      await IpmiSession.open({ ...good, signal: AbortSignal.abort() });
      expect.fail('opened');
    } catch (err) {
      expect((err as IpmiError).code).to.equal('IPMI_ERR_ABORTED');
    }
  });
});
