/**
 * Our SOL packet sequence numbers (IPMI 2.0 section 15.9, table 15-2 byte 1: 1..15, wrapping to 1; 0 is an
 * ACK-only packet), chosen so that a new packet is never taken for a retransmission.
 *
 * A BMC tells a retransmission from a new packet only by its sequence number: one equal to the last it
 * recorded is a resend, re-ACKed with the old count and its characters dropped (OpenIPMI lanserv/sol.c
 * `seq == last_acked_packet`; our fake BMC alike). Which answered packet a BMC records differs:
 * - ipmi_sim records every packet with characters, also one it NACKs with a count of 0 (buffer full);
 * - a BMC may record only what it accepted, and NACK a packet without recording it.
 * After a packet is NACKed we send its characters again under the next number (section 15.9: a same-numbered
 * resend would be a duplicate to ipmi_sim). On a BMC of the second kind, a run of 14 NACKs walks our numbers
 * all the way round to the one it still holds as the last accepted: that new packet would be re-ACKed with
 * the old count and its characters lost while we count them as delivered (seen: 2 x 255 bytes in 1 MB through
 * a lossy link). So the next number skips the sequence numbers such a BMC may still hold: the last packet
 * answered without the NACK bit and the last NACKed since then. BMCs that expect strictly consecutive
 * numbers (OpenBMC) never NACK long enough for a skip to happen.
 */
import { nextSolSequence } from '../codec/sol-payload.js';

export class SolTxSequence {
  #last: number;
  #lastAcked = 0; // last of our packets answered without the NACK bit (0: none)
  #lastNacked = 0; // last of our packets NACKed since then (0: none)

  /** `last`: the sequence number used last (the next one follows it). */
  constructor(last: number) {
    this.#last = last;
  }

  /** The sequence number of our last packet. */
  get current(): number {
    return this.#last;
  }

  /** The number for a new packet: the next one that the BMC cannot hold as its last recorded packet. */
  next(): number {
    let seq = nextSolSequence(this.#last);
    while (seq === this.#lastAcked || seq === this.#lastNacked) seq = nextSolSequence(seq);
    this.#last = seq;
    return seq;
  }

  /** The BMC answered our packet `seq` (with or without the NACK bit). */
  answered(seq: number, nack: boolean): void {
    if (nack) {
      this.#lastNacked = seq;
    } else {
      this.#lastAcked = seq;
      this.#lastNacked = 0;
    }
  }
}
