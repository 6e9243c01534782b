import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, requireConnection } from '../../examples/cli-args.js';

describe('examples/cli-args (ipmitool-style flags)', () => {
  it('parses the connection flags', () => {
    const a = parseArgs(['info', '-H', 'bmc1', '-p', '6230', '-U', 'admin', '-P', 'pw', '-C', '17', '-L', 'OPERATOR', '-y', '0x0a0b', '-N', '2', '-R', '1']);
    expect(a.command).to.equal('info');
    expect(a.session).to.deep.include({ host: 'bmc1', port: 6230, username: 'admin', password: 'pw', cipherSuite: 17, privilege: 'operator', timeoutMs: 2000, retries: 1 });
    expect(a.session.kg).to.deep.equal(Buffer.from([0x0a, 0x0b]));
  });

  it('reads the password from IPMI_PASSWORD (-E) or the first line of a file (-f)', () => {
    expect(parseArgs(['info', '-H', 'h', '-U', 'u', '-E'], { IPMI_PASSWORD: 'secret' }).session.password).to.equal('secret');
    const dir = mkdtempSync(join(tmpdir(), 'isb-'));
    writeFileSync(join(dir, 'pw'), 'filepw\nignored\n');
    expect(parseArgs(['info', '-H', 'h', '-U', 'u', '-f', join(dir, 'pw')]).session.password).to.equal('filepw');
  });

  it('reads K_g from IPMI_KGKEY with -K, as ipmitool does', () => {
    expect(parseArgs(['info', '-K'], { IPMI_KGKEY: 'bmc-key' }).session.kg).to.deep.equal(Buffer.from('bmc-key'));
    expect(() => parseArgs(['info', '-K'], {})).to.throw(/IPMI_KGKEY/);
    expect(() => parseArgs(['info', '-K', '-y', '0x01'], { IPMI_KGKEY: 'x' })).to.throw(/one way only/);
  });

  it('refuses ambiguous or missing input with one clear sentence', () => {
    expect(() => parseArgs(['info', '-P', 'a', '-E'], { IPMI_PASSWORD: 'b' })).to.throw(/one way only/);
    expect(() => parseArgs(['info', '-E'], {})).to.throw(/IPMI_PASSWORD/);
    expect(() => parseArgs(['info', '-f', '/nonexistent/pw'])).to.throw(/cannot read/);
    expect(() => parseArgs(['info', '-C', '5'])).to.throw(/cipher suite 5/);
    expect(() => parseArgs(['info', '-p', 'x'])).to.throw(/port/);
    expect(() => parseArgs(['info', '--bogus'])).to.throw(/unknown option/);
    expect(() => parseArgs(['info', '-H'])).to.throw(/needs a value/);
    expect(() => requireConnection(parseArgs(['info', '-U', 'u', '-P', 'p']))).to.throw(/-H HOST/);
    expect(() => requireConnection(parseArgs(['info', '-H', 'h', '-U', 'u']))).to.throw(/password is required/);
  });

  it('never echoes the password in an error', () => {
    try {
      parseArgs(['info', '-P', 'hunter2', '-E'], { IPMI_PASSWORD: 'x' });
    } catch (err) {
      expect((err as Error).message).to.not.contain('hunter2');
    }
  });
});
