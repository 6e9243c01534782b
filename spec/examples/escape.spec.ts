import { expect } from 'chai';
import { EscapeParser, type EscapeAction } from '../../examples/escape.js';

function run(input: string | string[], escape = '~'): EscapeAction[] {
  const p = new EscapeParser(escape);
  const chunks = Array.isArray(input) ? input : [input];
  return chunks.flatMap((c) => p.push(Buffer.from(c)));
}

const data = (s: string): EscapeAction => ({ kind: 'data', bytes: Buffer.from(s) });
const joinData = (actions: EscapeAction[]) => Buffer.concat(actions.flatMap((a) => (a.kind === 'data' ? [a.bytes] : []))).toString();

describe('examples/escape (ipmitool SOL escapes)', () => {
  it('recognises ~. ~B ~? only at the start of a line', () => {
    expect(run('~.')).to.deep.equal([{ kind: 'quit' }]);
    expect(run('ls\r~B')).to.deep.equal([data('ls\r'), { kind: 'break' }]);
    expect(run('ls\n~?')).to.deep.equal([data('ls\n'), { kind: 'help' }]);
    expect(joinData(run('a~.b'))).to.equal('a~.b');
  });

  it('~~ sends one ~, ~x sends both', () => {
    expect(joinData(run('~~'))).to.equal('~');
    expect(joinData(run('~x'))).to.equal('~x');
  });

  it('stops at ~. and drops what follows in that chunk', () => {
    expect(run('\r~.rest')).to.deep.equal([data('\r'), { kind: 'quit' }]);
  });

  it('works across chunk boundaries, byte by byte', () => {
    const bytes = 'echo hi\r~Bnext\r~~\r~.'.split('');
    const actions = run(bytes);
    expect(actions.filter((a) => a.kind === 'break')).to.have.length(1);
    expect(actions.at(-1)).to.deep.equal({ kind: 'quit' });
    expect(joinData(actions)).to.equal('echo hi\rnext\r~\r');
  });

  it('takes another escape character', () => {
    expect(run('&.', '&')).to.deep.equal([{ kind: 'quit' }]);
    expect(joinData(run('~.', '&'))).to.equal('~.');
    expect(() => new EscapeParser('ab')).to.throw();
  });
});
