/**
 * ipmitool's SOL escape sequences, as a pure parser: the escape character (default '~') is recognised only as
 * the first character after a newline (or at the start):
 *   ~.  terminate the connection (and deactivate SOL)
 *   ~B  send a break
 *   ~?  print the list of escapes
 *   ~~  send one escape character
 * Any other character after the escape character is sent along with it.
 */
export type EscapeAction = { kind: 'data'; bytes: Buffer } | { kind: 'quit' } | { kind: 'break' } | { kind: 'help' };

export const ESCAPE_HELP = (c: string) =>
  `\r\nSupported escape sequences:\r\n` +
  `\t${c}.  terminate connection (and deactivate SOL)\r\n` +
  `\t${c}B  send break\r\n` +
  `\t${c}?  this message\r\n` +
  `\t${c}${c}  send the escape character by typing it twice\r\n` +
  `\t(Note that escapes are only recognized immediately after newline.)\r\n`;

export class EscapeParser {
  private atLineStart = true;
  private pending = false;
  private readonly escape: number;

  constructor(escapeChar = '~') {
    if (Buffer.byteLength(escapeChar) !== 1) throw new RangeError('the escape character must be one byte');
    this.escape = escapeChar.charCodeAt(0);
  }

  /** Feed keyboard bytes; returns what to do, in order (runs of plain bytes come out as one data action). */
  push(input: Buffer): EscapeAction[] {
    const actions: EscapeAction[] = [];
    let runStart = 0;
    const flush = (end: number) => {
      if (end > runStart) actions.push({ kind: 'data', bytes: input.subarray(runStart, end) });
    };
    for (let i = 0; i < input.length; i++) {
      const b = input[i]!;
      if (this.pending) {
        this.pending = false;
        runStart = i + 1;
        if (b === 0x2e /* . */) {
          actions.push({ kind: 'quit' });
          return actions;
        } else if (b === 0x42 /* B */) {
          actions.push({ kind: 'break' });
        } else if (b === 0x3f /* ? */) {
          actions.push({ kind: 'help' });
        } else if (b === this.escape) {
          actions.push({ kind: 'data', bytes: Buffer.from([b]) });
        } else {
          actions.push({ kind: 'data', bytes: Buffer.from([this.escape, b]) });
        }
        this.atLineStart = b === 0x0d || b === 0x0a;
        continue;
      }
      if (this.atLineStart && b === this.escape) {
        flush(i);
        this.pending = true;
        runStart = i + 1;
        continue;
      }
      this.atLineStart = b === 0x0d || b === 0x0a;
    }
    flush(input.length);
    return actions;
  }
}
