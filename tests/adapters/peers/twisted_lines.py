"""A line server built on Twisted's LineReceiver: a peer that is not ours.

Prints its port on the first line of stdout, then serves until killed:

- ``GET n``: answers ``VALUE n``, then n raw bytes, CRLF, ``END``
  (memcached's shape).
- ``PUT n``: switches to raw mode for n bytes, then answers ``STORED n <sum>``,
  where sum is the sum of the bytes modulo 65521.
- ``LONG n``: answers one line of n bytes.
- ``QUIT``: closes the connection after answering ``BYE``.
- anything else: answers ``ECHO <line>``.
"""

import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineReceiver


class Peer(LineReceiver):
    MAX_LENGTH = 1 << 24

    def connectionMade(self):
        self.expected = 0
        self.block = bytearray()

    def lineReceived(self, line):
        command, _, arg = line.partition(b" ")
        if command == b"GET":
            n = int(arg)
            self.transport.write(
                b"VALUE %d\r\n%b\r\nEND\r\n" % (n, bytes(i % 256 for i in range(n)))
            )
        elif command == b"PUT":
            self.expected = int(arg)
            self.block = bytearray()
            self.setRawMode()
        elif command == b"LONG":
            self.sendLine(b"x" * int(arg))
        elif command == b"QUIT":
            self.sendLine(b"BYE")
            self.transport.loseConnection()
        else:
            self.sendLine(b"ECHO " + line)

    def rawDataReceived(self, data):
        need = self.expected - len(self.block)
        self.block += data[:need]
        if len(self.block) == self.expected:
            self.sendLine(b"STORED %d %d" % (self.expected, sum(self.block) % 65521))
            self.setLineMode(data[need:])


factory = protocol.Factory.forProtocol(Peer)
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
print(port.getHost().port, flush=True)
sys.stdout.close()
reactor.run()
