/** Counters of the SOL protocol, kept by SolEngine (SolStream.stats is a copy). */
export interface SolStats {
  packetsSent: number; // every SOL payload we sent, retransmissions and ACK-only packets included
  packetsReceived: number; // well-formed SOL payloads from the BMC
  retransmits: number; // identical resends of an unacknowledged packet
  duplicatesDropped: number; // BMC packets with the sequence number we had already accepted
  nacksSent: number;
  nacksReceived: number; // BMC packets with the NACK bit
  bytesIn: number; // characters delivered to the consumer
  bytesOut: number; // characters the BMC acknowledged
  breaksSent: number;
  breaksReceived: number; // status bit 0x04, break detected on the serial line
  overruns: number; // status bit 0x08, the BMC lost characters from the serial port
  malformed: number; // SOL payloads we could not use (too short, >255 characters, data on sequence 0)
  unexpectedAcks: number; // ACKs for a sequence number that is not outstanding (ignored)
  heldDropped: number; // characters of held packets dropped because SOL_MAX_HELD_PACKETS were held
  pausedAcks: number; // 'ack-zero' partial ACKs sent while the consumer had no room
  sequenceBumps?: number; // workarounds.bumpSequenceAfterSends: data packets renumbered
  serialKeepalives?: number; // workarounds.serialKeepalive: keepalive packets sent
}

export function newSolStats(): SolStats {
  return {
    packetsSent: 0,
    packetsReceived: 0,
    retransmits: 0,
    duplicatesDropped: 0,
    nacksSent: 0,
    nacksReceived: 0,
    bytesIn: 0,
    bytesOut: 0,
    breaksSent: 0,
    breaksReceived: 0,
    overruns: 0,
    malformed: 0,
    unexpectedAcks: 0,
    heldDropped: 0,
    pausedAcks: 0,
  };
}
