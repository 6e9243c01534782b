import { expect } from 'chai';
import { RMCP_PORT, SolPortProbe, chooseSolPorts } from '../../lib/sol/sol-port.js';

describe('sol-port: where SOL payloads go', () => {
  it('chooseSolPorts: the session port first, a plausible reported port as the one alternate', () => {
    expect(chooseSolPorts(1623, 623)).to.deep.equal({ port: 623, alternate: 1623 });
    expect(chooseSolPorts(0, 623)).to.deep.equal({ port: 623 });
    expect(chooseSolPorts(623, 623)).to.deep.equal({ port: 623 });
    expect(chooseSolPorts(0x6f02, 623)).to.deep.equal({ port: 623 }); // 623 byte-swapped (Supermicro X8DTH)
    expect(chooseSolPorts(0x6f02, 40623)).to.deep.equal({ port: 40623 }); // RMCP_PORT byte-swapped
    expect(RMCP_PORT).to.equal(623);
  });

  it('SolPortProbe: unanswered on the first port, probe the alternate once; unanswered there too, come back for good', () => {
    const probe = new SolPortProbe({ port: 623, alternate: 1623 });
    expect(probe.port).to.equal(623);
    expect(probe.primeUnanswered()).to.equal(true);
    expect(probe.port).to.equal(1623);
    expect(probe.primeUnanswered()).to.equal(false);
    expect(probe.port).to.equal(623);
    expect(probe.primeUnanswered()).to.equal(false);
    expect(probe.port).to.equal(623);
  });

  it('SolPortProbe with no alternate never moves', () => {
    const probe = new SolPortProbe({ port: 40623 });
    expect(probe.primeUnanswered()).to.equal(false);
    expect(probe.port).to.equal(40623);
  });
});
